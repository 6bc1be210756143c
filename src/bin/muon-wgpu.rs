//! The `muon-wgpu` command line: `info`, `replay`, `bench` and `tune`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use muon_wgpu::io::replay::{self, Case};
use muon_wgpu::io::tensors;
use muon_wgpu::{gpu, BackendChoice, GpuContext};

#[derive(Parser)]
#[command(name = "muon-wgpu", version, about = "The Muon optimizer on WebGPU")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the GPU adapters with their backend, type, key limits and features.
    Info {
        /// Backends to list: vulkan, gl, metal, dx12 or any.
        #[arg(long, default_value = "any")]
        backend: String,
    },
    /// Apply the optimizer to a replay case and write the parameters and state after the last step.
    Replay(Box<ReplayArgs>),
    /// Time whole optimizer steps on an adapter (a table, or one JSON object with --json).
    Bench(BenchArgs),
    /// Time every Newton-Schulz kernel variant the adapter supports and remember the fastest.
    ///
    /// A first use times only what fits a one-second budget (on a CPU driver, the variant that
    /// compiles fastest); this tries them all, for long runs.
    Tune {
        /// Backend: vulkan, gl, metal, dx12 or any (default: $MUON_WGPU_BACKEND, else any).
        #[arg(long, default_value = "env")]
        backend: String,
    },
}

#[derive(Args)]
struct BenchArgs {
    /// Parameter shapes: RxC or OxIxHxW, comma-separated; `RxC*12` repeats a shape.
    #[arg(long, conflicts_with = "model")]
    shapes: Option<String>,
    /// A named shape set: gpt2-small, nano or conv.
    #[arg(long)]
    model: Option<String>,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Untimed steps before them (the first one is the cold start, `first_step_ms`).
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Backend: vulkan, gl, metal, dx12 or any (default: $MUON_WGPU_BACKEND, else any).
    #[arg(long, default_value = "env")]
    backend: String,
    /// Preset whose semantics the step follows.
    #[arg(long, default_value = "torch")]
    preset: String,
    /// Newton-Schulz iterations per step.
    #[arg(long, default_value_t = 5)]
    ns_steps: usize,
    /// Force a Newton-Schulz kernel variant (e.g. lanes64-broadcast, tiled16x16; lanes64-broadcast-f16 reads f16 operands) instead of the tuned one.
    #[arg(long)]
    kernel: Option<String>,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Also time each kernel of one more step (GPU timestamps; the adapter needs TIMESTAMP_QUERY).
    #[arg(long)]
    profile: bool,
    /// Run every matrix through the usual Newton-Schulz products (no Gram form for wide ones).
    #[arg(long)]
    no_gram: bool,
    /// optax's scaling before Newton-Schulz: frobenius, spectral, aol or schatten.
    #[arg(long, default_value = "frobenius")]
    preconditioning: String,
    /// Stored momentum dtype: f32, bf16 or f16.
    #[arg(long, default_value = "f32")]
    mu_dtype: String,
}

