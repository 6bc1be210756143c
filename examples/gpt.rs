//! A character-level GPT learns to write like Shakespeare on your GPU, Muon against AdamW:
//!
//! ```text
//! cargo run --release --example gpt
//! ```
//!
//! trains the same small transformer (2 blocks, width 64, 4 heads, context 64; see
//! `muon_wgpu::nn::gpt`) from the same initialization and the same batches twice on eight plays
//! of Shakespeare (`data/README.md`):
//!
//! 1. **Muon + AdamW**: Muon for the attention and MLP matrices, AdamW for the embeddings, the
//!    head and the biases (the split of KellerJordan's `MuonWithAuxAdam` and modded-nanogpt);
//! 2. **AdamW** alone, for every parameter;
//!
//! each at the learning rates of the sweep on the validation split (`--sweep` reruns it). Every
//! step is one submit: batch upload, forward, loss, backward and optimizer step, with the
//! gradients written straight into the optimizer's buffers. It shows a progress bar, prints a
//! table (validation loss, tokens/s, wall time, adapter) and a text sample from each model, and
//! writes both runs' curves to `target/gpt_curves.png`. `--json` prints one JSON object as the
//! last line; `--profile` times every kernel of one step. Bigger models for a real GPU:
//! `--width 384 --heads 6 --layers 6 --context 256 --batch 64`.
//! `MUON_WGPU_BACKEND=gl|vulkan|metal|dx12` picks the backend.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use common::rates::{score_grid, RateArgs, Rates};
use common::{gpu, plot, progress};
use indicatif::ProgressBar;
use muon_wgpu::nn::gpt::{self, GptSpec, GptTrainer, GptTrainerOptions, TokenBatchRef};
use muon_wgpu::nn::text::{self, Corpus, TextBatches, TokenBatch};
use muon_wgpu::{Error, GpuContext, Route};
use serde::Serialize;

mod common;
#[path = "gpt/profile.rs"]
mod profile;

#[derive(Parser, Debug)]
#[command(
    about = "Train a character-level GPT on Shakespeare with Muon + AdamW and with AdamW alone"
)]
struct Args {
    /// Training steps of each run.
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Sequences per batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Context length (positions per sequence).
    #[arg(long, default_value_t = 64)]
    context: usize,
    /// Model width.
    #[arg(long, default_value_t = 64)]
    width: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 4)]
    heads: usize,
    /// Transformer blocks.
    #[arg(long, default_value_t = 2)]
    layers: usize,
    /// Muon takes the attention and MLP matrices, AdamW the embeddings, the head and the biases.
    #[command(flatten)]
    rates: RateArgs,
    /// Evaluate on the validation split every this many steps.
    #[arg(long, default_value_t = 50)]
    eval_every: usize,
    /// Validation sequences (of `context` tokens) evaluated each time.
    #[arg(long, default_value_t = 64)]
    eval_sequences: usize,
    /// Seed of the initialization and of the batches (both runs share them).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Characters sampled from each model at the end.
    #[arg(long, default_value_t = 300)]
    sample: usize,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    /// Where to write the curves.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/gpt_curves.png"))]
    plot: PathBuf,
    /// Sweep the learning rates on the validation split instead.
    #[arg(long)]
    sweep: bool,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
    /// Time every kernel of one training step of each run (timestamp queries).
    #[arg(long)]
    profile: bool,
}

/// The sweep's winners for the default model at 150 steps (`--sweep --steps 150`; the README has
/// its table):
/// `(Muon + AdamW, AdamW alone)`.
const DEFAULT_RATES: (Rates, Rates) = (
    Rates {
        muon: Some(0.02),
        adam: 3e-3,
    },
    Rates {
        muon: None,
        adam: 3e-3,
    },
);

/// What one run measured.
struct Run {
    rates: Rates,
    /// Training loss of every step's batch (before its update).
    train_loss: Vec<f64>,
    /// `(step, validation loss)`.
    evals: Vec<(usize, f64)>,
    wall: Duration,
    /// Time spent evaluating (included in `wall`).
    eval_time: Duration,
    /// Creating and compiling pipelines while building the trainer; not part of `wall`.
    pipelines: Duration,
    tokens: usize,
    dispatches: usize,
    sample: String,
    /// `(label, launches, ms)` of one step, with `--profile`.
    profile: Vec<(String, usize, f64)>,
}

