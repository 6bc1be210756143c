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

fn json_list(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:e}")).collect();
    format!("[{}]", items.join(","))
}

fn run(args: &Args) -> muon_wgpu::Result<()> {
    let ctx = pollster::block_on(GpuContext::new(BackendChoice::Env))?;
    // wgpu's GL backend holds its context for a whole submit: keep GL submits to one step.
    let per_submit = if ctx.info.backend == wgpu::Backend::Gl {
        1
    } else {
        args.per_submit.max(1)
    };
    let mut losses = race::Pair::<Vec<f64>>::default();
    let started = std::time::Instant::now();
    let extra = if args.gpt {
        let d = gpt::GptRaceConfig::default();
        let config = gpt::GptRaceConfig {
            context: args.context.unwrap_or(d.context),
            width: args.width.unwrap_or(d.width),
            heads: args.heads.unwrap_or(d.heads),
            layers: args.layers.unwrap_or(d.layers),
            batch: args.batch.unwrap_or(d.batch),
            seed: args.seed,
            muon_lr: args.muon_lr.unwrap_or(d.muon_lr),
            aux_lr: args.aux_lr.unwrap_or(d.aux_lr),
            adamw_lr: args.adamw_lr.unwrap_or(d.adamw_lr),
            ..d
        };
        let mut race = gpt::GptRace::new(&ctx, config)?;
        let mut done = 0;
        while done < args.steps {
            let n = per_submit.min(args.steps - done);
            race.train(n)?;
            done += n;
            let step = pollster::block_on(race.read_losses())?;
            losses.muon.extend(step.muon);
            losses.adamw.extend(step.adamw);
        }
        let val = pollster::block_on(race.evaluate())?;
        format!(
            ",\"val_loss\":{{\"muon\":{},\"adamw\":{}}}",
            val.muon.loss, val.adamw.loss
        )
    } else if args.image {
        let defaults = image::ImageConfig::default();
        let config = image::ImageConfig {
            hidden: args.hidden.clone().unwrap_or(defaults.hidden),
            batch: args.batch.unwrap_or(defaults.batch),
            seed: args.seed,
            muon_lr: args.muon_lr.unwrap_or(defaults.muon_lr),
            aux_lr: args.aux_lr.unwrap_or(defaults.aux_lr),
            adamw_lr: args.adamw_lr.unwrap_or(defaults.adamw_lr),
            ..defaults
        };
        let (w, h) = (64, 64);
        let mut fit = image::ImageFit::new(&ctx, &image::default_image(w, h), w, h, &config)?;
        let mut done = 0;
        while done < args.steps {
            let n = per_submit.min(args.steps - done);
            fit.train(n)?;
            done += n;
            let step = pollster::block_on(fit.read_losses())?;
            losses.muon.extend(step.muon);
            losses.adamw.extend(step.adamw);
        }
        let target = image::default_image(w, h);
        let out = pollster::block_on(fit.predict())?;
        let psnr = |p: &[f32]| {
            let mse = p
                .iter()
                .zip(&target)
                .map(|(a, b)| (a.clamp(0.0, 1.0) - b) as f64)
                .map(|d| d * d)
                .sum::<f64>()
                / p.len() as f64;
            -10.0 * mse.log10()
        };
        format!(
            ",\"psnr\":{{\"muon\":{:.3},\"adamw\":{:.3}}}",
            psnr(&out.muon),
            psnr(&out.adamw)
        )
    } else {
        let defaults = race::RaceConfig::default();
        let config = race::RaceConfig {
            hidden: args.hidden.clone().unwrap_or(defaults.hidden),
            batch: args.batch.unwrap_or(defaults.batch),
            seed: args.seed,
            muon_lr: args.muon_lr.unwrap_or(defaults.muon_lr),
            aux_lr: args.aux_lr.unwrap_or(defaults.aux_lr),
            adamw_lr: args.adamw_lr.unwrap_or(defaults.adamw_lr),
        };
        let mut race = race::Race::new(&ctx, config)?;
        let mut done = 0;
        while done < args.steps {
            let n = per_submit.min(args.steps - done);
            race.train(n)?;
            done += n;
            let step = pollster::block_on(race.read_losses())?;
            losses.muon.extend(step.muon);
            losses.adamw.extend(step.adamw);
        }
        let test = pollster::block_on(race.evaluate())?;
        format!(
            ",\"accuracy\":{{\"muon\":{},\"adamw\":{}}}",
            test.muon.accuracy, test.adamw.accuracy
        )
    };
    println!(
        "{{\"adapter\":{:?},\"steps\":{},\"seconds\":{:.3},\"loss\":{{\"muon\":{},\"adamw\":{}}}{extra}}}",
        ctx.describe(),
        args.steps,
        started.elapsed().as_secs_f64(),
        json_list(&losses.muon),
        json_list(&losses.adamw)
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
