//! Running the benchmark natively: the cold start, warm-up, timed steps, an optional profile, and
//! the host time to record a step.

use std::time::Instant;

use super::cpu_time::process_cpu_ms;
use super::random::uniform_odd;
use super::{ns_gflop, shape_name, BenchOptions, BenchReport, Spread, GL_GFLOP_LIMIT};
use crate::kernels::NsVariant;
use crate::{GpuContext, Optimizer, OptimizerBuilder, Overrides, Route, Source};

fn err(e: crate::Error) -> String {
    e.to_string()
}

/// What the cold start measured: building the optimizer through the end of its first step.
struct ColdStart {
    opt: Optimizer,
    first_step_ms: f64,
    pipeline_ms: f64,
    compile_ms: Vec<(String, f64)>,
    variant: NsVariant,
    from_cache: bool,
    tune_ms: f64,
}

/// Kernel choice, pipelines, allocation and upload, then the first step, timed.
fn cold_start(
    ctx: &GpuContext,
    opts: &BenchOptions,
    settings: crate::Settings,
) -> Result<ColdStart, String> {
    let start = Instant::now();
    let pipelines_before = crate::kernels::pipeline_time();
    let mut builder = OptimizerBuilder::new(ctx, settings).map_err(err)?;
    if let Some(v) = opts.ns_variant {
        builder.ns_variant(v);
    }
    builder.gram_form(opts.gram_form);
    for (i, shape) in opts.shapes.iter().enumerate() {
        let len: usize = shape.iter().product();
        let init = uniform_odd(i as u64, len, 0.02);
        builder
            .add(&format!("p{i}"), shape, Source::Host(&init), Route::Muon(0))
            .map_err(err)?;
    }
    let mut opt = builder.build().map_err(err)?;
    // The bench steps on the same gradients again and again, on purpose.
    opt.allow_stale_gradients(true);
    for (i, shape) in opts.shapes.iter().enumerate() {
        let len: usize = shape.iter().product();
        opt.write_gradient(&format!("p{i}"), &uniform_odd(1000 + i as u64, len, 1.0))
            .map_err(err)?;
    }
    opt.step().map_err(err)?;
    ctx.wait_idle();
    let first_step_ms = start.elapsed().as_secs_f64() * 1e3;
    let pipeline_ms = (crate::kernels::pipeline_time() - pipelines_before).as_secs_f64() * 1e3;
    let mut compile_ms: Vec<(String, f64)> = Vec::new();
    for &(label, t) in &opt.stats().compiles {
        match compile_ms.iter_mut().find(|(l, _)| l == label) {
            Some((_, ms)) => *ms += t.as_secs_f64() * 1e3,
            None => compile_ms.push((label.to_string(), t.as_secs_f64() * 1e3)),
        }
    }
    compile_ms.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (variant, from_cache, tune_ms) = match opt.tune_report() {
        Some(r) => (r.chosen, r.from_cache, r.seconds * 1e3),
        None => (opts.ns_variant.unwrap_or(NsVariant::ALL[0]), false, 0.0),
    };
    Ok(ColdStart {
        opt,
        first_step_ms,
        pipeline_ms,
        compile_ms,
        variant,
        from_cache,
        tune_ms,
    })
}

/// The untimed warm-up after the first step, then `steps` timed steps: wall and (where it can
/// be read) process CPU time of each, in ms.
fn timed_steps(
    ctx: &GpuContext,
    opt: &mut Optimizer,
    opts: &BenchOptions,
) -> Result<(Vec<f64>, Vec<f64>), String> {
    for i in 0..opts.warmup.saturating_sub(1) {
        let t = Instant::now();
        opt.step().map_err(err)?;
        ctx.wait_idle();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        eprintln!("bench: warm-up {} {ms:.1} ms", i + 2);
    }
    let mut times = Vec::with_capacity(opts.steps);
    let mut cpu = Vec::with_capacity(opts.steps);
    for i in 0..opts.steps {
        let c = process_cpu_ms();
        let t = Instant::now();
        opt.step().map_err(err)?;
        ctx.wait_idle();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if let (Some(a), Some(b)) = (c, process_cpu_ms()) {
            cpu.push(b - a);
        }
        eprintln!("bench: step {} {ms:.1} ms", i + 1);
        times.push(ms);
    }
    Ok((times, cpu))
}

/// Host time to record a step, 20 times (never submitted).
fn record_times(ctx: &GpuContext, opt: &mut Optimizer) -> Result<Vec<f64>, String> {
    let mut record = Vec::new();
    for _ in 0..20 {
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        let t = Instant::now();
        opt.record_step(&mut encoder).map_err(err)?;
        record.push(t.elapsed().as_secs_f64() * 1e3);
        drop(encoder);
    }
    Ok(record)
}