impl Run {
    fn val_loss(&self) -> f64 {
        self.evals.last().map_or(f64::NAN, |e| e.1)
    }

    fn tokens_per_s(&self) -> f64 {
        self.tokens as f64 / (self.wall - self.eval_time).as_secs_f64()
    }
}

fn spec_of(args: &Args, corpus: &Corpus) -> GptSpec {
    GptSpec {
        vocab: corpus.vocab.len(),
        context: args.context,
        width: args.width,
        heads: args.heads,
        layers: args.layers,
    }
}

/// What every run of this process shares: the GPU, the model's shape, the data and the flags.
#[derive(Clone, Copy)]
struct Setup<'a> {
    ctx: &'a GpuContext,
    spec: GptSpec,
    corpus: &'a Corpus,
    validation: &'a TokenBatch,
    args: &'a Args,
}

fn train(setup: Setup, rates: Rates, bar: &ProgressBar) -> muon_wgpu::Result<Run> {
    let Setup {
        ctx,
        spec,
        corpus,
        validation,
        args,
    } = setup;
    let params = gpt::init_params(&spec, args.seed);
    let route = |p: &gpt::GptParam| match rates.muon {
        Some(_) => gpt::muon_for_blocks(p),
        None => Route::AdamW(0),
    };
    let options = GptTrainerOptions {
        batch_size: args.batch,
        eval_batch_size: args.batch,
        ..Default::default()
    };
    let pipelines_before = muon_wgpu::kernels::pipeline_time();
    let mut trainer = GptTrainer::new(ctx, spec, &params, rates.settings()?, route, options)?;
    let pipelines = muon_wgpu::kernels::pipeline_time() - pipelines_before;
    let mut batches = TextBatches::new(corpus.train(), args.batch, spec.context, args.seed)?;
    let mut run = Run {
        rates,
        train_loss: Vec::with_capacity(args.steps),
        evals: Vec::new(),
        wall: Duration::ZERO,
        eval_time: Duration::ZERO,
        pipelines,
        tokens: 0,
        dispatches: trainer.train_plan().ops().len() + trainer.optimizer().stats().dispatches,
        sample: String::new(),
        profile: Vec::new(),
    };
    bar.set_length(args.steps as u64);
    bar.set_prefix(rates.name());
    let start = Instant::now();
    for step in 1..=args.steps {
        let batch = batches.next_batch(corpus.train());
        // One submit per step (wgpu's GL backend holds its context for a whole submit).
        trainer.step(TokenBatchRef {
            inputs: &batch.inputs,
            targets: &batch.targets,
        })?;
        run.tokens += batch.inputs.len();
        if step % args.eval_every == 0 || step == args.steps {
            ctx.wait_idle();
            let t = Instant::now();
            let metrics = pollster::block_on(trainer.read_metrics())?;
            run.train_loss.extend(metrics.iter().map(|m| m.loss));
            let val = pollster::block_on(trainer.evaluate(TokenBatchRef {
                inputs: &validation.inputs,
                targets: &validation.targets,
            }))?;
            run.evals.push((step, val.loss));
            run.eval_time += t.elapsed();
            let recent = &run.train_loss[run.train_loss.len().saturating_sub(args.eval_every)..];
            bar.set_message(format!(
                "train loss {:.3}  val loss {:.3}",
                recent.iter().sum::<f64>() / recent.len() as f64,
                val.loss
            ));
        }
        bar.set_position(step as u64);
    }
    run.wall = start.elapsed();
    bar.finish();
    if args.sample > 0 {
        let prompt = corpus.vocab.encode("\n")?;
        let tokens =
            pollster::block_on(trainer.sample(&prompt, args.sample, args.temperature, args.seed))?;
        run.sample = corpus.vocab.decode(&tokens);
    }
    if args.profile {
        let batch = batches.next_batch(corpus.train());
        run.profile = profile::step(ctx, &mut trainer, &batch).map_err(|reason| {
            Error::InvalidHyperparameter {
                key: "profile".into(),
                value: "true".into(),
                reason,
            }
        })?;
    }
    Ok(run)
}

/// The `--json` line: the adapter, each run's rates and results, and the first run's sample.
#[derive(Serialize)]
struct Summary<'a> {
    adapter: &'a str,
    runs: Vec<RunSummary>,
    sample: &'a str,
}

