//! The default GPT's launches per training step, and the workgroups of each model product: every
//! product launches at least `MIN_WORKGROUPS` workgroups, so that a GPU's compute units all get
//! work. Prints the table the docs quote (`cargo test --test gpt_launches -- --nocapture`).

mod common;

use common::*;
use muon_wgpu::nn::gpt::{self, GptSpec, GptTrainer, GptTrainerOptions};
use muon_wgpu::nn::matmul::MIN_WORKGROUPS;
use muon_wgpu::nn::text;
use muon_wgpu::{Overrides, Preset};

#[test]
fn every_product_of_the_default_gpt_launches_enough_workgroups() {
    let corpus = text::shakespeare().unwrap();
    // `--example gpt`'s defaults: 2 blocks of width 64, 4 heads, context 64, batch 8.
    let spec = GptSpec {
        vocab: corpus.vocab.len(),
        context: 64,
        width: 64,
        heads: 4,
        layers: 2,
    };
    let settings = Preset::Torch.settings(&Overrides::default()).unwrap();
    let options = GptTrainerOptions {
        batch_size: 8,
        eval_batch_size: 8,
        history: 4,
    };
    for adapter in adapters() {
        let ctx = &adapter.ctx;
        let name = format!("{} ({:?})", ctx.info.name, ctx.info.backend);
        let params = gpt::init_params(&spec, 0);
        let trainer = GptTrainer::new(
            ctx,
            spec,
            &params,
            settings.clone(),
            gpt::muon_for_blocks,
            options,
        )
        .unwrap();
        let ops = trainer.train_plan().ops();
        let optimizer = trainer.optimizer().stats().dispatches;
        eprintln!(
            "{name}: {} model launches + {optimizer} optimizer launches per Muon + AdamW step",
            ops.len()
        );
        let mut products = Vec::new();
        for op in ops {
            let [x, y, z] = op.workgroups();
            let groups = x * y * z;
            if op.label == "nn_matmul" || op.label == "matmul" {
                products.push(groups);
                assert!(
                    groups >= MIN_WORKGROUPS,
                    "{name}: a product launches {groups} workgroups ({x} x {y} x {z})"
                );
            }
        }
        eprintln!("{name}: workgroups per product launch, in order: {products:?}");
        assert_eq!(products.len(), 27, "{name}: 27 products per step");
    }
}
