//! Muon against AdamW on real data, on your GPU:
//!
//! ```text
//! cargo run --release --example train
//! ```
//!
//! trains the same MLP (64-128-128-10, ReLU; `--hidden 256,256` for a wider one) from the same
//! initialization twice on the UCI handwritten digits, with the same minibatches:
//!
//! 1. **Muon + AdamW**: Muon for the hidden matrix, AdamW for the first layer, the last layer
//!    and the biases (the split KellerJordan's `MuonWithAuxAdam` and Moonlight recommend);
//! 2. **AdamW** alone, for every parameter.
//!
//! Everything runs on the GPU: the batch goes up, forward, loss, backward and the optimizer
//! step are recorded into one encoder, and the gradients are written straight into the
//! optimizer's buffers. It shows a progress bar, prints a table (test accuracy, steps to reach
//! a target accuracy, wall time, adapter) and writes both runs' loss and accuracy curves to
//! `target/train_curves.png`.
//!
//! `--sweep` runs the learning-rate sweep the defaults come from, on a validation split carved
//! out of the training set (the test set plays no part in it). `--task spirals` trains on two
//! spirals instead. `MUON_WGPU_BACKEND=gl|vulkan|metal|dx12` picks the backend.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use common::rates::{score_grid, RateArgs, Rates};
use common::{gpu, plot, progress};
use indicatif::ProgressBar;
use muon_wgpu::nn::{self, Activation, Batch, Loss, MlpSpec, Split, Targets, Trainer};
use muon_wgpu::{GpuContext, Route};

mod common;
#[path = "train/distributed.rs"]
mod distributed;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Task {
    /// UCI optical digits: 8x8 images, 10 classes, 1437 training / 360 test samples.
    Digits,
    /// Two interleaved spirals: 2 inputs, 2 classes, 2000 training / 1000 test points.
    Spirals,
}

#[derive(Parser, Debug)]
#[command(about = "Train an MLP on the GPU with Muon + AdamW and with AdamW alone, and compare")]
struct Args {
    #[arg(long, value_enum, default_value = "digits")]
    task: Task,
    /// Training steps of each run.
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Samples per minibatch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Hidden layer widths.
    #[arg(long, value_delimiter = ',', default_value = "128,128")]
    hidden: Vec<usize>,
    /// relu, gelu, gelu_tanh, tanh or identity.
    #[arg(long, default_value = "relu")]
    activation: Activation,
    /// Muon takes the hidden matrices, AdamW the first and last layer and the biases.
    #[command(flatten)]
    rates: RateArgs,
    /// Test accuracy whose first crossing is reported as "steps to target".
    #[arg(long, default_value_t = 0.97)]
    target: f64,
    /// Evaluate on the test set every this many steps.
    #[arg(long, default_value_t = 10)]
    eval_every: usize,
    /// Seed of the initialization and of the minibatch order (both runs share them).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to write the curves.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/train_curves.png"))]
    plot: PathBuf,
    /// Sweep the learning rates on a validation split of the training set instead.
    #[arg(long)]
    sweep: bool,
    /// Data-parallel Muon + AdamW under mpirun (`--features mpi`): each rank trains on its shard
    /// of every batch, gradients averaged over the ranks, Muon's matrices shared between them;
    /// rank 0 then repeats the run alone on whole batches and compares the losses.
    #[arg(long)]
    distributed: bool,
}

/// The sweep's winners for the default network, 300 steps, batch 64 (`--sweep`; the README has
/// its table): `(Muon + AdamW, AdamW alone)`.
fn default_rates(task: Task) -> (Rates, Rates) {
    match task {
        Task::Digits => (
            Rates {
                muon: Some(0.01),
                adam: 1e-2,
            },
            Rates {
                muon: None,
                adam: 1e-2,
            },
        ),
        Task::Spirals => (
            Rates {
                muon: Some(0.05),
                adam: 3e-2,
            },
            Rates {
                muon: None,
                adam: 3e-2,
            },
        ),
    }
}