#[derive(Serialize)]
struct RunSummary {
    optimizer: &'static str,
    /// Muon's rate (`null` for AdamW alone).
    lr: Option<f64>,
    adam_lr: f64,
    val_loss: f64,
    tokens_per_s: f64,
    wall_s: f64,
    dispatches_per_step: usize,
}

/// `x` rounded to `digits` decimals.
fn rounded(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

fn print_json(runs: &[Run], adapter: &str) {
    let summary = Summary {
        adapter,
        runs: runs
            .iter()
            .map(|r| RunSummary {
                optimizer: r.rates.json_name(),
                lr: r.rates.muon,
                adam_lr: r.rates.adam,
                val_loss: rounded(r.val_loss(), 6),
                tokens_per_s: rounded(r.tokens_per_s(), 1),
                wall_s: rounded(r.wall.as_secs_f64(), 3),
                dispatches_per_step: r.dispatches,
            })
            .collect(),
        sample: &runs[0].sample,
    };
    println!(
        "{}",
        serde_json::to_string(&summary).expect("the summary serializes")
    );
}

/// The results table and its legend.
fn print_table(runs: &[Run], args: &Args, adapter: &str, validation_sequences: usize) {
    println!();
    println!(
        "{:<13} {:<22} {:>9} {:>10} {:>9} {:>9} {:>10} {:>9}  adapter",
        "optimizer",
        "learning rates",
        "val loss",
        "train loss",
        "tokens/s",
        "wall time",
        "dispatches",
        "pipelines"
    );
    for run in runs {
        println!(
            "{:<13} {:<22} {:>9.4} {:>10.4} {:>9.0} {:>8.1}s {:>10} {:>8.2}s  {adapter}",
            run.rates.name(),
            run.rates.describe(),
            run.val_loss(),
            common::mean_of_last(&run.train_loss, 50),
            run.tokens_per_s(),
            run.wall.as_secs_f64(),
            run.dispatches,
            run.pipelines.as_secs_f64()
        );
    }
    println!(
        "\nval loss: mean cross-entropy per character (nats) on {} validation sequences after the last step; \
         train loss: mean of the last 50 steps;\ntokens/s: training tokens per second of wall time without \
         the evaluations (every {} steps); dispatches: kernel launches per training step (model + optimizer), one submit;\n\
         pipelines: creating and compiling the kernels before the first step, apart from all of these.",
        validation_sequences, args.eval_every
    );
}

/// Each model's text sample, and the kernel profiles (`--profile`).
fn print_samples_and_profiles(runs: &[Run], args: &Args) {
    for run in runs {
        if !run.sample.is_empty() {
            println!(
                "\n--- {} writes (temperature {}):\n{}",
                run.rates.name(),
                args.temperature,
                run.sample
            );
        }
    }
    for run in runs.iter().filter(|r| !r.profile.is_empty()) {
        let total: f64 = run.profile.iter().map(|p| p.2).sum();
        println!(
            "\nprofile of one {} step (GPU time, one pass per launch): {total:.2} ms",
            run.rates.name()
        );
        for (label, n, ms) in &run.profile {
            println!(
                "  {label:<40} {n:>4} launches {ms:>9.3} ms {:>5.1}%",
                100.0 * ms / total
            );
        }
    }
}

fn race(setup: Setup) -> muon_wgpu::Result<()> {
    let Setup {
        ctx,
        spec,
        validation,
        args,
        ..
    } = setup;
    let (muon, adamw) = args.rates.race(DEFAULT_RATES);
    let bars = progress::stack(args.json);
    let mut runs = Vec::new();
    for rates in [muon, adamw] {
        let bar = bars.add(progress::bar(args.steps));
        runs.push(train(setup, rates, &bar)?);
    }
    let adapter = format!("{} ({:?})", ctx.info.name, ctx.info.backend);
    print_table(&runs, args, &adapter, validation.sequences(spec.context));
    print_samples_and_profiles(&runs, args);
    plot(&runs, args, &spec, &adapter)?;
    println!("\ncurves: {}", args.plot.display());
    if args.json {
        print_json(&runs, &adapter);
    }
    Ok(())
}

fn sweep(setup: Setup) -> muon_wgpu::Result<()> {
    let args = setup.args;
    println!(
        "sweep: {} steps per run; score: validation loss after the last step (lower is better)",
        args.steps
    );
    println!(
        "{:<13} {:<24} {:>9}",
        "optimizer", "learning rates", "val loss"
    );
    let score = |rates: Rates| -> muon_wgpu::Result<f64> {
        let bar = progress::bar(args.steps);
        let run = train(setup, rates, &bar)?;
        bar.finish_and_clear();
        println!(
            "{:<13} {:<24} {:>9.4}",
            rates.name(),
            rates.describe(),
            run.val_loss()
        );
        Ok(run.val_loss())
    };
    let best = |scored: Vec<(f64, f64)>| -> f64 {
        scored
            .into_iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("a run")
            .0
    };
    // 1. AdamW alone, on a 3x grid.
    let alone = |lr| Rates {
        muon: None,
        adam: lr,
    };
    let adamw = best(score_grid(&[3e-3, 1e-2, 3e-2], alone, &score)?);
    // 2. Muon's rate with the AdamW part (embeddings, head, biases) at AdamW's best.
    let with_muon = |lr| Rates {
        muon: Some(lr),
        adam: adamw,
    };
    let muon = best(score_grid(&[0.02, 0.05, 0.1], with_muon, &score)?);
    println!("best AdamW: adamw {adamw}");
    println!("best Muon + AdamW: muon {muon}, adamw {adamw}");
    Ok(())
}

fn plot(runs: &[Run], args: &Args, spec: &GptSpec, adapter: &str) -> muon_wgpu::Result<()> {
    use plotters::prelude::*;

    plot::write_png(&args.plot, (1000, 620), |root| {
        let (title, body) = root.split_vertically(48);
        title.draw(&Text::new(
            format!(
                "Shakespeare, GPT {} blocks x {} wide, {} heads, context {}, batch {}",
                spec.layers, spec.width, spec.heads, spec.context, args.batch
            ),
            (24, 8),
            ("sans-serif", 22).into_font(),
        ))?;
        title.draw(&Text::new(
            adapter.to_string(),
            (24, 30),
            ("sans-serif", 14).into_font().color(&BLACK.mix(0.55)),
        ))?;
        let (smoothed, (lo, hi)) = plot::smoothed_losses(
            runs.iter().map(|r| &r.train_loss[..]),
            runs.iter().flat_map(|r| r.evals.iter().map(|e| e.1)),
            |_| true,
        );
        let caption = ("loss (cross-entropy per character, nats)", 20);
        let mut chart = plot::chart(&body, caption, args.steps, (lo - 0.1)..(hi + 0.1))?;
        chart
            .configure_mesh()
            .x_desc("step")
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .draw()?;
        for ((run, color), smooth) in runs.iter().zip(plot::COLORS).zip(&smoothed) {
            let name = run.rates.name();
            let training = smooth.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v));
            let label = format!("{name} ({}): training", run.rates.describe());
            plot::line(&mut chart, training, color, label)?;
            let validation = run.evals.iter().map(|e| (e.0 as f64, e.1));
            let label = format!("{name}: validation, {:.3} at the end", run.val_loss());
            plot::dashed(&mut chart, validation, color, label)?;
        }
        plot::legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

fn main() -> ExitCode {
    gpu::main(run)
}

fn run(ctx: &GpuContext, args: &Args) -> muon_wgpu::Result<()> {
    gpu::check_steps(args.steps, args.eval_every)?;
    let corpus = text::shakespeare()?;
    let spec = spec_of(args, &corpus);
    spec.validate()?;
    let validation =
        text::evaluation_windows(corpus.validation(), spec.context, args.eval_sequences)?;
    println!(
        "adapter: {} ({:?}, {:?})",
        ctx.info.name, ctx.info.backend, ctx.info.device_type
    );
    println!(
        "data: {} characters of Shakespeare, vocabulary {}, {} train / {} validation; GPT {} blocks, width {}, \
         {} heads, context {} ({} parameters); batch {} sequences, {} steps, seed {}",
        corpus.tokens.len(),
        corpus.vocab.len(),
        corpus.train().len(),
        corpus.validation().len(),
        spec.layers,
        spec.width,
        spec.heads,
        spec.context,
        spec.parameter_count(),
        args.batch,
        args.steps,
        args.seed
    );
    let setup = Setup {
        ctx,
        spec,
        corpus: &corpus,
        validation: &validation,
        args,
    };
    if args.sweep {
        sweep(setup)
    } else {
        race(setup)
    }
}
