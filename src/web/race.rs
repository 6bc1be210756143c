//! The demo's race classes: each trains one model twice, with Muon + AdamW and with AdamW alone,
//! from the same initialization on the same data. [`race_class!`] declares what every mode
//! shares (`train`, `readLosses`, `setLearningRates`, `steps`) around a run of [`crate::demo`];
//! each class adds its own constructor and readouts in a second `impl` block.

use js_sys::Float32Array;
use wasm_bindgen::prelude::*;

use super::context::context;
use super::convert::{js_error, pair};
use super::fields::Fields;
use crate::demo::{image, race};

/// Declares the exported class `$name` around the demo run `$run` (a field `run`), with the
/// methods every race shares. wasm-bindgen exports no generics, hence a macro.
macro_rules! race_class {
    ($(#[$doc:meta])* $name:ident($run:ty)) => {
        $(#[$doc])*
        #[wasm_bindgen]
        pub struct $name {
            run: $run,
        }

        #[wasm_bindgen]
        impl $name {
            /// Records `steps` steps of both runs and submits them; returns without waiting for
            /// the GPU.
            pub fn train(&mut self, steps: u32) -> Result<(), JsError> {
                self.run.train(steps as usize).map_err($crate::web::convert::js_error)
            }

            /// `{muon, adamw}`: the training loss of every step since the last call
            /// (`Float64Array`s; mean squared error per channel for an image, nats per character
            /// for the GPT).
            #[wasm_bindgen(js_name = readLosses, unchecked_return_type = "Pair<Float64Array>")]
            pub async fn read_losses(&mut self) -> Result<JsValue, JsError> {
                let losses = self.run.read_losses().await;
                Ok($crate::web::convert::losses(
                    losses.map_err($crate::web::convert::js_error)?,
                ))
            }

            /// Learning rates from the next step on: Muon's, AdamW's next to Muon, the AdamW-only
            /// run's. A rate that is not finite or is below 0 is refused, and none changes.
            #[wasm_bindgen(js_name = setLearningRates)]
            pub fn set_learning_rates(
                &mut self,
                muon_lr: f64,
                aux_lr: f64,
                adamw_lr: f64,
            ) -> Result<(), JsError> {
                let rates = $crate::demo::race::Rates::new(muon_lr, aux_lr, adamw_lr);
                self.run
                    .set_rates(rates)
                    .map_err($crate::web::convert::js_error)
            }

            /// Steps taken by each run.
            #[wasm_bindgen(getter)]
            pub fn steps(&self) -> f64 {
                self.run.steps() as f64
            }
        }
    };
    ($(#[$doc:meta])* $name:ident($run:ty), evaluate) => {
        race_class!($(#[$doc])* $name($run));

        #[wasm_bindgen]
        impl $name {
            /// `{muon, adamw}`: loss and accuracy of each run on held-out data (the 360 test
            /// digits; for the GPT, the validation loss in nats per character and the
            /// next-character accuracy).
            #[wasm_bindgen(unchecked_return_type = "Pair<Metrics>")]
            pub async fn evaluate(&mut self) -> Result<JsValue, JsError> {
                use $crate::web::convert::{js_error, metrics, pair};
                let m = self.run.evaluate().await.map_err(js_error)?;
                Ok(pair(metrics(m.muon), metrics(m.adamw)))
            }
        }
    };
}
pub(super) use race_class;

const RACE_OPTIONS: &[&str] = &["hidden", "batch", "seed", "muonLr", "auxLr", "adamwLr"];

race_class!(
    /// The demo's first mode: the digits MLP trained with Muon + AdamW and with AdamW alone,
    /// from the same initialization on the same minibatches, both on the GPU.
    DigitsRace(race::Race), evaluate
);

#[wasm_bindgen]
impl DigitsRace {
    /// Both runs, ready to train.
    pub async fn create(
        #[wasm_bindgen(unchecked_optional_param_type = "RaceOptions")] options: JsValue,
    ) -> Result<DigitsRace, JsError> {
        let f = Fields::new(&options, "DigitsRace.create's options", RACE_OPTIONS)?;
        let d = race::RaceConfig::default();
        let rates = f.rates(d.rates())?;
        let mut config = race::RaceConfig {
            hidden: f.widths("hidden")?.unwrap_or(d.hidden),
            batch: f.count("batch")?.unwrap_or(d.batch),
            seed: f.seed(d.seed)?,
            ..d
        };
        config.set_rates(rates);
        let ctx = context().await?;
        Ok(Self {
            run: race::Race::new(&ctx, config).map_err(js_error)?,
        })
    }

    /// Trainable parameters of the MLP.
    #[wasm_bindgen(getter, js_name = parameterCount)]
    pub fn parameter_count(&self) -> u32 {
        self.run.parameter_count() as u32
    }

    /// The MLP's layer widths, e.g. `[64, 128, 128, 10]`.
    #[wasm_bindgen(getter)]
    pub fn sizes(&self) -> Vec<u32> {
        let c = self.run.config();
        std::iter::once(64)
            .chain(c.hidden.iter().copied())
            .chain([10])
            .map(|s| s as u32)
            .collect()
    }
}

/// The default picture of the "fit an image" mode: `width × height × 3` values in `[0, 1]`.
#[wasm_bindgen(js_name = defaultImage)]
pub fn default_image(width: u32, height: u32) -> Vec<f32> {
    image::default_image(width as usize, height as usize)
}

race_class!(
    /// The demo's second mode: two coordinate MLPs learn one image, one with Muon + AdamW and
    /// one with AdamW alone.
    ImageRace(image::ImageFit)
);

#[wasm_bindgen]
impl ImageRace {
    /// Both runs on `rgb` (`width × height × 3` values in `[0, 1]`, row-major).
    pub async fn create(
        rgb: &[f32],
        width: u32,
        height: u32,
        #[wasm_bindgen(unchecked_optional_param_type = "ImageOptions")] options: JsValue,
    ) -> Result<ImageRace, JsError> {
        let known: Vec<&str> = RACE_OPTIONS
            .iter()
            .copied()
            .chain(["frequencies"])
            .collect();
        let f = Fields::new(&options, "ImageRace.create's options", &known)?;
        let d = image::ImageConfig::default();
        let rates = f.rates(d.rates())?;
        let mut config = image::ImageConfig {
            hidden: f.widths("hidden")?.unwrap_or(d.hidden),
            frequencies: f.count("frequencies")?.unwrap_or(d.frequencies).min(16),
            batch: f.count("batch")?.unwrap_or(d.batch),
            seed: f.seed(d.seed)?,
            ..d
        };
        config.set_rates(rates);
        let ctx = context().await?;
        let run = image::ImageFit::new(&ctx, rgb, width as usize, height as usize, &config)
            .map_err(js_error)?;
        Ok(Self { run })
    }

    /// `{muon, adamw}`: both reconstructions, `width × height × 3` values (`Float32Array`s).
    #[wasm_bindgen(unchecked_return_type = "Pair<Float32Array>")]
    pub async fn predict(&mut self) -> Result<JsValue, JsError> {
        let p = self.run.predict().await.map_err(js_error)?;
        Ok(pair(
            Float32Array::from(p.muon.as_slice()),
            Float32Array::from(p.adamw.as_slice()),
        ))
    }

    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.run.width() as u32
    }

    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.run.height() as u32
    }
}
