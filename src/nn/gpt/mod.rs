//! A decoder-only transformer (a character-level GPT) trained on the GPU with the crate's
//! optimizer: forward and backward in WGSL (`shaders/gpt_*.wgsl`) on the crate's matmul, every
//! gradient written straight into the optimizer's buffers, one submit per training step.
//!
//! The model, nanoGPT's with modded-nanogpt's parameter-free RMSNorm:
//! ```text
//! x₀ = wte[token] + wpe[position]                                   token and learned position embeddings
//! for each block:
//!     x ← x + attn(rms(x))·Woᵀ       attn: causal multi-head softmax(q·kᵀ/√d_head)·v, q k v = rms(x)·Wqkvᵀ
//!     x ← x + gelu(rms(x)·W₁ᵀ + b₁)·W₂ᵀ                              MLP 4× wide, exact GELU
//! logits = rms(x)·Whᵀ                                               untied head
//! L = mean over positions of softmax cross-entropy(logits, next token)
//! rms(x) = x / √(mean(x²) + ε)                                      PyTorch's F.rms_norm without weight
//! ```
//!
//! - [`GptSpec`]: the sizes; [`GptParam`]: each parameter's name, shape and kind; [`init_params`]: nanoGPT's initialization.
//! - [`reference`](mod@reference): the f64 CPU reference of every layer, forward and backward.
//! - [`kernels`]: the new kernels' uniforms and dispatches.
//! - [`model`]: the parameters on the GPU.
//! - [`plan`]: the recorded plan of a batch (buffers, forward and backward launches).
//! - [`trainer`]: a GPT with its optimizer: evaluation, sampling (the steps are the shared
//!   [`ModelTrainer`](crate::nn::trainer::ModelTrainer)'s).

pub mod kernels;
pub mod model;
pub mod plan;
pub mod reference;
pub mod trainer;

pub use model::Gpt;
pub use plan::{GptPlan, TokenBatchRef};
pub use trainer::{GptTrainer, GptTrainerOptions};

use crate::error::{Error, Result};
use crate::settings::Route;

use super::data::Rng;

/// `ε` of every RMSNorm.
pub const RMS_EPS: f32 = 1e-5;
/// The MLP's hidden width, in multiples of the model width.
pub const MLP_RATIO: usize = 4;

/// The sizes of a GPT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GptSpec {
    /// Tokens in the vocabulary.
    pub vocab: usize,
    /// Positions (the context length; every sequence has this many).
    pub context: usize,
    /// Model width `C`.
    pub width: usize,
    /// Attention heads (`C / heads` is the head size).
    pub heads: usize,
    /// Transformer blocks.
    pub layers: usize,
}

/// Largest size of any dimension: keeps every index within `u32`.
const MAX_SIZE: usize = 1 << 16;

impl GptSpec {
    /// Checks the sizes: every one positive and at most 2¹⁶, `width` a multiple of `heads`.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Error::InvalidShape {
            name: "gpt".into(),
            shape: vec![
                self.vocab,
                self.context,
                self.width,
                self.heads,
                self.layers,
            ],
            reason,
        };
        for (what, v) in [
            ("vocab", self.vocab),
            ("context", self.context),
            ("width", self.width),
            ("heads", self.heads),
            ("layers", self.layers),
        ] {
            if v == 0 || v > MAX_SIZE {
                return Err(bad(format!("{what} = {v} must be between 1 and 2^16")));
            }
        }
        if !self.width.is_multiple_of(self.heads) {
            return Err(bad(format!(
                "width {} is not a multiple of the {} heads",
                self.width, self.heads
            )));
        }
        Ok(())
    }

    /// Size of one head.
    pub fn head_size(&self) -> usize {
        self.width / self.heads
    }

    /// The MLP's hidden width.
    pub fn hidden(&self) -> usize {
        MLP_RATIO * self.width
    }

    /// Every parameter, in registration order.
    pub fn params(&self) -> Vec<GptParam> {
        let (v, t, c, h) = (self.vocab, self.context, self.width, self.hidden());
        let mut out = vec![
            GptParam::new(ParamKind::TokenEmbedding, vec![v, c]),
            GptParam::new(ParamKind::PositionEmbedding, vec![t, c]),
        ];
        for l in 0..self.layers {
            out.extend([
                GptParam::new(ParamKind::AttentionQkv(l), vec![3 * c, c]),
                GptParam::new(ParamKind::AttentionProj(l), vec![c, c]),
                GptParam::new(ParamKind::MlpFc(l), vec![h, c]),
                GptParam::new(ParamKind::MlpFcBias(l), vec![h]),
                GptParam::new(ParamKind::MlpProj(l), vec![c, h]),
            ]);
        }
        out.push(GptParam::new(ParamKind::Head, vec![v, c]));
        out
    }

    /// Index in [`params`](Self::params) of a kind.
    pub fn index(&self, kind: ParamKind) -> usize {
        match kind {
            ParamKind::TokenEmbedding => 0,
            ParamKind::PositionEmbedding => 1,
            ParamKind::AttentionQkv(l) => 2 + 5 * l,
            ParamKind::AttentionProj(l) => 3 + 5 * l,
            ParamKind::MlpFc(l) => 4 + 5 * l,
            ParamKind::MlpFcBias(l) => 5 + 5 * l,
            ParamKind::MlpProj(l) => 6 + 5 * l,
            ParamKind::Head => 2 + 5 * self.layers,
        }
    }

    /// Trainable parameters in all.
    pub fn parameter_count(&self) -> usize {
        self.params().iter().map(GptParam::len).sum()
    }
}

