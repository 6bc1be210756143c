//! The demo's third mode, "Write like Shakespeare": [`GptRace`], a character-level GPT trained
//! with Muon + AdamW and with AdamW alone ([`crate::demo::gpt`], plain Rust shared with
//! `examples/web_parity.rs --gpt`).

use wasm_bindgen::prelude::*;

use super::context::context;
use super::convert::{js_error, pair};
use super::fields::Fields;
use super::race::race_class;
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

/// Hands the GPT its corpus, the bytes of `data/shakespeare.txt.gz` (`scripts/web.sh` copies it
/// to `pkg/shakespeare.txt.gz`): the wasm leaves it out for its size. Once, before `GptRace.create`.
#[wasm_bindgen(js_name = loadCorpus)]
pub fn load_corpus(bytes: Vec<u8>) {
    crate::nn::text::set_shakespeare_gz(bytes);
}

race_class!(
    /// Both GPTs from the same initialization, trained on the same batches of Shakespeare.
    GptRace(gpt::GptRace), evaluate
);

#[wasm_bindgen]
impl GptRace {
    /// Both runs, ready to train. Options: `context` (64), `width` (64), `heads` (4), `layers`
    /// (2), `batch` (8 sequences), `seed` (0), `muonLr` (0.02), `auxLr` (0.003), `adamwLr` (0.003),
    /// `evalSequences` (16).
    pub async fn create(options: JsValue) -> Result<GptRace, JsError> {
        let f = Fields::new(&options, "GptRace.create's options", GPT_OPTIONS)?;
        let d = gpt::GptRaceConfig::default();
        let rates = f.rates(d.rates())?;
        let mut config = gpt::GptRaceConfig {
            context: f.count("context")?.unwrap_or(d.context),
            width: f.count("width")?.unwrap_or(d.width),
            heads: f.count("heads")?.unwrap_or(d.heads),
            layers: f.count("layers")?.unwrap_or(d.layers),
            batch: f.count("batch")?.unwrap_or(d.batch),
            seed: f.seed(d.seed)?,
            eval_sequences: f.count("evalSequences")?.unwrap_or(d.eval_sequences),
            ..d
        };
        config.set_rates(rates);
        let ctx = context().await?;
        Ok(Self {
            run: gpt::GptRace::new(&ctx, config).map_err(js_error)?,
        })
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
            .run
            .sample(count as usize, temperature, seed as u64)
            .await
            .map_err(js_error)?;
        Ok(pair(s.muon, s.adamw))
    }

    /// Tokens (characters) of one training batch.
    #[wasm_bindgen(getter, js_name = tokensPerStep)]
    pub fn tokens_per_step(&self) -> u32 {
        self.run.tokens_per_step() as u32
    }

    /// Trainable parameters of the GPT.
    #[wasm_bindgen(getter, js_name = parameterCount)]
    pub fn parameter_count(&self) -> u32 {
        self.run.spec().parameter_count() as u32
    }
}
