//! The web demo's digits race: one MLP trained twice from the same initialization on the same
//! minibatches, once with Muon for the hidden matrices + AdamW for the rest, once with AdamW
//! alone, both on the GPU.
//!
//! No browser code here: `src/web` binds it for the page and `examples/web_parity.rs` runs it
//! natively, so the browser run and the native run of the same [`RaceConfig`] execute exactly
//! the same Rust.

use crate::nn::{self, Activation, Batch, Batches, Loss, MlpSpec, Split, Targets, Trainer};
use crate::{Error, GpuContext, Group, Optimizer, Overrides, Preset, Result, Route, Settings};

/// What the race trains and how.
#[derive(Clone, Debug, PartialEq)]
pub struct RaceConfig {
    /// Hidden layer widths; the MLP is `64-hidden-10`, ReLU, softmax cross-entropy.
    pub hidden: Vec<usize>,
    /// Samples per minibatch.
    pub batch: usize,
    /// Seed of the initialization and of the minibatch order (both runs share them).
    pub seed: u64,
    /// Muon's learning rate (hidden matrices).
    pub muon_lr: f64,
    /// AdamW's learning rate next to Muon (first and last layer, biases).
    pub aux_lr: f64,
    /// The AdamW-only baseline's learning rate.
    pub adamw_lr: f64,
}

impl Default for RaceConfig {
    /// `examples/train.rs`'s MLP (64-128-128-10) and the learning rates its `--sweep` chose
    /// for the digits.
    fn default() -> Self {
        Self {
            hidden: vec![128, 128],
            batch: 64,
            seed: 0,
            muon_lr: 0.01,
            aux_lr: 1e-2,
            adamw_lr: 1e-2,
        }
    }
}

/// `rates()` and `set_rates()` of a config with the fields `muon_lr`, `aux_lr` and `adamw_lr`
/// (the three run configs keep them flat, as `examples/web_parity.rs` fills them).
macro_rules! config_rates {
    ($config:ty) => {
        impl $config {
            /// The three learning rates.
            pub fn rates(&self) -> $crate::demo::race::Rates {
                $crate::demo::race::Rates::new(self.muon_lr, self.aux_lr, self.adamw_lr)
            }

            /// Replaces the three learning rates (unchecked: [`Rates::apply`] checks them).
            ///
            /// [`Rates::apply`]: $crate::demo::race::Rates::apply
            pub fn set_rates(&mut self, rates: $crate::demo::race::Rates) {
                (self.muon_lr, self.aux_lr, self.adamw_lr) = (rates.muon, rates.aux, rates.adamw);
            }
        }
    };
}
pub(super) use config_rates;

config_rates!(RaceConfig);

/// The three learning rates of a race, as the page's sliders set them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rates {
    /// Muon's, on the Muon run's matrices.
    pub muon: f64,
    /// AdamW's next to Muon, on the Muon run's other parameters.
    pub aux: f64,
    /// The AdamW-only run's.
    pub adamw: f64,
}

impl Rates {
    /// In the order of the page's sliders and of `setLearningRates`.
    pub fn new(muon: f64, aux: f64, adamw: f64) -> Self {
        Self { muon, aux, adamw }
    }

    /// Refuses a rate that is not finite or is below 0, by its name (`muon_lr`, `aux_lr`, `adamw_lr`).
    pub fn validate(&self) -> Result<()> {
        for (key, v) in [
            ("muon_lr", self.muon),
            ("aux_lr", self.aux),
            ("adamw_lr", self.adamw),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::InvalidHyperparameter {
                    key: key.into(),
                    value: v.to_string(),
                    reason: "must be a finite number >= 0".into(),
                });
            }
        }
        Ok(())
    }

    /// Sets the rates from the next step on: Muon's and AdamW's groups of the Muon run's
    /// optimizer, the AdamW group of the AdamW-only run's. All three are checked first, so a
    /// refused rate changes none.
    pub fn apply(&self, muon: &mut Optimizer, adamw: &mut Optimizer) -> Result<()> {
        self.validate()?;
        muon.set_lr(Group::Muon(0), self.muon)?;
        muon.set_lr(Group::AdamW(0), self.aux)?;
        adamw.set_lr(Group::AdamW(0), self.adamw)
    }
}

