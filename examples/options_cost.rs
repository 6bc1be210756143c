//! What the Keras base optimizer's options cost per step, all in one run: the `nano` shape set
//! (plus a bias per matrix, for AdamW) stepped with each option alone and with none.
//!
//! ```sh
//! cargo run --release --example options_cost -- [STEPS] [MODEL]   # e.g. 8 nano; --help
//! ```
//! Prints the minimum, median and mean time of a call to `step` (one submit and a wait) of each
//! configuration, stepped in turns (under accumulation, calls alternate between accumulating and
//! updating), and the dispatches of an update step.

use std::time::Instant;

use clap::Parser;
use muon_wgpu::{
    BackendChoice, Clip, Ema, GpuContext, LrSchedule, OptimizerBuilder, Overrides, Preset,
    Settings, StepOptions,
};

#[derive(Parser, Debug)]
#[command(about = "Time a step with each Keras base-optimizer option alone, and with none")]
struct Args {
    /// Timed calls of `step` per configuration.
    #[arg(default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    steps: u64,
    /// The shape set (as `muon-wgpu bench --model`).
    #[arg(default_value = "nano", value_parser = clap::builder::PossibleValuesParser::new(muon_wgpu::bench::MODELS))]
    model: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> muon_wgpu::Result<()> {
    let Args { steps, model } = Args::parse();
    let shapes = muon_wgpu::bench::model_shapes(&model).expect("a named shape set");
    let ctx = pollster::block_on(GpuContext::new(BackendChoice::Env))?;
    println!("{} steps of `{model}` on {}", steps, ctx.describe());
    let ema = Ema {
        momentum: 0.99,
        overwrite_frequency: None,
    };
    let configs: Vec<(&str, StepOptions)> = vec![
        ("none", StepOptions::default()),
        (
            "loss_scale_factor",
            StepOptions {
                loss_scale_factor: Some(128.0),
                ..Default::default()
            },
        ),
        (
            "clipvalue",
            StepOptions {
                clip: Some(Clip::Value(0.5)),
                ..Default::default()
            },
        ),
        (
            "clipnorm",
            StepOptions {
                clip: Some(Clip::Norm(1.0)),
                ..Default::default()
            },
        ),
        (
            "global_clipnorm",
            StepOptions {
                clip: Some(Clip::GlobalNorm(1.0)),
                ..Default::default()
            },
        ),
        (
            "use_ema",
            StepOptions {
                ema: Some(ema),
                ..Default::default()
            },
        ),
        (
            "lr_schedule (cosine)",
            StepOptions {
                schedule: Some(LrSchedule::parse("cosine:decay_steps=100,warmup_steps=10")?),
                ..Default::default()
            },
        ),
        (
            "gradient_accumulation_steps 2 (mean of both calls)",
            StepOptions {
                accumulation_steps: Some(2),
                ..Default::default()
            },
        ),
    ];
    // Every configuration built first, then stepped in turns (one call each per round), so that
    // a shared machine's changing load falls on all of them alike; the minimum is the least
    // disturbed call.
    let mut runs = Vec::new();
    for (label, options) in configs {
        let settings = Settings {
            keras: options,
            ..Preset::Torch.settings(&Overrides::default())?
        };
        let mut b = OptimizerBuilder::new(&ctx, settings)?;
        for (i, shape) in shapes.iter().enumerate() {
            let len: usize = shape.iter().product();
            b.add_host(&format!("w{i}"), shape, &vec![0.01; len])?;
            b.add_host(&format!("b{i}"), &shape[..1], &vec![0.0; shape[0]])?;
        }
        let mut opt = b.build()?;
        // Every call steps on the same gradients, on purpose.
        opt.allow_stale_gradients(true);
        for (i, shape) in shapes.iter().enumerate() {
            let len: usize = shape.iter().product();
            let g: Vec<f32> = (0..len)
                .map(|j| ((j * 7 + i) % 13) as f32 * 0.1 - 0.6)
                .collect();
            opt.write_gradient(&format!("w{i}"), &g)?;
            opt.write_gradient(&format!("b{i}"), &g[..shape[0]])?;
        }
        opt.step()?;
        ctx.wait_idle();
        runs.push((label, opt, Vec::new()));
    }
    for _ in 0..steps {
        for (_, opt, times) in &mut runs {
            let t = Instant::now();
            opt.step()?;
            ctx.wait_idle();
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    println!("| option | call (min) | call (median) | call (mean) | dispatches per update |");
    println!("|---|---|---|---|---|");
    for (label, opt, times) in runs {
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        let min = times.iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "| {label} | {min:.1} ms | {:.1} ms | {mean:.1} ms | {} |",
            median(times),
            opt.stats().dispatches
        );
    }
    Ok(())
}
