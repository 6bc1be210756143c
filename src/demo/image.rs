//! The web demo's second mode, "fit an image": two coordinate MLPs learn `(x, y) → (r, g, b)` of
//! one image, one with Muon for the hidden matrices + AdamW for the rest, one with AdamW alone,
//! from the same initialization on the same minibatches of pixels.
//!
//! A plain MLP on `(x, y)` learns only blurry images in a few hundred steps; the inputs are
//! therefore Fourier features (Tancik et al. 2020, "Fourier Features Let Networks Learn High
//! Frequency Functions in Low Dimensional Domains"):
//!
//! ```text
//! γ(x, y) = [x, y, sin(2ᵏπx), cos(2ᵏπx), sin(2ᵏπy), cos(2ᵏπy) for k in 0..frequencies],  x, y ∈ [-1, 1]
//! ```
//!
//! No browser code here either, so that it can run natively too.

use crate::nn::{self, Activation, Batch, Batches, Loss, MlpSpec, Targets, Trainer};
use crate::{Error, GpuContext, Result};

use super::race::{config_rates, losses, race_trainers, Pair, Rates};

/// What the image fit trains and how.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageConfig {
    /// Hidden layer widths; the MLP is `features-hidden-3`, ReLU, mean squared error.
    pub hidden: Vec<usize>,
    /// Octaves of Fourier features per axis.
    pub frequencies: usize,
    /// Pixels per minibatch.
    pub batch: usize,
    pub seed: u64,
    pub muon_lr: f64,
    pub aux_lr: f64,
    pub adamw_lr: f64,
}

impl Default for ImageConfig {
    /// Learning rates from 300 steps on [`default_image`] at 64×64 (lavapipe, seed 0; PSNR of the
    /// clamped reconstruction): AdamW alone at 1e-3 / 3e-3 / 1e-2 reached 22.4 / 26.3 / 24.6 dB;
    /// Muon 0.02 with AdamW 3e-3 next to it 35.4 dB (Muon 0.05 with AdamW 1e-2: 30.3 dB).
    fn default() -> Self {
        Self {
            hidden: vec![128, 128, 128],
            frequencies: 6,
            batch: 512,
            seed: 0,
            muon_lr: 0.02,
            aux_lr: 3e-3,
            adamw_lr: 3e-3,
        }
    }
}

config_rates!(ImageConfig);

/// The Fourier features of every pixel of a `width × height` image, row-major, and their count per pixel.
pub fn pixel_features(width: usize, height: usize, frequencies: usize) -> (Vec<f32>, usize) {
    let per_pixel = 2 + 4 * frequencies;
    let mut out = Vec::with_capacity(width * height * per_pixel);
    // Pixel centres, spread over [-1, 1].
    let coord = |i: usize, n: usize| 2.0 * (i as f64 + 0.5) / n as f64 - 1.0;
    for row in 0..height {
        for col in 0..width {
            let (x, y) = (coord(col, width), coord(row, height));
            out.extend([x as f32, y as f32]);
            for k in 0..frequencies {
                let w = std::f64::consts::PI * (1u64 << k) as f64;
                out.extend(
                    [(w * x).sin(), (w * x).cos(), (w * y).sin(), (w * y).cos()].map(|v| v as f32),
                );
            }
        }
    }
    (out, per_pixel)
}

/// Both coordinate MLPs, the image and the shared order of pixels.
pub struct ImageFit {
    width: usize,
    height: usize,
    features: Vec<f32>,
    per_pixel: usize,
    rgb: Vec<f32>,
    batches: Batches,
    muon: Trainer,
    adamw: Trainer,
    steps: u64,
}