/// The preset's name, with the non-default optax options after it (`torch, aol, bf16`).
fn preset_name(opts: &BenchOptions) -> String {
    [
        Some(opts.preset.to_string()),
        (opts.preconditioning != crate::Preconditioning::Frobenius)
            .then(|| format!("{:?}", opts.preconditioning).to_lowercase()),
        (opts.mu_dtype != crate::MuDtype::F32)
            .then(|| format!("{:?}", opts.mu_dtype).to_lowercase()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ")
}

/// Runs the benchmark; progress goes to stderr.
pub fn run(opts: &BenchOptions) -> Result<BenchReport, String> {
    let ctx = pollster::block_on(GpuContext::new(opts.backend)).map_err(err)?;
    let gflop = ns_gflop(&opts.shapes, opts.ns_steps);
    if ctx.info.backend == wgpu::Backend::Gl && gflop > GL_GFLOP_LIMIT {
        return Err(format!(
            "{gflop:.1} GFLOP of Newton-Schulz per step is too much for wgpu's GL backend (one \
             submit may not hold the GL context for more than a few seconds); use Vulkan or \
             smaller shapes (at most {GL_GFLOP_LIMIT} GFLOP per step)"
        ));
    }
    let settings = opts
        .preset
        .settings(&Overrides {
            ns_steps: Some(opts.ns_steps),
            preconditioning: Some(opts.preconditioning),
            mu_dtype: Some(opts.mu_dtype),
            ..Default::default()
        })
        .map_err(err)?;
    let params: u64 = opts
        .shapes
        .iter()
        .map(|s| s.iter().product::<usize>() as u64)
        .sum();
    eprintln!(
        "bench: {} parameters ({} matrices) on {}; {:.2} GFLOP of Newton-Schulz per step",
        params,
        opts.shapes.len(),
        ctx.describe(),
        gflop
    );

    let mut cold = cold_start(&ctx, opts, settings)?;
    eprintln!(
        "bench: first step {:.1} ms, of which pipelines {:.1} ms ({})",
        cold.first_step_ms, cold.pipeline_ms, cold.variant
    );
    let (times, cpu) = timed_steps(&ctx, &mut cold.opt, opts)?;
    let profile = if opts.profile {
        profile_step(&ctx, &mut cold.opt)?
    } else {
        Vec::new()
    };
    let record = record_times(&ctx, &mut cold.opt)?;

    let stats = cold.opt.stats().clone();
    let step_ms = Spread::of(&times);
    Ok(BenchReport {
        adapter: ctx.info.name.clone(),
        backend: format!("{:?}", ctx.info.backend).to_lowercase(),
        driver: format!("{} {}", ctx.info.driver, ctx.info.driver_info)
            .trim()
            .to_string(),
        shapes: opts.shapes.iter().map(|s| shape_name(s)).collect(),
        params,
        steps: opts.steps,
        warmup: opts.warmup,
        ns_steps: opts.ns_steps,
        preset: preset_name(opts),
        step_ms,
        ns_gflop_per_step: gflop,
        gflops: if step_ms.median > 0.0 {
            gflop / (step_ms.median / 1e3)
        } else {
            0.0
        },
        dispatches_per_step: stats.dispatches,
        submits_per_step: 1,
        param_bytes: stats.param_bytes,
        state_bytes: stats.state_bytes,
        workspace_bytes: stats.workspace_bytes,
        first_step_ms: cold.first_step_ms,
        pipeline_ms: cold.pipeline_ms,
        compile_ms: cold.compile_ms,
        record_ms: Spread::of(&record),
        ns_kernel: cold.variant.name(),
        tuned_from_cache: cold.from_cache,
        tune_ms: cold.tune_ms,
        forced_kernel: opts.ns_variant.is_some(),
        gram_form: opts.gram_form,
        cpu_ms: (cpu.len() == times.len()).then(|| Spread::of(&cpu)),
        profile,
    })
}

/// `--profile`'s requirement: the adapter's timestamp queries.
pub fn needs_timestamps(ctx: &GpuContext) -> Result<(), String> {
    if ctx
        .device
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY)
    {
        Ok(())
    } else {
        Err("--profile needs timestamp queries, which this adapter lacks".into())
    }
}

/// GPU time of each kernel over one step, summed by label, from timestamp queries.
fn profile_step(
    ctx: &GpuContext,
    opt: &mut Optimizer,
) -> Result<Vec<(String, usize, f64)>, String> {
    needs_timestamps(ctx)?;
    let count = 2 * opt.stats().dispatches as u32;
    let queries = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
        label: Some("bench profile"),
        ty: wgpu::QueryType::Timestamp,
        count,
    });
    let bytes = count as u64 * 8;
    let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("bench profile resolve"),
        size: bytes,
        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let read = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("bench profile read"),
        size: bytes,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
    let labels = opt
        .record_step_timed(&mut encoder, &queries)
        .map_err(|e| e.to_string())?;
    encoder.resolve_query_set(&queries, 0..count, &resolve, 0);
    encoder.copy_buffer_to_buffer(&resolve, 0, &read, 0, bytes);
    ctx.queue.submit([encoder.finish()]);
    read.slice(..).map_async(wgpu::MapMode::Read, |_| {});
    ctx.wait_idle();
    kernel_times(
        ctx,
        &read,
        labels.iter().enumerate().map(|(i, l)| (l.to_string(), i)),
    )
}

/// GPU time per kernel label from `read`, a mapped buffer of resolved timestamps: the launch
/// labelled `label` with pair index `i` ran from tick `2i` to tick `2i + 1`, so it took
/// `ms = (t₂ᵢ₊₁ − t₂ᵢ) · period / 10⁶`; summed by label in first-seen order as
/// `(label, launches, ms)`.
pub fn kernel_times(
    ctx: &GpuContext,
    read: &wgpu::Buffer,
    labels: impl IntoIterator<Item = (String, usize)>,
) -> Result<Vec<(String, usize, f64)>, String> {
    let ticks: Vec<u64> = bytemuck::cast_slice(
        &read
            .slice(..)
            .get_mapped_range()
            .map_err(|e| e.to_string())?,
    )
    .to_vec();
    let period = ctx.queue.get_timestamp_period() as f64;
    let mut out: Vec<(String, usize, f64)> = Vec::new();
    for (label, i) in labels {
        let ms = ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * period / 1e6;
        match out.iter_mut().find(|(l, _, _)| *l == label) {
            Some((_, n, t)) => {
                *n += 1;
                *t += ms;
            }
            None => out.push((label, 1, ms)),
        }
    }
    Ok(out)
}
