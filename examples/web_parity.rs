//! The web demo's runs, natively: the same Rust (`muon_wgpu::demo`) that the browser runs,
//! printing every step's training losses as JSON.
//! `scripts/web-test.sh` compares them with the browser's.
//!
//! ```text
//! cargo run --release --example web_parity -- --steps 30 --hidden 64,64 --seed 0
//! cargo run --release --example web_parity -- --image --steps 300    # the "fit an image" mode
//! cargo run --release --example web_parity -- --gpt --steps 20 --width 32 --layers 1 --context 32 --batch 4
//! ```

use std::process::ExitCode;

use clap::Parser;
use muon_wgpu::demo::{gpt, image, race};
use muon_wgpu::{BackendChoice, GpuContext};
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(about = "Run the web demo's training natively and print every step's losses as JSON")]
struct Args {
    /// Steps of each run.
    #[arg(long, default_value_t = 30)]
    steps: usize,
    /// Hidden layer widths [default: the page's].
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Samples (pixels with --image) per minibatch [default: the page's].
    #[arg(long)]
    batch: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    muon_lr: Option<f64>,
    #[arg(long)]
    aux_lr: Option<f64>,
    #[arg(long)]
    adamw_lr: Option<f64>,
    /// Steps recorded per submit.
    #[arg(long, default_value_t = 10)]
    per_submit: usize,
    /// Fit the default image (64×64) instead of racing on the digits.
    #[arg(long)]
    image: bool,
    /// Race the character-level GPT on Shakespeare ("Write like Shakespeare") instead.
    #[arg(long)]
    gpt: bool,
    /// GPT sizes [default: the page's on a hardware adapter].
    #[arg(long)]
    context: Option<usize>,
    #[arg(long)]
    width: Option<usize>,
    #[arg(long)]
    heads: Option<usize>,
    #[arg(long)]
    layers: Option<usize>,
}

/// `$m::$ty` (a demo's configuration) with the flags given over its defaults, bound to `$d` so that
/// the mode's own `$field: $value`s can read them; batch, seed and rates are every mode's.
macro_rules! config {
    // The MLP modes: hidden widths too.
    ($m:ident :: $ty:ident, $args:expr, hidden) => {
        config!($m::$ty, $args, d {
            hidden: $args.hidden.clone().unwrap_or(d.hidden)
        })
    };
    ($m:ident :: $ty:ident, $args:expr, $d:ident { $($field:ident: $value:expr),* $(,)? }) => {{
        let $d = $m::$ty::default();
        #[allow(clippy::needless_update)]
        let config = $m::$ty {
            $($field: $value,)*
            batch: $args.batch.unwrap_or($d.batch),
            seed: $args.seed,
            muon_lr: $args.muon_lr.unwrap_or($d.muon_lr),
            aux_lr: $args.aux_lr.unwrap_or($d.aux_lr),
            adamw_lr: $args.adamw_lr.unwrap_or($d.adamw_lr),
            ..$d
        };
        config
    }};
}

/// Muon + AdamW's value and AdamW's.
#[derive(Serialize)]
struct Both<T> {
    muon: T,
    adamw: T,
}

impl<T> From<race::Pair<T>> for Both<T> {
    fn from(p: race::Pair<T>) -> Self {
        Self {
            muon: p.muon,
            adamw: p.adamw,
        }
    }
}

/// What the mode measured at the end, a field of the output beside the losses.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    /// `--gpt`: the validation loss.
    ValLoss(Both<f64>),
    /// `--image`: the reconstruction's PSNR in dB (three decimals).
    Psnr(Both<f64>),
    /// The digits: test accuracy.
    Accuracy(Both<f64>),
}

/// The line printed: `{"adapter", "steps", "seconds", "loss": {"muon": [...], "adamw": [...]}, <outcome>}`.
#[derive(Serialize)]
struct Output {
    adapter: String,
    steps: usize,
    seconds: f64,
    loss: Both<Vec<f64>>,
    #[serde(flatten)]
    outcome: Outcome,
}

/// `x` to three decimals.
fn milli(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One native run: the GPU, the flags, and every step's losses so far.
struct Native<'a> {
    ctx: &'a GpuContext,
    args: &'a Args,
    /// Steps recorded per submit.
    per_submit: usize,
    losses: race::Pair<Vec<f64>>,
}

