//! `muon-wgpu bench`: whole optimizer steps on one adapter, timed (see `shared/spec/bench.md`).
//!
//! Every shape is a Muon parameter with a random gradient (fixed seed) uploaded once; the timed
//! region is whole steps (momentum, Newton-Schulz, update), each one submit followed by a wait
//! for the GPU, after untimed warm-up steps. `first_step_ms` is the cold start: from building the
//! optimizer (choosing the kernel variant, compiling pipelines, uploading) to the end of the
//! first step; `pipeline_ms` is the part of it spent creating and compiling pipelines and tuning
//! (see `kernels::warm_up`). `record_ms` is the host time to record one step into a command encoder.
//!
//! The Newton-Schulz work is counted the textbook way: a matrix viewed with `m ≤ n` costs
//! `2m²n + 2m³ + 2m²n` floating point operations per iteration, whatever the kernels skip.

use crate::settings::presets::Preset;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Parameter shapes (`[rows, cols]` or `[out, in, h, w]`), one per Muon parameter.
    pub shapes: Vec<Vec<usize>>,
    pub steps: usize,
    pub warmup: usize,
    pub backend: crate::BackendChoice,
    pub preset: Preset,
    pub ns_steps: usize,
    /// Forces a Newton-Schulz kernel variant instead of the tuned one.
    pub ns_variant: Option<crate::kernels::NsVariant>,
    /// Also time each kernel of one more step with timestamp queries.
    pub profile: bool,
    /// Let wide matrices run the Gram form of Newton-Schulz (the optimizer's default).
    pub gram_form: bool,
    /// optax's scaling before Newton-Schulz (`--preconditioning`).
    pub preconditioning: crate::Preconditioning,
    /// Stored momentum dtype (`--mu-dtype`).
    pub mu_dtype: crate::MuDtype,
}

/// The named shape sets of `--model`.
pub const MODELS: &[&str] = &["gpt2-small", "nano", "conv"];

/// The shapes of a named model: GPT-2 small's 48 hidden matrices in PyTorch `(out, in)` layout,
/// the same for a 4-layer 256-wide `nano`, or a small ConvNet's hidden filters.
pub fn model_shapes(name: &str) -> Option<Vec<Vec<usize>>> {
    let layers = |n: usize, per: &[[usize; 2]]| -> Vec<Vec<usize>> {
        (0..n)
            .flat_map(|_| per.iter().map(|s| s.to_vec()))
            .collect()
    };
    match name {
        "gpt2-small" => Some(layers(
            12,
            &[[768, 2304], [768, 768], [768, 3072], [3072, 768]],
        )),
        "nano" => Some(layers(
            4,
            &[[256, 768], [256, 256], [256, 1024], [1024, 256]],
        )),
        "conv" => {
            let mut v = vec![vec![64, 64, 3, 3]; 4];
            v.extend(vec![vec![128, 128, 3, 3]; 4]);
            Some(v)
        }
        _ => None,
    }
}

/// Most parameters `--shapes` may describe (repeats included).
pub const MAX_BENCH_PARAMS: usize = 100_000;

/// Parses `768x3072,3072x768*12,64x64x3x3`.
pub fn parse_shapes(spec: &str) -> Result<Vec<Vec<usize>>, String> {
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (shape, times) = match item.split_once('*') {
            Some((s, n)) => (
                s,
                n.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("bad repeat count in `{item}`"))?,
            ),
            None => (item, 1),
        };
        let dims: Vec<usize> = shape
            .split(['x', 'X'])
            .map(|d| d.trim().parse::<usize>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("bad shape `{shape}`: expected RxC or OxIxHxW"))?;
        if !(dims.len() == 2 || dims.len() == 4) || dims.contains(&0) {
            return Err(format!(
                "bad shape `{shape}`: expected RxC or OxIxHxW, no zero"
            ));
        }
        // Bounded before anything is allocated for the repeats.
        if times == 0 || out.len() + times > MAX_BENCH_PARAMS {
            return Err(format!(
                "bad repeat count in `{item}`: between 1 and {MAX_BENCH_PARAMS} parameters in all"
            ));
        }
        out.extend(std::iter::repeat_n(dims, times));
    }
    if out.is_empty() {
        return Err("no shapes given".into());
    }
    Ok(out)
}