/// What a parameter is; block parameters carry their block's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamKind {
    TokenEmbedding,
    PositionEmbedding,
    AttentionQkv(usize),
    AttentionProj(usize),
    MlpFc(usize),
    MlpFcBias(usize),
    MlpProj(usize),
    Head,
}

/// A parameter: its kind and shape (weights `(out, in)` as PyTorch's `nn.Linear`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GptParam {
    pub kind: ParamKind,
    pub shape: Vec<usize>,
}

impl GptParam {
    fn new(kind: ParamKind, shape: Vec<usize>) -> Self {
        Self { kind, shape }
    }

    /// Elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// nanoGPT's name: `wte`, `wpe`, `blocks.<l>.attn.qkv`, `blocks.<l>.attn.proj`,
    /// `blocks.<l>.mlp.fc`, `blocks.<l>.mlp.fc.bias`, `blocks.<l>.mlp.proj`, `head`.
    pub fn name(&self) -> String {
        match self.kind {
            ParamKind::TokenEmbedding => "wte".into(),
            ParamKind::PositionEmbedding => "wpe".into(),
            ParamKind::AttentionQkv(l) => format!("blocks.{l}.attn.qkv"),
            ParamKind::AttentionProj(l) => format!("blocks.{l}.attn.proj"),
            ParamKind::MlpFc(l) => format!("blocks.{l}.mlp.fc"),
            ParamKind::MlpFcBias(l) => format!("blocks.{l}.mlp.fc.bias"),
            ParamKind::MlpProj(l) => format!("blocks.{l}.mlp.proj"),
            ParamKind::Head => "head".into(),
        }
    }

    /// A weight matrix inside a block (attention or MLP): what Muon is for.
    pub fn is_block_matrix(&self) -> bool {
        matches!(
            self.kind,
            ParamKind::AttentionQkv(_)
                | ParamKind::AttentionProj(_)
                | ParamKind::MlpFc(_)
                | ParamKind::MlpProj(_)
        )
    }
}

/// nanoGPT's initialization from a seed: every weight and embedding normal with std 0.02, the two
/// projections into the residual stream 0.02/√(2·layers), biases zero. One vector per
/// [`GptSpec::params`] entry; the same seed gives the same values on every platform.
pub fn init_params(spec: &GptSpec, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    let residual = 0.02 / (2.0 * spec.layers as f64).sqrt();
    spec.params()
        .iter()
        .map(|p| {
            let std = match p.kind {
                ParamKind::MlpFcBias(_) => 0.0,
                ParamKind::AttentionProj(_) | ParamKind::MlpProj(_) => residual,
                _ => 0.02,
            };
            (0..p.len()).map(|_| (std * rng.normal()) as f32).collect()
        })
        .collect()
}

/// Muon (group 0) for the attention and MLP matrices; AdamW (group 0) for the embeddings, the
/// head and the biases: the split of KellerJordan's `MuonWithAuxAdam` and modded-nanogpt.
pub fn muon_for_blocks(param: &GptParam) -> Route {
    super::model::muon_if(param.is_block_matrix())
}

/// AdamW (group 0) for every parameter: the baseline.
pub fn adamw_only(_: &GptParam) -> Route {
    Route::AdamW(0)
}