impl ImageFit {
    /// `rgb` holds `width × height × 3` values in `[0, 1]`, row-major.
    pub fn new(
        ctx: &GpuContext,
        rgb: &[f32],
        width: usize,
        height: usize,
        config: &ImageConfig,
    ) -> Result<Self> {
        let pixels = width * height;
        if pixels == 0 || rgb.len() != pixels * 3 {
            return Err(Error::InvalidTensor {
                path: "<image>".into(),
                tensor: "rgb".into(),
                reason: format!(
                    "{} values for a {width}×{height} image, which needs {} (3 per pixel)",
                    rgb.len(),
                    pixels * 3
                ),
            });
        }
        let (features, per_pixel) = pixel_features(width, height, config.frequencies);
        let mut sizes = vec![per_pixel];
        sizes.extend(&config.hidden);
        sizes.push(3);
        let spec = MlpSpec::new(&sizes, Activation::Relu, Loss::MeanSquaredError)?;
        let params = nn::init_params(&spec, config.seed);
        let options = nn::TrainerOptions {
            batch_size: config.batch.min(pixels),
            // The whole image in one launch when drawing the reconstruction.
            eval_batch_size: pixels,
            history: 1024,
        };
        let Pair { muon, adamw } = race_trainers(ctx, spec, &params, config.rates(), options)?;
        Ok(Self {
            width,
            height,
            features,
            per_pixel,
            rgb: rgb.to_vec(),
            batches: Batches::new(pixels, options.batch_size, config.seed)?,
            muon,
            adamw,
            steps: 0,
        })
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Records `steps` steps of both runs into one encoder and submits it.
    pub fn train(&mut self, steps: usize) -> Result<()> {
        let ctx = self.muon.context().clone();
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        let (f, n) = (self.per_pixel, self.batches_len());
        let mut inputs = Vec::with_capacity(n * f);
        let mut targets = Vec::with_capacity(n * 3);
        for _ in 0..steps {
            inputs.clear();
            targets.clear();
            for &p in self.batches.next_indices() {
                inputs.extend_from_slice(&self.features[p * f..(p + 1) * f]);
                targets.extend_from_slice(&self.rgb[p * 3..p * 3 + 3]);
            }
            for trainer in [&mut self.muon, &mut self.adamw] {
                let batch = Batch {
                    inputs: &inputs,
                    targets: Targets::Values(&targets),
                };
                trainer.record_step(&mut encoder, batch)?;
            }
            self.steps += 1;
        }
        ctx.queue.submit([encoder.finish()]);
        Ok(())
    }

    fn batches_len(&self) -> usize {
        self.muon.train_plan().capacity()
    }

    /// The training loss (mean squared error per channel, before its update) of every step
    /// since the last call, oldest first.
    pub async fn read_losses(&mut self) -> Result<Pair<Vec<f64>>> {
        Ok(Pair {
            muon: losses(self.muon.read_metrics().await?),
            adamw: losses(self.adamw.read_metrics().await?),
        })
    }

    /// Both reconstructions of the whole image, `width × height × 3`, unclamped.
    pub async fn predict(&mut self) -> Result<Pair<Vec<f32>>> {
        Ok(Pair {
            muon: self.muon.predict(&self.features).await?,
            adamw: self.adamw.predict(&self.features).await?,
        })
    }

    /// Changes the learning rates from the next step on (see [`Rates::apply`]).
    pub fn set_rates(&mut self, rates: Rates) -> Result<()> {
        rates.apply(self.muon.optimizer_mut(), self.adamw.optimizer_mut())
    }
}

/// The default picture of the demo, `width × height × 3` values in `[0, 1]`: a sunset gradient,
/// overlapping discs with sharp and soft edges, a ring and a patch of fine stripes, so that both
/// smooth areas and high frequencies have to be learned.
pub fn default_image(width: usize, height: usize) -> Vec<f32> {
    let mut rgb = Vec::with_capacity(width * height * 3);
    let smooth = |edge: f64, width: f64, v: f64| ((v - edge) / width + 0.5).clamp(0.0, 1.0);
    for row in 0..height {
        for col in 0..width {
            let (x, y) = (
                (col as f64 + 0.5) / width as f64,
                (row as f64 + 0.5) / height as f64,
            );
            // Sky: deep blue at the top to orange at the bottom.
            let mut c = [0.10 + 0.85 * y, 0.15 + 0.45 * y, 0.45 - 0.25 * y];
            let paint = |c: &mut [f64; 3], colour: [f64; 3], alpha: f64| {
                for (dst, src) in c.iter_mut().zip(colour) {
                    *dst += alpha * (src - *dst);
                }
            };
            let dist = |cx: f64, cy: f64| ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
            // A soft sun, a sharp green disc, a sharp magenta one over it.
            paint(
                &mut c,
                [1.0, 0.9, 0.3],
                1.0 - smooth(0.2, 0.12, dist(0.7, 0.3)),
            );
            paint(
                &mut c,
                [0.1, 0.65, 0.3],
                1.0 - smooth(0.22, 0.01, dist(0.3, 0.72)),
            );
            paint(
                &mut c,
                [0.85, 0.2, 0.6],
                1.0 - smooth(0.12, 0.01, dist(0.45, 0.55)),
            );
            // A white ring.
            let ring = (dist(0.28, 0.28) - 0.14).abs();
            paint(&mut c, [1.0, 1.0, 1.0], 1.0 - smooth(0.02, 0.01, ring));
            // Fine diagonal stripes in the lower right corner.
            if x > 0.68 && y > 0.68 {
                let stripe = (std::f64::consts::PI * 24.0 * (x + y)).sin() * 0.5 + 0.5;
                paint(&mut c, [0.05, 0.05, 0.1], stripe);
            }
            rgb.extend(c.map(|v| v.clamp(0.0, 1.0) as f32));
        }
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BackendChoice;

    /// Muon's and AdamW's rates of the Muon run, the AdamW-only run's rate.
    fn current(fit: &ImageFit) -> (f64, f64, f64) {
        let (m, a) = (
            fit.muon.optimizer().settings(),
            fit.adamw.optimizer().settings(),
        );
        (m.muon[0].lr, m.adam[0].lr, a.adam[0].lr)
    }

    #[test]
    fn an_invalid_rate_is_refused_by_name_and_changes_nothing() {
        let ctx = pollster::block_on(GpuContext::new(BackendChoice::Any)).expect("an adapter");
        let config = ImageConfig {
            hidden: vec![8],
            frequencies: 1,
            batch: 4,
            ..Default::default()
        };
        let mut fit = ImageFit::new(&ctx, &default_image(4, 4), 4, 4, &config).unwrap();
        let before = current(&fit);
        for (rates, key) in [
            (Rates::new(0.05, f64::NAN, 0.01), "aux_lr"),
            (Rates::new(-0.1, 0.01, 0.01), "muon_lr"),
            (Rates::new(0.05, 0.01, f64::INFINITY), "adamw_lr"),
        ] {
            match fit.set_rates(rates) {
                Err(Error::InvalidHyperparameter { key: got, .. }) => assert_eq!(got, key),
                other => panic!("{rates:?}: expected InvalidHyperparameter {key}, got {other:?}"),
            }
            assert_eq!(current(&fit), before, "a refused rate changed none");
        }
        fit.set_rates(Rates::new(0.05, 0.02, 0.01)).unwrap();
        assert_eq!(current(&fit), (0.05, 0.02, 0.01));
    }
}