/// `RxC` or `OxIxHxW`.
pub fn shape_name(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

/// Textbook Newton-Schulz GFLOP of one step over `shapes`.
pub fn ns_gflop(shapes: &[Vec<usize>], ns_steps: usize) -> f64 {
    shapes
        .iter()
        .map(|s| {
            let (r, c) = crate::shape::matrix_view(s);
            let (m, n) = (r.min(c) as f64, r.max(c) as f64);
            (4.0 * m * m * n + 2.0 * m * m * m) * ns_steps as f64
        })
        .sum::<f64>()
        / 1e9
}

/// Minimum, median and maximum of some timings.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Self {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return Self::default();
        }
        let median = if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        };
        Self {
            min: v[0],
            median,
            max: v[v.len() - 1],
        }
    }
}

/// The result of a run, as printed.
#[derive(Clone, Debug, Default)]
pub struct BenchReport {
    pub adapter: String,
    pub backend: String,
    pub driver: String,
    pub shapes: Vec<String>,
    pub params: u64,
    pub steps: usize,
    pub warmup: usize,
    pub ns_steps: usize,
    pub preset: String,
    pub step_ms: Spread,
    pub ns_gflop_per_step: f64,
    pub gflops: f64,
    pub dispatches_per_step: usize,
    pub submits_per_step: usize,
    pub param_bytes: u64,
    pub state_bytes: u64,
    pub workspace_bytes: u64,
    pub first_step_ms: f64,
    /// Of `first_step_ms`: creating and compiling pipelines, and tuning.
    pub pipeline_ms: f64,
    /// Compile time (the warm-up's first dispatch) per kernel label, slowest first.
    pub compile_ms: Vec<(String, f64)>,
    pub record_ms: Spread,
    pub ns_kernel: String,
    /// Whether the kernel variant came from the tuning cache, and the tuning pass's time.
    pub tuned_from_cache: bool,
    pub tune_ms: f64,
    /// Whether the variant was forced (`--kernel`) rather than chosen for the adapter.
    pub forced_kernel: bool,
    /// Whether wide matrices could run the Gram form of Newton-Schulz.
    pub gram_form: bool,
    /// CPU time of this process per timed step (Linux): for CPU adapters (lavapipe runs in the
    /// process) a measure that other load on the machine disturbs far less than wall time.
    pub cpu_ms: Option<Spread>,
    /// GPU time per kernel label over one profiled step: `(label, dispatches, ms)`.
    pub profile: Vec<(String, usize, f64)>,
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_number(x: f64) -> String {
    if x.is_finite() {
        format!("{}", (x * 1000.0).round() / 1000.0)
    } else {
        "null".into()
    }
}

/// `"label": ms, …` (the inside of a JSON object).
fn json_labels<'a>(entries: impl Iterator<Item = (&'a str, f64)>) -> String {
    entries
        .map(|(label, ms)| format!("{}: {}", json_string(label), json_number(ms)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn json_spread(s: &Spread) -> String {
    format!(
        "{{\"min\": {}, \"median\": {}, \"max\": {}}}",
        json_number(s.min),
        json_number(s.median),
        json_number(s.max)
    )
}

impl BenchReport {
    /// One JSON object (the fields of `bench.md`, then `first_step_ms` and the extras).
    pub fn to_json(&self) -> String {
        let shapes: Vec<String> = self.shapes.iter().map(|s| json_string(s)).collect();
        format!(
            concat!(
                "{{\"adapter\": {}, \"backend\": {}, \"shapes\": [{}], \"params\": {}, ",
                "\"steps\": {}, \"ns_steps\": {}, \"step_ms\": {}, \"ns_gflop_per_step\": {}, ",
                "\"gflops\": {}, \"dispatches_per_step\": {}, \"submits_per_step\": {}, ",
                "\"gpu_bytes\": {{\"params\": {}, \"state\": {}, \"workspace\": {}}}, ",
                "\"first_step_ms\": {}, \"pipeline_ms\": {}, \"record_ms\": {}, \"warmup\": {}, ",
                "\"preset\": {}, ",
                "\"driver\": {}, \"ns_kernel\": {}, \"tuned_from_cache\": {}, \"tune_ms\": {}, ",
                "\"forced_kernel\": {}, \"gram_form\": {}, \"cpu_ms\": {}, ",
                "\"compile_ms\": {{{}}}, \"profile_ms\": {{{}}}}}"
            ),
            json_string(&self.adapter),
            json_string(&self.backend),
            shapes.join(", "),
            self.params,
            self.steps,
            self.ns_steps,
            json_spread(&self.step_ms),
            json_number(self.ns_gflop_per_step),
            json_number(self.gflops),
            self.dispatches_per_step,
            self.submits_per_step,
            self.param_bytes,
            self.state_bytes,
            self.workspace_bytes,
            json_number(self.first_step_ms),
            json_number(self.pipeline_ms),
            json_spread(&self.record_ms),
            self.warmup,
            json_string(&self.preset),
            json_string(&self.driver),
            json_string(&self.ns_kernel),
            self.tuned_from_cache,
            json_number(self.tune_ms),
            self.forced_kernel,
            self.gram_form,
            self.cpu_ms
                .as_ref()
                .map_or_else(|| "null".to_string(), json_spread),
            json_labels(self.compile_ms.iter().map(|(l, ms)| (l.as_str(), *ms))),
            json_labels(self.profile.iter().map(|(l, _, ms)| (l.as_str(), *ms))),
        )
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        let mut shapes: Vec<(String, usize)> = Vec::new();
        for s in &self.shapes {
            match shapes.iter_mut().find(|(n, _)| n == s) {
                Some((_, c)) => *c += 1,
                None => shapes.push((s.clone(), 1)),
            }
        }
        let shapes: Vec<String> = shapes
            .iter()
            .map(|(s, c)| {
                if *c > 1 {
                    format!("{s}*{c}")
                } else {
                    s.clone()
                }
            })
            .collect();
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let rows = [
            (
                "adapter",
                format!("{} ({}, {})", self.adapter, self.backend, self.driver),
            ),
            ("shapes", shapes.join(",")),
            ("params", format!("{}", self.params)),
            (
                "steps",
                format!(
                    "{} timed after {} warm-up, {} preset, {} Newton-Schulz steps{}",
                    self.steps,
                    self.warmup,
                    self.preset,
                    self.ns_steps,
                    if self.gram_form {
                        ""
                    } else {
                        " (usual form only)"
                    }
                ),
            ),
            (
                "step time",
                format!(
                    "{:.2} ms median (min {:.2}, max {:.2})",
                    self.step_ms.median, self.step_ms.min, self.step_ms.max
                ),
            ),
            (
                "Newton-Schulz",
                format!(
                    "{:.3} GFLOP per step (textbook), {:.2} GFLOP/s",
                    self.ns_gflop_per_step, self.gflops
                ),
            ),
            (
                "first step",
                format!(
                    "{:.1} ms, of which pipelines {:.1} ms (kernel {}, {})",
                    self.first_step_ms,
                    self.pipeline_ms,
                    self.ns_kernel,
                    if self.forced_kernel {
                        "forced".to_string()
                    } else if self.tuned_from_cache {
                        "from the tuning cache".to_string()
                    } else {
                        format!("tuned in {:.1} ms", self.tune_ms)
                    }
                ),
            ),
            (
                "process CPU",
                match &self.cpu_ms {
                    Some(c) => format!(
                        "{:.1} ms per step median (all threads; a CPU adapter's work)",
                        c.median
                    ),
                    None => "n/a".into(),
                },
            ),
            (
                "recording",
                format!("{:.3} ms host time per step", self.record_ms.median),
            ),
            (
                "compiles",
                self.compile_ms
                    .iter()
                    .take(4)
                    .map(|(label, ms)| format!("{label} {ms:.1} ms"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "dispatches",
                format!(
                    "{} per step in {} submit",
                    self.dispatches_per_step, self.submits_per_step
                ),
            ),
            (
                "GPU memory",
                format!(
                    "params {:.1} MiB, state {:.1} MiB, workspace {:.1} MiB",
                    mib(self.param_bytes),
                    mib(self.state_bytes),
                    mib(self.workspace_bytes)
                ),
            ),
        ];
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out: String = rows
            .iter()
            .map(|(k, v)| format!("{k:<width$}  {v}\n"))
            .collect();
        for (label, count, ms) in &self.profile {
            out.push_str(&format!(
                "{:<width$}  {ms:.2} ms in {count} dispatches ({label})\n",
                "profile"
            ));
        }
        out
    }
}

/// Deterministic values in [-scale, scale).
#[cfg(not(target_arch = "wasm32"))]
fn random(seed: u64, len: usize, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// The largest Newton-Schulz work per step (GFLOP) run on wgpu's GL backend, which aborts when
/// one submit holds the GL context for more than a few seconds.
pub const GL_GFLOP_LIMIT: f64 = 5.0;

/// Runs the benchmark; progress goes to stderr.
#[cfg(not(target_arch = "wasm32"))]
pub fn run(opts: &BenchOptions) -> Result<BenchReport, String> {
    use std::time::Instant;

    use crate::{GpuContext, OptimizerBuilder, Overrides, Route, Source};

    let err = |e: crate::Error| e.to_string();
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

    // Cold start: kernel choice, pipelines, allocation and upload, then the first step.
    let start = Instant::now();
    let pipelines_before = crate::kernels::pipeline_time();
    let mut builder = OptimizerBuilder::new(&ctx, settings).map_err(err)?;
    if let Some(v) = opts.ns_variant {
        builder.ns_variant(v);
    }
    builder.gram_form(opts.gram_form);
    for (i, shape) in opts.shapes.iter().enumerate() {
        let len: usize = shape.iter().product();
        builder
            .add(
                &format!("p{i}"),
                shape,
                Source::Host(&random(i as u64, len, 0.02)),
                Route::Muon(0),
            )
            .map_err(err)?;
    }
    let mut opt = builder.build().map_err(err)?;
    // The bench steps on the same gradients again and again, on purpose.
    opt.allow_stale_gradients(true);
    for (i, shape) in opts.shapes.iter().enumerate() {
        let len: usize = shape.iter().product();
        opt.write_gradient(&format!("p{i}"), &random(1000 + i as u64, len, 1.0))
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
        None => (
            opts.ns_variant.unwrap_or(crate::kernels::NsVariant::ALL[0]),
            false,
            0.0,
        ),
    };
    eprintln!("bench: first step {first_step_ms:.1} ms, of which pipelines {pipeline_ms:.1} ms ({variant})");

    for i in 0..opts.warmup.saturating_sub(1) {
        let t = Instant::now();
        opt.step().map_err(err)?;
        ctx.wait_idle();
        eprintln!(
            "bench: warm-up {} {:.1} ms",
            i + 2,
            t.elapsed().as_secs_f64() * 1e3
        );
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

    let profile = if opts.profile {
        profile_step(&ctx, &mut opt)?
    } else {
        Vec::new()
    };

    // Host time to record a step (never submitted).
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

    let stats = opt.stats().clone();
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
        // Non-default optax options travel with the preset's name (`torch, aol, bf16`).
        preset: [
            Some(opts.preset.to_string()),
            (opts.preconditioning != crate::Preconditioning::Frobenius)
                .then(|| format!("{:?}", opts.preconditioning).to_lowercase()),
            (opts.mu_dtype != crate::MuDtype::F32)
                .then(|| format!("{:?}", opts.mu_dtype).to_lowercase()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", "),
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
        first_step_ms,
        pipeline_ms,
        compile_ms,
        record_ms: Spread::of(&record),
        ns_kernel: variant.name(),
        tuned_from_cache: from_cache,
        tune_ms,
        forced_kernel: opts.ns_variant.is_some(),
        gram_form: opts.gram_form,
        cpu_ms: (cpu.len() == times.len()).then(|| Spread::of(&cpu)),
        profile,
    })
}

/// GPU time of each kernel over one step, summed by label, from timestamp queries.
#[cfg(not(target_arch = "wasm32"))]
fn profile_step(
    ctx: &crate::GpuContext,
    opt: &mut crate::Optimizer,
) -> Result<Vec<(String, usize, f64)>, String> {
    if !ctx
        .device
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY)
    {
        return Err("--profile needs timestamp queries, which this adapter lacks".into());
    }
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
    let ticks: Vec<u64> = bytemuck::cast_slice(
        &read
            .slice(..)
            .get_mapped_range()
            .map_err(|e| e.to_string())?,
    )
    .to_vec();
    let period = ctx.queue.get_timestamp_period() as f64;
    let mut out: Vec<(String, usize, f64)> = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let ms = ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * period / 1e6;
        match out.iter_mut().find(|(l, _, _)| l == label) {
            Some((_, n, t)) => {
                *n += 1;
                *t += ms;
            }
            None => out.push((label.to_string(), 1, ms)),
        }
    }
    Ok(out)
}

/// User plus system CPU time of this process, all threads, in ms (Linux `/proc`; else `None`).
#[cfg(not(target_arch = "wasm32"))]
fn process_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // The kernel's USER_HZ, 100 on every Linux the crate targets.
    Some(ticks * 10.0)
}