/// What one run measured.
struct Run {
    rates: Rates,
    /// Training loss of every step's batch (before its update).
    train_loss: Vec<f64>,
    /// `(step, loss, accuracy)` on the evaluation set.
    evals: Vec<(usize, f64, f64)>,
    steps_to_target: Option<usize>,
    wall: Duration,
    /// Time spent evaluating (included in `wall`).
    eval_time: Duration,
    /// Time spent creating and compiling pipelines (tuning included) while building the trainer,
    /// before the first step; not part of `wall`.
    pipelines: Duration,
}

impl Run {
    fn final_eval(&self) -> (f64, f64) {
        let &(_, loss, acc) = self.evals.last().expect("at least one evaluation");
        (loss, acc)
    }

    /// Mean evaluation accuracy and loss over the last `n` evaluations (steadier than the last one).
    fn tail(&self, n: usize) -> (f64, f64) {
        let tail = &self.evals[self.evals.len().saturating_sub(n)..];
        let k = tail.len() as f64;
        (
            tail.iter().map(|e| e.2).sum::<f64>() / k,
            tail.iter().map(|e| e.1).sum::<f64>() / k,
        )
    }

    fn ms_per_step(&self) -> f64 {
        (self.wall - self.eval_time).as_secs_f64() * 1e3 / self.train_loss.len().max(1) as f64
    }
}

fn train(
    ctx: &GpuContext,
    spec: &MlpSpec,
    data: &Split,
    rates: Rates,
    args: &Args,
    bar: &ProgressBar,
) -> muon_wgpu::Result<Run> {
    let params = nn::init_params(spec, args.seed);
    let route = |role: &nn::ParamRole| match rates.muon {
        Some(_) => nn::muon_for_hidden(role),
        None => Route::AdamW(0),
    };
    let options = nn::TrainerOptions {
        batch_size: args.batch,
        // The whole evaluation set in one launch where it fits.
        eval_batch_size: data.test.len().clamp(1, 1024),
        ..Default::default()
    };
    // Building the trainer compiles every pipeline of its steps and evaluations (see kernels::warm_up).
    let pipelines_before = muon_wgpu::kernels::pipeline_time();
    let mut trainer = Trainer::new(
        ctx,
        spec.clone(),
        &params,
        rates.settings()?,
        route,
        options,
    )?;
    let pipelines = muon_wgpu::kernels::pipeline_time() - pipelines_before;
    let mut batches = nn::data::Batches::new(data.train.len(), args.batch, args.seed)?;
    // wgpu's GL backend holds its context for a whole submit: keep GL submits to one step.
    let per_submit = if ctx.info.backend == wgpu::Backend::Gl {
        1
    } else {
        5
    };
    let mut run = Run {
        rates,
        train_loss: Vec::with_capacity(args.steps),
        evals: Vec::new(),
        steps_to_target: None,
        wall: Duration::ZERO,
        eval_time: Duration::ZERO,
        pipelines,
    };
    bar.set_length(args.steps as u64);
    bar.set_prefix(rates.name());
    let start = Instant::now();
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    for step in 1..=args.steps {
        let (inputs, labels) = data.train.gather(batches.next_indices());
        let batch = Batch {
            inputs: &inputs,
            targets: Targets::Labels(&labels),
        };
        trainer.record_step(&mut encoder, batch)?;
        let evaluate = step % args.eval_every == 0 || step == args.steps;
        if step % per_submit == 0 || evaluate {
            let done = std::mem::replace(
                &mut encoder,
                ctx.device.create_command_encoder(&Default::default()),
            );
            ctx.queue.submit([done.finish()]);
        }
        if evaluate {
            // Wait for the submitted steps first, so that evaluation time is not training time.
            ctx.wait_idle();
            let t = Instant::now();
            let metrics = pollster::block_on(trainer.read_metrics())?;
            run.train_loss.extend(metrics.iter().map(|m| m.loss));
            let test = pollster::block_on(trainer.evaluate_dataset(&data.test))?;
            run.evals.push((step, test.loss, test.accuracy));
            if run.steps_to_target.is_none() && test.accuracy >= args.target {
                run.steps_to_target = Some(step);
            }
            run.eval_time += t.elapsed();
            let recent = &run.train_loss[run.train_loss.len().saturating_sub(args.eval_every)..];
            bar.set_message(format!(
                "train loss {:.4}  test loss {:.4}  test acc {:.1}%",
                recent.iter().sum::<f64>() / recent.len() as f64,
                test.loss,
                100.0 * test.accuracy
            ));
        }
        bar.set_position(step as u64);
    }
    run.wall = start.elapsed();
    bar.finish();
    Ok(run)
}

