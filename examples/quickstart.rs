//! The smallest complete use of muon-wgpu, top to bottom:
//! GPU context → optimizer with a preset → parameters → gradients → steps → readback.
//!
//! Run: `cargo run --release --example quickstart`

use muon_wgpu::{BackendChoice, GpuContext, OptimizerBuilder, Overrides, Preset, Result};

fn main() -> Result<()> {
    // 1. The best adapter of any backend (MUON_WGPU_BACKEND=vulkan|gl|metal|dx12 narrows it).
    let ctx = pollster::block_on(GpuContext::new(BackendChoice::Env))?;
    println!("adapter: {}", ctx.describe());

    // 2. PyTorch semantics (torch.optim.Muon + torch.optim.AdamW) with a larger learning rate.
    let settings = Preset::Torch.settings(&Overrides {
        lr: Some(0.2),
        ..Default::default()
    })?;

    // 3. Parameters: rank-2 weights go to Muon, the bias to AdamW (the preset's routing rule).
    let (rows, cols) = (64, 32);
    let target: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 7919 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let mut builder = OptimizerBuilder::new(&ctx, settings)?;
    builder.add_host("layer.weight", &[rows, cols], &vec![0.0; rows * cols])?;
    builder.add_host("layer.bias", &[rows], &vec![0.0; rows])?;
    let mut opt = builder.build()?;
    let stats = opt.stats();
    println!(
        "{} Muon and {} AdamW parameters, {} dispatches per step",
        stats.muon_params, stats.adam_params, stats.dispatches
    );

    // 4. Minimize ½‖W - target‖²: the gradient is W - target, computed here on the host for brevity
    //    (a real model writes gradients straight into `opt.param(name)?.grad` on the GPU).
    for step in 1..=20 {
        let w = pollster::block_on(opt.read_parameter("layer.weight"))?;
        let grad: Vec<f32> = w.iter().zip(&target).map(|(w, t)| w - t).collect();
        let loss: f32 = grad.iter().map(|g| 0.5 * g * g).sum();
        if step % 5 == 1 {
            println!("step {step:2}: loss {loss:.3}");
        }
        opt.write_gradient("layer.weight", &grad)?;
        opt.write_gradient("layer.bias", &vec![0.0; rows])?;
        opt.step()?; // one submit; no readback inside the step
    }
    Ok(())
}
