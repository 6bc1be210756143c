//! The demo's third mode, "Write like Shakespeare": [`GptRace`], a character-level GPT trained
//! with Muon + AdamW and with AdamW alone ([`crate::demo::gpt`], plain Rust shared with
//! `examples/web_parity.rs --gpt`).

use wasm_bindgen::prelude::*;

use super::{context, js_error, losses, metrics, pair, Fields};
use crate::demo::gpt;

const GPT_OPTIONS: &[&str] = &[
    "context",
    "width",
    "heads",
    "layers",
    "batch",
    "seed",
    "muonLr",
    "auxLr",
    "adamwLr",
    "evalSequences",
];

/// Both GPTs from the same initialization, trained on the same batches of Shakespeare.
#[wasm_bindgen]
pub struct GptRace {
    race: gpt::GptRace,
}

#[wasm_bindgen]
impl GptRace {
    /// Both runs, ready to train. Options: `context` (64), `width` (64), `heads` (4), `layers`
    /// (2), `batch` (8 sequences), `seed` (0), `muonLr` (0.02), `auxLr` (0.003), `adamwLr` (0.003),
    /// `evalSequences` (16).
    pub async fn create(options: JsValue) -> Result<GptRace, JsError> {
        let f = Fields::new(&options, "GptRace.create's options", GPT_OPTIONS)?;
        let d = gpt::GptRaceConfig::default();
        let config = gpt::GptRaceConfig {
            context: f.count("context")?.unwrap_or(d.context),
            width: f.count("width")?.unwrap_or(d.width),
            heads: f.count("heads")?.unwrap_or(d.heads),
            layers: f.count("layers")?.unwrap_or(d.layers),
            batch: f.count("batch")?.unwrap_or(d.batch),
            seed: f.count("seed")?.map_or(d.seed, |s| s as u64),
            muon_lr: f.number("muonLr")?.unwrap_or(d.muon_lr),
            aux_lr: f.number("auxLr")?.unwrap_or(d.aux_lr),
            adamw_lr: f.number("adamwLr")?.unwrap_or(d.adamw_lr),
            eval_sequences: f.count("evalSequences")?.unwrap_or(d.eval_sequences),
        };
        let ctx = context().await?;
        Ok(Self {
            race: gpt::GptRace::new(&ctx, config).map_err(js_error)?,
        })
    }

    /// Submits `steps` steps of both runs (one submit per step and run); returns without waiting.
    pub fn train(&mut self, steps: u32) -> Result<(), JsError> {
        self.race.train(steps as usize).map_err(js_error)
    }

    /// `{muon, adamw}`: the training loss of every step since the last call (`Float64Array`s).
    #[wasm_bindgen(js_name = readLosses, unchecked_return_type = "Pair<Float64Array>")]
    pub async fn read_losses(&mut self) -> Result<JsValue, JsError> {
        Ok(losses(self.race.read_losses().await.map_err(js_error)?))
    }

    /// `{muon, adamw}`: validation loss (nats per character) and next-character accuracy.
    #[wasm_bindgen(unchecked_return_type = "Pair<Metrics>")]
    pub async fn evaluate(&mut self) -> Result<JsValue, JsError> {
        let m = self.race.evaluate().await.map_err(js_error)?;
        Ok(pair(metrics(m.muon), metrics(m.adamw)))
    }

    /// `{muon, adamw}`: `count` characters written by each model after a newline.
    #[wasm_bindgen(unchecked_return_type = "Pair<string>")]
    pub async fn sample(
        &mut self,
        count: u32,
        temperature: f64,
        seed: u32,
    ) -> Result<JsValue, JsError> {
        let s = self
            .race
            .sample(count as usize, temperature, seed as u64)
            .await
            .map_err(js_error)?;
        Ok(pair(s.muon, s.adamw))
    }

    /// Learning rates from the next step on: Muon's, AdamW's next to Muon, the AdamW-only run's.
    #[wasm_bindgen(js_name = setLearningRates)]
    pub fn set_learning_rates(
        &mut self,
        muon_lr: f64,
        aux_lr: f64,
        adamw_lr: f64,
    ) -> Result<(), JsError> {
        self.race
            .set_rates(muon_lr, aux_lr, adamw_lr)
            .map_err(js_error)
    }

    /// Steps taken by each run.
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> f64 {
        self.race.steps() as f64
    }

    /// Tokens (characters) of one training batch.
    #[wasm_bindgen(getter, js_name = tokensPerStep)]
    pub fn tokens_per_step(&self) -> u32 {
        self.race.tokens_per_step() as u32
    }

    /// Trainable parameters of the GPT.
    #[wasm_bindgen(getter, js_name = parameterCount)]
    pub fn parameter_count(&self) -> u32 {
        self.race.spec().parameter_count() as u32
    }
}