impl Native<'_> {
    /// Trains in rounds of `per_submit` steps until `--steps`, collecting every step's losses.
    fn train_rounds(
        &mut self,
        mut round: impl FnMut(usize) -> muon_wgpu::Result<race::Pair<Vec<f64>>>,
    ) -> muon_wgpu::Result<()> {
        let mut done = 0;
        while done < self.args.steps {
            let n = self.per_submit.min(self.args.steps - done);
            let step = round(n)?;
            done += n;
            self.losses.muon.extend(step.muon);
            self.losses.adamw.extend(step.adamw);
        }
        Ok(())
    }
}

fn gpt_race(native: &mut Native) -> muon_wgpu::Result<Outcome> {
    let (ctx, args) = (native.ctx, native.args);
    let config = config!(
        gpt::GptRaceConfig,
        args,
        d {
            context: args.context.unwrap_or(d.context),
            width: args.width.unwrap_or(d.width),
            heads: args.heads.unwrap_or(d.heads),
            layers: args.layers.unwrap_or(d.layers),
        }
    );
    let mut race = gpt::GptRace::new(ctx, config)?;
    native.train_rounds(|n| {
        race.train(n)?;
        pollster::block_on(race.read_losses())
    })?;
    let val = pollster::block_on(race.evaluate())?;
    Ok(Outcome::ValLoss(Both {
        muon: val.muon.loss,
        adamw: val.adamw.loss,
    }))
}

fn image_fit(native: &mut Native) -> muon_wgpu::Result<Outcome> {
    let (ctx, args) = (native.ctx, native.args);
    let config = config!(image::ImageConfig, args, hidden);
    let (w, h) = (64, 64);
    let target = image::default_image(w, h);
    let mut fit = image::ImageFit::new(ctx, &target, w, h, &config)?;
    native.train_rounds(|n| {
        fit.train(n)?;
        pollster::block_on(fit.read_losses())
    })?;
    let out = pollster::block_on(fit.predict())?;
    let psnr = |p: &[f32]| {
        let mse = p
            .iter()
            .zip(&target)
            .map(|(a, b)| (a.clamp(0.0, 1.0) - b) as f64)
            .map(|d| d * d)
            .sum::<f64>()
            / p.len() as f64;
        milli(-10.0 * mse.log10())
    };
    Ok(Outcome::Psnr(Both {
        muon: psnr(&out.muon),
        adamw: psnr(&out.adamw),
    }))
}

fn digits_race(native: &mut Native) -> muon_wgpu::Result<Outcome> {
    let (ctx, args) = (native.ctx, native.args);
    let config = config!(race::RaceConfig, args, hidden);
    let mut race = race::Race::new(ctx, config)?;
    native.train_rounds(|n| {
        race.train(n)?;
        pollster::block_on(race.read_losses())
    })?;
    let test = pollster::block_on(race.evaluate())?;
    Ok(Outcome::Accuracy(Both {
        muon: test.muon.accuracy,
        adamw: test.adamw.accuracy,
    }))
}

fn run(args: &Args) -> muon_wgpu::Result<()> {
    let ctx = pollster::block_on(GpuContext::new(BackendChoice::Env))?;
    // wgpu's GL backend holds its context for a whole submit: keep GL submits to one step.
    let per_submit = if ctx.info.backend == wgpu::Backend::Gl {
        1
    } else {
        args.per_submit.max(1)
    };
    let mut native = Native {
        ctx: &ctx,
        args,
        per_submit,
        losses: race::Pair::default(),
    };
    let started = std::time::Instant::now();
    let outcome = if args.gpt {
        gpt_race(&mut native)?
    } else if args.image {
        image_fit(&mut native)?
    } else {
        digits_race(&mut native)?
    };
    let output = Output {
        adapter: ctx.describe(),
        steps: args.steps,
        seconds: milli(started.elapsed().as_secs_f64()),
        loss: native.losses.into(),
        outcome,
    };
    println!(
        "{}",
        serde_json::to_string(&output).expect("the output serializes")
    );
    Ok(())
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