fn task_data(task: Task) -> muon_wgpu::Result<Split> {
    match task {
        Task::Digits => nn::data::digits(),
        Task::Spirals => Ok(nn::data::spirals()),
    }
}

fn format_steps(steps: Option<usize>) -> String {
    steps.map_or("not reached".into(), |s| s.to_string())
}

fn race(ctx: &GpuContext, spec: &MlpSpec, data: &Split, args: &Args) -> muon_wgpu::Result<()> {
    let (muon, adamw) = args.rates.race(default_rates(args.task));
    let bars = progress::stack(false);
    let mut runs = Vec::new();
    for rates in [muon, adamw] {
        let bar = bars.add(progress::bar(args.steps));
        runs.push(train(ctx, spec, data, rates, args, &bar)?);
    }

    println!();
    println!(
        "{:<13} {:<22} {:>9} {:>9} {:>14} {:>10} {:>9} {:>8} {:>9}",
        "optimizer",
        "learning rates",
        "test acc",
        "test loss",
        format!("steps to {:.0}%", 100.0 * args.target),
        "train loss",
        "wall time",
        "ms/step",
        "pipelines"
    );
    for run in &runs {
        let (loss, acc) = run.final_eval();
        println!(
            "{:<13} {:<22} {:>8.1}% {:>9.4} {:>14} {:>10.4} {:>8.1}s {:>8.1} {:>8.2}s",
            run.rates.name(),
            run.rates.describe(),
            100.0 * acc,
            loss,
            format_steps(run.steps_to_target),
            common::mean_of_last(&run.train_loss, 50),
            run.wall.as_secs_f64(),
            run.ms_per_step(),
            run.pipelines.as_secs_f64()
        );
    }
    println!(
        "\ntrain loss: mean of the last 50 steps; wall time includes an evaluation every {} steps; ms/step excludes it;\n\
         pipelines: creating and compiling the GPU kernels (and tuning), before the first step, apart from both.",
        args.eval_every
    );
    let adapter = format!("{} ({:?})", ctx.info.name, ctx.info.backend);
    plot(&runs, args, &spec.sizes, &adapter)?;
    println!("curves: {}", args.plot.display());
    Ok(())
}

/// Mean validation accuracy over the last 5 evaluations, and mean validation loss over them.
type Score = (f64, f64);

/// Best score first: higher accuracy, ties to the lower loss.
fn better(a: &Score, b: &Score) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1))
}

