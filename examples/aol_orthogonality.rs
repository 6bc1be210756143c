//! How orthogonal the Newton-Schulz output is with optax's AOL preconditioning and one
//! iteration fewer, against five plain (Frobenius) iterations, on `nano`'s shapes: the step
//! runs on the GPU with lr 1 and no decay from zero weights, so `-W` is the output `O`, and
//! the error is `‖O·Oᵀ − I‖_F / sqrt(m)` on the wide view (`m = min(rows, cols)`).
//!
//! `cargo run --release --example aol_orthogonality`

use muon_wgpu::bench::random::uniform_odd;
use muon_wgpu::{AdjustLr, GpuContext, OptimizerBuilder, Overrides, Preconditioning, Preset};
use muon_wgpu::{Route, Source};

fn orthogonality_error(o: &[f32], rows: usize, cols: usize) -> f64 {
    // O·Oᵀ on the wide view: rows of the wide matrix are O's rows (wide) or columns (tall).
    let (m, n) = (rows.min(cols), rows.max(cols));
    let at = |i: usize, k: usize| -> f64 {
        if rows <= cols {
            o[i * cols + k] as f64
        } else {
            o[k * cols + i] as f64
        }
    };
    let mut sum = 0.0;
    for i in 0..m {
        for j in 0..m {
            let dot: f64 = (0..n).map(|k| at(i, k) * at(j, k)).sum();
            let d = dot - if i == j { 1.0 } else { 0.0 };
            sum += d * d;
        }
    }
    (sum / m as f64).sqrt()
}

fn main() -> muon_wgpu::Result<()> {
    let ctx = pollster::block_on(GpuContext::new(muon_wgpu::BackendChoice::Env))?;
    let shapes = [[256usize, 768], [256, 256], [256, 1024], [1024, 256]];
    println!("{}", ctx.describe());
    println!("| shape | frobenius, 5 iterations | aol, 4 iterations | aol, 5 iterations |");
    println!("|---|---|---|---|");
    let mut rows = vec![String::new(); shapes.len()];
    for (p, steps) in [
        (Preconditioning::Frobenius, 5),
        (Preconditioning::Aol, 4),
        (Preconditioning::Aol, 5),
    ] {
        let settings = Preset::Optax.settings(&Overrides {
            lr: Some(1.0),
            weight_decay: Some(0.0),
            nesterov: Some(false),
            adjust_lr: Some(AdjustLr::None),
            ns_steps: Some(steps),
            preconditioning: Some(p),
            ..Default::default()
        })?;
        let mut b = OptimizerBuilder::new(&ctx, settings)?;
        for (i, s) in shapes.iter().enumerate() {
            let zeros = vec![0.0; s[0] * s[1]];
            b.add(&format!("w{i}"), s, Source::Host(&zeros), Route::Muon(0))?;
        }
        let mut opt = b.build()?;
        for (i, s) in shapes.iter().enumerate() {
            opt.write_gradient(
                &format!("w{i}"),
                &uniform_odd(7 + i as u64, s[0] * s[1], 1.0),
            )?;
        }
        opt.step()?;
        for (i, s) in shapes.iter().enumerate() {
            let o: Vec<f32> = pollster::block_on(opt.read_parameter(&format!("w{i}")))?
                .iter()
                .map(|v| -v)
                .collect();
            rows[i] += &format!(" {:.3} |", orthogonality_error(&o, s[0], s[1]));
        }
    }
    for (s, r) in shapes.iter().zip(rows) {
        println!("| {}x{} |{r}", s[0], s[1]);
    }
    Ok(())
}