/// Settings of one run: PyTorch semantics, no weight decay, so that the runs differ only in the
/// optimizer of the hidden matrices.
pub fn race_settings(muon_lr: f64, adam_lr: f64) -> Result<Settings> {
    Preset::Torch.settings(&Overrides {
        lr: Some(muon_lr),
        adam_lr: Some(adam_lr),
        weight_decay: Some(0.0),
        adam_weight_decay: Some(0.0),
        ..Default::default()
    })
}

/// The two trainers of a race, from the same initialization: Muon for the hidden matrices (AdamW
/// at `aux_lr` for the rest), and AdamW alone at `adamw_lr`.
pub fn race_trainers(
    ctx: &GpuContext,
    spec: MlpSpec,
    params: &[nn::LayerParams],
    rates: Rates,
    options: nn::TrainerOptions,
) -> Result<Pair<Trainer>> {
    Ok(Pair {
        muon: Trainer::new(
            ctx,
            spec.clone(),
            params,
            race_settings(rates.muon, rates.aux)?,
            nn::muon_for_hidden,
            options,
        )?,
        adamw: Trainer::new(
            ctx,
            spec,
            params,
            race_settings(rates.muon, rates.adamw)?,
            |_: &nn::ParamRole| Route::AdamW(0),
            options,
        )?,
    })
}

/// A metric of both runs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pair<T> {
    pub muon: T,
    pub adamw: T,
}

/// Both trainers, the data and the shared minibatch order.
pub struct Race {
    config: RaceConfig,
    data: Split,
    batches: Batches,
    muon: Trainer,
    adamw: Trainer,
    steps: u64,
}

impl Race {
    /// Builds both runs from the same initialization.
    pub fn new(ctx: &GpuContext, config: RaceConfig) -> Result<Self> {
        let data = nn::data::digits()?;
        let mut sizes = vec![data.train.features];
        sizes.extend(&config.hidden);
        sizes.push(data.train.classes);
        let spec = MlpSpec::new(&sizes, Activation::Relu, Loss::SoftmaxCrossEntropy)?;
        let params = nn::init_params(&spec, config.seed);
        let options = nn::TrainerOptions {
            batch_size: config.batch,
            // The page reads the history every few steps; a short one keeps memory small.
            history: 1024,
            ..Default::default()
        };
        let Pair { muon, adamw } = race_trainers(ctx, spec, &params, config.rates(), options)?;
        let batches = Batches::new(data.train.len(), config.batch, config.seed)?;
        Ok(Self {
            config,
            data,
            batches,
            muon,
            adamw,
            steps: 0,
        })
    }

    pub fn config(&self) -> &RaceConfig {
        &self.config
    }

    /// Steps recorded so far (each step trains both runs on the same minibatch).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The parameter count of the MLP.
    pub fn parameter_count(&self) -> usize {
        self.muon.spec().parameter_count()
    }

    /// Records `steps` training steps of both runs into one encoder and submits it; returns
    /// without waiting for the GPU.
    pub fn train(&mut self, steps: usize) -> Result<()> {
        let ctx = self.muon.context().clone();
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        for _ in 0..steps {
            let (inputs, labels) = self.data.train.gather(self.batches.next_indices());
            for trainer in [&mut self.muon, &mut self.adamw] {
                let batch = Batch {
                    inputs: &inputs,
                    targets: Targets::Labels(&labels),
                };
                trainer.record_step(&mut encoder, batch)?;
            }
            self.steps += 1;
        }
        ctx.queue.submit([encoder.finish()]);
        Ok(())
    }

    /// The training loss (before its update) of every step since the last call, oldest first.
    pub async fn read_losses(&mut self) -> Result<Pair<Vec<f64>>> {
        Ok(Pair {
            muon: losses(self.muon.read_metrics().await?),
            adamw: losses(self.adamw.read_metrics().await?),
        })
    }

    /// Loss and accuracy of both runs on the 360 test digits.
    pub async fn evaluate(&mut self) -> Result<Pair<nn::Metrics>> {
        Ok(Pair {
            muon: self.muon.evaluate_dataset(&self.data.test).await?,
            adamw: self.adamw.evaluate_dataset(&self.data.test).await?,
        })
    }

    /// Changes the learning rates from the next step on (see [`Rates::apply`]).
    pub fn set_rates(&mut self, rates: Rates) -> Result<()> {
        rates.apply(self.muon.optimizer_mut(), self.adamw.optimizer_mut())?;
        self.config.set_rates(rates);
        Ok(())
    }
}

/// The training loss of each step of a metrics history, oldest first.
pub fn losses(history: Vec<nn::Metrics>) -> Vec<f64> {
    history.into_iter().map(|m| m.loss).collect()
}