fn sweep(ctx: &GpuContext, spec: &MlpSpec, data: &Split, args: &Args) -> muon_wgpu::Result<()> {
    // Hold out the last fifth of the training split: the sweep never sees the test set.
    let (fit, validation) = data.train.split_at(data.train.len() * 4 / 5);
    let holdout = Split {
        train: fit,
        test: validation,
    };
    println!(
        "sweep: {} steps per run, training on {} samples, validating on {}; score: mean validation \
         accuracy over the last 5 evaluations (ties: lower validation loss)",
        args.steps,
        holdout.train.len(),
        holdout.test.len()
    );
    println!(
        "{:<13} {:<24} {:>16} {:>17} {:>14}",
        "optimizer",
        "learning rates",
        "val acc (last 5)",
        "val loss (last 5)",
        format!("steps to {:.0}%", 100.0 * args.target)
    );
    let mut cache: Vec<(Rates, Score)> = Vec::new();
    let mut score = |rates: Rates| -> muon_wgpu::Result<Score> {
        if let Some(&(_, s)) = cache.iter().find(|(r, _)| *r == rates) {
            return Ok(s);
        }
        let bar = progress::bar(args.steps);
        let run = train(ctx, spec, &holdout, rates, args, &bar)?;
        bar.finish_and_clear();
        let s = run.tail(5);
        println!(
            "{:<13} {:<24} {:>15.2}% {:>17.4} {:>14}",
            rates.name(),
            rates.describe(),
            100.0 * s.0,
            s.1,
            format_steps(run.steps_to_target)
        );
        cache.push((rates, s));
        Ok(s)
    };
    let best_of = |scored: Vec<(f64, Score)>| -> f64 {
        scored
            .into_iter()
            .max_by(|a, b| better(&a.1, &b.1))
            .expect("a run")
            .0
    };

    // 1. AdamW alone, on a 3x grid.
    const ADAMW_GRID: [f64; 5] = [3e-4, 1e-3, 3e-3, 1e-2, 3e-2];
    let alone = |lr| Rates {
        muon: None,
        adam: lr,
    };
    let adamw = best_of(score_grid(&ADAMW_GRID, alone, &mut score)?);
    // 2. Muon's rate with the AdamW part (first and last layer, biases) at AdamW's best.
    let with_muon = |lr| Rates {
        muon: Some(lr),
        adam: adamw,
    };
    let muon = best_of(score_grid(
        &[0.005, 0.01, 0.02, 0.05, 0.1],
        with_muon,
        &mut score,
    )?);
    // 3. The AdamW part's rate, one grid step either way, at Muon's best.
    let at = ADAMW_GRID
        .iter()
        .position(|&g| g == adamw)
        .expect("on the grid");
    let near = &ADAMW_GRID[at.saturating_sub(1)..(at + 2).min(ADAMW_GRID.len())];
    let aux_rates = |lr| Rates {
        muon: Some(muon),
        adam: lr,
    };
    let aux = best_of(score_grid(near, aux_rates, &mut score)?);
    println!("best AdamW: adamw {adamw}");
    println!("best Muon + AdamW: muon {muon}, adamw {aux}");
    Ok(())
}

fn plot(runs: &[Run], args: &Args, sizes: &[usize], adapter: &str) -> muon_wgpu::Result<()> {
    use plotters::prelude::*;

    plot::write_png(&args.plot, (1400, 580), |root| {
        let (title, body) = root.split_vertically(48);
        title.draw(&Text::new(
            format!(
                "{}: MLP {}, batch {}, same initialization and minibatches",
                match args.task {
                    Task::Digits => "UCI digits",
                    Task::Spirals => "Two spirals",
                },
                sizes
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join("-"),
                args.batch
            ),
            (24, 14),
            ("sans-serif", 24).into_font(),
        ))?;
        let small = ("sans-serif", 16).into_font().color(&BLACK.mix(0.55));
        let (width, _) = title.estimate_text_size(adapter, &small)?;
        title.draw(&Text::new(
            adapter.to_string(),
            (1400 - 24 - width as i32, 20),
            small,
        ))?;
        let (left, right) = body.split_horizontally(700);
        loss_panel(&left, runs, args)?;
        accuracy_panel(&right, runs, args)
    })
}

fn step_label(x: &f64) -> String {
    format!("{x:.0}")
}