fn bench(args: &BenchArgs) -> Result<(), String> {
    let invalid = |reason: String| reason;
    let shapes = match (&args.shapes, &args.model) {
        (Some(s), _) => muon_wgpu::bench::parse_shapes(s).map_err(invalid)?,
        (None, Some(m)) => muon_wgpu::bench::model_shapes(m).ok_or_else(|| {
            invalid(format!(
                "unknown model `{m}` (one of: {})",
                muon_wgpu::bench::MODELS.join(", ")
            ))
        })?,
        (None, None) => muon_wgpu::bench::model_shapes("nano").expect("nano exists"),
    };
    if args.steps == 0 {
        return Err(invalid("--steps must be at least 1".into()));
    }
    let opts = muon_wgpu::bench::BenchOptions {
        shapes,
        steps: args.steps,
        warmup: args.warmup.max(1),
        backend: args
            .backend
            .parse()
            .map_err(|e: muon_wgpu::Error| e.to_string())?,
        preset: args
            .preset
            .parse()
            .map_err(|e: muon_wgpu::Error| e.to_string())?,
        ns_steps: args.ns_steps,
        ns_variant: args
            .kernel
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(invalid)?,
        profile: args.profile,
        gram_form: !args.no_gram,
        preconditioning: args
            .preconditioning
            .parse()
            .map_err(|e: muon_wgpu::Error| e.to_string())?,
        mu_dtype: args
            .mu_dtype
            .parse()
            .map_err(|e: muon_wgpu::Error| e.to_string())?,
    };
    // Under mpirun: distributed steps, rank 0 prints (src/distributed/bench.rs).
    #[cfg(feature = "mpi")]
    if muon_wgpu::distributed::launched_by_mpi() {
        return muon_wgpu::distributed::bench::run_command(&opts).map_err(|e| e.to_string());
    }
    let report = muon_wgpu::bench::run(&opts).map_err(invalid)?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

#[derive(Args)]
struct ReplayArgs {
    /// The case (safetensors, replay format).
    case: PathBuf,
    /// Where to write the result.
    #[arg(short, long)]
    output: PathBuf,
    /// Backend: vulkan, gl, metal, dx12 or any (default: $MUON_WGPU_BACKEND, else any).
    #[arg(long, default_value = "env")]
    backend: String,
    #[command(flatten)]
    keys: KeyFlags,
}

/// `--<key> <value>` (`_` written `-`) for every replay metadata key ([`replay::keys`]): the flags given, as
/// (key, value).
struct KeyFlags(Vec<(String, String)>);

impl clap::FromArgMatches for KeyFlags {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self(
            replay::keys()
                .filter_map(|(k, _)| {
                    let v = matches.get_one::<String>(k)?;
                    Some((k.to_string(), v.clone()))
                })
                .collect(),
        ))
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for KeyFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        replay::keys().fold(cmd, |cmd, (key, help)| {
            // `--adam-betas` for `adam_betas`, as clap's derive spells flags; a few bytes leaked
            // once per run (clap takes `&'static str` names).
            let flag: &'static str = Box::leak(key.replace('_', "-").into_boxed_str());
            cmd.arg(
                clap::Arg::new(key)
                    .long(flag)
                    .value_name("VALUE")
                    .help(help),
            )
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

fn info(backend: &str) -> muon_wgpu::Result<()> {
    let choice: BackendChoice = backend.parse()?;
    let adapters = pollster::block_on(gpu::list_adapters(choice))?;
    if adapters.is_empty() {
        println!("no adapters found for backend `{backend}`; on Linux: apt-get install mesa-vulkan-drivers");
    }
    for (i, a) in adapters.iter().enumerate() {
        let info = a.get_info();
        let l = a.limits();
        let f = a.features();
        println!("adapter {i}: {}", info.name);
        println!("  backend:      {:?}", info.backend);
        println!("  device type:  {:?}", info.device_type);
        println!("  driver:       {} {}", info.driver, info.driver_info);
        println!(
            "  max storage binding:     {} MiB",
            l.max_storage_buffer_binding_size >> 20
        );
        println!("  max buffer size:         {} MiB", l.max_buffer_size >> 20);
        println!(
            "  max workgroup storage:   {} bytes",
            l.max_compute_workgroup_storage_size
        );
        println!(
            "  max invocations/group:   {}",
            l.max_compute_invocations_per_workgroup
        );
        println!(
            "  max workgroups/dim:      {}",
            l.max_compute_workgroups_per_dimension
        );
        println!(
            "  storage buffers/stage:   {}",
            l.max_storage_buffers_per_shader_stage
        );
        println!(
            "  features: subgroup={} shader_f16={} timestamp_query={}",
            f.contains(wgpu::Features::SUBGROUP),
            f.contains(wgpu::Features::SHADER_F16),
            f.contains(wgpu::Features::TIMESTAMP_QUERY)
        );
    }
    Ok(())
}

fn replay(args: &ReplayArgs) -> muon_wgpu::Result<()> {
    // Writing over the case would lose it if the run failed midway: refused.
    if muon_wgpu::io::atomic_file::same_file(&args.case, &args.output) {
        return Err(muon_wgpu::Error::UnsafeOutput {
            path: args.output.display().to_string(),
            reason: "it is the input case; choose another output".into(),
        });
    }
    // Under mpirun: every rank replays its share, rank 0 writes (src/distributed).
    #[cfg(feature = "mpi")]
    if muon_wgpu::distributed::launched_by_mpi() {
        return muon_wgpu::distributed::replay::run_command(
            &args.case,
            &args.keys.0,
            &args.backend,
            &args.output,
        );
    }
    let case = Case::read(&args.case, &args.keys.0)?;
    let ctx = pollster::block_on(GpuContext::new(args.backend.parse()?))?;
    let tensors = pollster::block_on(case.run(&ctx))?;
    tensors::write_file(&args.output, &tensors, case.output_metadata(&ctx))?;
    eprintln!(
        "replayed {} steps of {} parameters ({} preset) on {} -> {}",
        case.steps,
        case.params.len(),
        case.preset,
        ctx.describe(),
        args.output.display()
    );
    Ok(())
}

fn tune(backend: &str) -> muon_wgpu::Result<()> {
    let ctx = pollster::block_on(GpuContext::new(backend.parse()?))?;
    println!("tuning on {}", ctx.describe());
    let (_, report) = muon_wgpu::kernels::tune::tune(&ctx, f64::INFINITY);
    for (variant, seconds) in &report.timings {
        match seconds {
            Some(s) => println!("  {:<20} {:>9.2} ms", variant.name(), s * 1e3),
            None => println!("  {:<20} wrong result, skipped", variant.name()),
        }
    }
    muon_wgpu::kernels::tune::remember(&ctx.device, report.chosen);
    println!(
        "chosen: {} (remembered for this adapter; {:.1} s spent)",
        report.chosen.name(),
        report.seconds
    );
    Ok(())
}

fn main() -> ExitCode {
    // Past the file-size limit a write then fails with EFBIG, and the atomic writer removes its
    // temporary file, instead of the process being killed with the file half written.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN before any thread starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Info { backend } => info(backend).map_err(|e| e.to_string()),
        Command::Replay(args) => replay(args).map_err(|e| e.to_string()),
        Command::Bench(args) => bench(args),
        Command::Tune { backend } => tune(backend).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One write: under mpirun every rank's line goes to one stream, whole.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("error: {e}\n").as_bytes(),
            );
            ExitCode::FAILURE
        }
    }
}
