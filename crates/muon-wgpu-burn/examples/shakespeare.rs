//! A small `burn::nn` transformer on the project's Shakespeare corpus, trained twice from the
//! same initialization on the same batches: once with burn's own `Muon` (+ `AdamW` on a
//! `ParamGroup`), once with muon-wgpu's Muon under the `burn` preset. Prints a table of the
//! final loss, the optimizer's ms per step and the whole training step's ms per step.
//!
//! ```text
//! cargo run --release -p muon-wgpu-burn --example shakespeare -- [--steps 30] [--warmup 3]
//!     [--d-model 64] [--layers 2] [--heads 4] [--batch 8] [--positions 32] [--lr 0.02] [--json]
//!     [--gram]
//! ```
//!
//! `--gram` lets muon-wgpu run the Gram form of Newton-Schulz on matrices at least twice as
//! wide as tall (faster, rounded differently from burn's own products; off by default).
//!
//! Timing: before and after the optimizer step the example waits for the device (burn's
//! `Device::sync`, then the queue); `optimizer_ms` is the step between those two waits,
//! `step_ms` the forward, backward and step together, each the median over the timed steps.
//! The first `--warmup` steps (shader compilation) are not timed. `--json` adds a last line
//! `{"adapter", "runs": [{"optimizer", "loss", "optimizer_ms", "step_ms"}, ...]}`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer, MuonConfig};
use burn::tensor::{Int, Tensor, TensorData};
use common::{Block, burn_reference, gpu};
use muon_wgpu_burn::{MuonWgpu, MuonWgpuConfig};

struct Args {
    steps: usize,
    warmup: usize,
    d_model: usize,
    layers: usize,
    heads: usize,
    batch: usize,
    positions: usize,
    lr: f64,
    json: bool,
    gram: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        steps: 30,
        warmup: 3,
        d_model: 64,
        layers: 2,
        heads: 4,
        batch: 8,
        positions: 32,
        lr: 0.02,
        json: false,
        gram: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--json" || flag == "--gram" {
            a.json |= flag == "--json";
            a.gram |= flag == "--gram";
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        let count = |v: &str| v.parse::<usize>().map_err(|e| bad(&e));
        match flag.as_str() {
            "--steps" => a.steps = count(&value)?,
            "--warmup" => a.warmup = count(&value)?,
            "--d-model" => a.d_model = count(&value)?,
            "--layers" => a.layers = count(&value)?,
            "--heads" => a.heads = count(&value)?,
            "--batch" => a.batch = count(&value)?,
            "--positions" => a.positions = count(&value)?,
            "--lr" => a.lr = value.parse().map_err(|e| bad(&e))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if a.steps <= a.warmup || !a.d_model.is_multiple_of(a.heads.max(1)) {
        return Err("need --steps > --warmup and --d-model divisible by --heads".into());
    }
    Ok(a)
}

/// The same windows of the corpus for both runs (a fixed linear congruential walk).
fn batch(tokens: &[u32], step: usize, a: &Args) -> Tensor<2, Int> {
    let width = a.positions + 1;
    let mut ids = Vec::with_capacity(a.batch * width);
    for s in 0..a.batch {
        let start = (step * 7919 + s * 104_729) * 2_654_435_761 % (tokens.len() - width);
        ids.extend(tokens[start..start + width].iter().map(|&t| t as i32));
    }
    let device = gpu().device.clone().autodiff();
    Tensor::from_data(TensorData::new(ids, [a.batch, width]), &device)
}

enum Which {
    Burn(ModuleOptimizer),
    Ours(Box<MuonWgpu>),
}

struct Run {
    name: &'static str,
    loss: f64,
    optimizer_ms: f64,
    step_ms: f64,
}

fn wait() {
    let _ = gpu().device.sync();
    gpu().context.wait_idle();
}

fn train(
    name: &'static str,
    mut model: Block,
    mut optim: Which,
    tokens: &[u32],
    a: &Args,
) -> Result<Run, Box<dyn std::error::Error>> {
    let (mut optimizer_ms, mut step_ms, mut losses) = (Vec::new(), Vec::new(), Vec::new());
    for step in 0..a.steps {
        wait();
        let started = Instant::now();
        let loss = model.loss(batch(tokens, step, a));
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        wait();
        let optimizing = Instant::now();
        model = match &mut optim {
            Which::Burn(o) => o.step(a.lr, model, grads),
            Which::Ours(o) => o.step(a.lr, model, grads)?,
        };
        wait();
        if let (Which::Ours(o), true) = (&optim, std::env::var("MUON_WGPU_BURN_TIMING").is_ok()) {
            eprintln!("{:?}", o.last_timing());
        }
        if step >= a.warmup {
            optimizer_ms.push(optimizing.elapsed().as_secs_f64() * 1e3);
            step_ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
        let value: f32 = loss.into_scalar();
        losses.push(f64::from(value));
    }
    let tail = losses.len().min(5);
    Ok(Run {
        name,
        loss: losses[losses.len() - tail..].iter().sum::<f64>() / tail as f64,
        optimizer_ms: median(optimizer_ms),
        step_ms: median(step_ms),
    })
}

/// The median: steady against the other processes of a shared machine.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = parse()?;
    let corpus = muon_wgpu::nn::text::shakespeare()?;
    let device = gpu().device.clone().autodiff();
    let mut model = Block::new(corpus.vocab.len(), a.d_model, a.heads, &device);
    if a.layers != 1 {
        model.encoder = burn::nn::transformer::TransformerEncoderConfig::new(
            a.d_model,
            4 * a.d_model,
            a.heads,
            a.layers,
        )
        .init(&device);
    }
    let (muon, adamw) = (MuonConfig::new(), AdamWConfig::new());
    let ours =
        (MuonWgpuConfig::from_burn(&muon, &adamw)?.with_gram_form(a.gram)).init(&model, gpu())?;
    let theirs = burn_reference(&ours, &muon, &adamw);
    let params: usize = model.num_params();
    println!(
        "{} | {params} parameters, {} layers, d_model {}, {} steps ({} untimed)",
        gpu().describe(),
        a.layers,
        a.d_model,
        a.steps,
        a.warmup
    );
    let runs = [
        train(
            "burn-muon",
            model.clone(),
            Which::Burn(theirs),
            corpus.train(),
            &a,
        )?,
        train(
            "muon-wgpu",
            model,
            Which::Ours(Box::new(ours)),
            corpus.train(),
            &a,
        )?,
    ];
    println!("| optimizer | loss (last 5) | optimizer ms/step (median) | step ms/step (median) |");
    println!("|---|---|---|---|");
    for r in &runs {
        println!(
            "| {} | {:.4} | {:.2} | {:.2} |",
            r.name, r.loss, r.optimizer_ms, r.step_ms
        );
    }
    println!(
        "muon-wgpu's optimizer step is {:.1}x faster than burn's Muon",
        runs[0].optimizer_ms / runs[1].optimizer_ms
    );
    if a.json {
        let runs: Vec<_> = (runs.iter())
            .map(|r| {
                serde_json::json!({
                    "optimizer": r.name, "loss": r.loss,
                    "optimizer_ms": r.optimizer_ms, "step_ms": r.step_ms,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "adapter": gpu().describe(), "runs": runs })
        );
    }
    Ok(())
}