/// Training loss per step (faint), its centered 21-step mean, and the test loss.
fn loss_panel(area: &plot::Area, runs: &[Run], args: &Args) -> plot::DrawResult {
    use plotters::prelude::*;

    // The log scale needs positive values.
    let (smoothed, (lo, hi)) = plot::smoothed_losses(
        runs.iter().map(|r| &r.train_loss[..]),
        runs.iter().flat_map(|r| r.evals.iter().map(|e| e.1)),
        |v| v > 0.0,
    );
    let caption = ("loss (cross-entropy, log scale)", 22);
    let y = (lo * 0.7..hi * 1.3).log_scale();
    let mut chart = plot::chart(area, caption, args.steps, y)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .x_label_formatter(&step_label)
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;
    for ((run, color), smooth) in runs.iter().zip(plot::COLORS).zip(&smoothed) {
        let at_step = |v: &[f64]| -> Vec<(f64, f64)> {
            v.iter()
                .enumerate()
                .map(|(i, &v)| ((i + 1) as f64, v.clamp(lo * 0.7, hi * 1.3)))
                .collect()
        };
        chart.draw_series(LineSeries::new(at_step(&run.train_loss), color.mix(0.15)))?;
        let name = run.rates.name();
        let label = format!("{name} ({}): training", run.rates.describe());
        plot::line(&mut chart, at_step(smooth), color, label)?;
        let test = run.evals.iter().map(|e| (e.0 as f64, e.1));
        plot::dashed(&mut chart, test, color, format!("{name}: test"))?;
    }
    plot::legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// Test accuracy of both runs, and the target.
fn accuracy_panel(area: &plot::Area, runs: &[Run], args: &Args) -> plot::DrawResult {
    use plotters::element::DashedPathElement;
    use plotters::prelude::*;

    let low = runs
        .iter()
        .flat_map(|r| r.evals.iter().map(|e| e.2))
        .fold(1.0f64, f64::min);
    let floor = (((low.min(args.target) - 0.02) * 20.0).floor() / 20.0).max(0.0);
    let caption = ("test accuracy (%)", 22);
    let mut chart = plot::chart(area, caption, args.steps, floor * 100.0..100.0)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .x_label_formatter(&step_label)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;
    let (steps, target) = (args.steps as f64, args.target * 100.0);
    chart
        .draw_series(DashedLineSeries::new(
            [(0.0, target), (steps, target)],
            6,
            6,
            BLACK.mix(0.5).stroke_width(1),
        ))?
        .label(format!("target: {target:.0}%"))
        .legend(|(x, y)| DashedPathElement::new([(x, y), (x + 24, y)], 6, 4, BLACK.mix(0.5)));
    for (run, color) in runs.iter().zip(plot::COLORS) {
        let accuracy = run.evals.iter().map(|e| (e.0 as f64, 100.0 * e.2));
        let reached = run
            .steps_to_target
            .map_or("not reached".into(), |s| format!("at step {s}"));
        let label = format!(
            "{}: {:.1}% at the end, {target:.0}% {reached}",
            run.rates.name(),
            100.0 * run.final_eval().1,
        );
        plot::line(&mut chart, accuracy, color, label)?;
    }
    plot::legend(&mut chart, SeriesLabelPosition::LowerRight)
}

fn main() -> ExitCode {
    gpu::main(run)
}

fn run(ctx: &GpuContext, args: &Args) -> muon_wgpu::Result<()> {
    let data = task_data(args.task)?;
    let mut sizes = vec![data.train.features];
    sizes.extend(&args.hidden);
    sizes.push(data.train.classes);
    let spec = MlpSpec::new(&sizes, args.activation, Loss::SoftmaxCrossEntropy)?;
    gpu::check_steps(args.steps, args.eval_every)?;
    println!(
        "adapter: {} ({:?}, {:?})",
        ctx.info.name, ctx.info.backend, ctx.info.device_type
    );
    println!(
        "task: {:?}, {} training / {} test samples; MLP {} ({}, {} parameters); batch {}, {} steps, seed {}",
        args.task,
        data.train.len(),
        data.test.len(),
        sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-"),
        args.activation,
        spec.parameter_count(),
        args.batch,
        args.steps,
        args.seed
    );
    if args.distributed {
        distributed::run(ctx, &spec, &data, args)
    } else if args.sweep {
        sweep(ctx, &spec, &data, args)
    } else {
        race(ctx, &spec, &data, args)
    }
}
