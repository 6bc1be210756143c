//! The recorded plan (forward, loss, metrics, backward) that runs a batch of sequences through
//! the GPT.
//!
//! With `N = sequences × positions` rows, a plan's launches are
//! ```text
//! forward   x₀ ← wte[tok] + wpe[pos]                gpt_embedding
//!           per block: n₁ ← rms(x)                  gpt_rms_norm
//!                      qkv ← n₁·Wqkvᵀ               matmul
//!                      p, y ← attention(qkv)         gpt_attention
//!                      x' ← y·Woᵀ + x               matmul with the residual as addend
//!                      n₂ ← rms(x'); h ← n₂·W₁ᵀ     gpt_rms_norm, matmul
//!                      h ← h + b₁; a ← gelu(h)      nn_bias_activation
//!                      x'' ← a·W₂ᵀ + x'             matmul
//!           n_f ← rms(x_L); logits ← n_f·Whᵀ         gpt_rms_norm, matmul
//!           dlogits, per-row loss; history entry    nn_softmax_cross_entropy, nn_batch_metrics
//! backward  dWh ← dlogitsᵀ·n_f; dn ← dlogits·Wh; dx ← rms'(dn)
//!           per block, last first: the MLP (dW₂, da, gelu', db₁, dW₁, dn₂, dx += rms'(dn₂)),
//!           then attention (dWo, dy, gpt_attention_backward_query/_key, dWqkv, dn₁, dx += rms'(dn₁))
//!           dwte, dwpe ← dx                          gpt_embedding_backward
//! ```
//! Every parameter gradient is written by its matmul or kernel straight into the buffer the
//! optimizer reads.

use crate::error::{Error, Result};
use crate::gpu::readback::BufferRange;
use crate::gpu::GpuContext;
use crate::nn::batch::{bad_batch, whole_rows};
use crate::nn::kernels::LossOperands;
use crate::nn::model::{Activation, Loss};
use crate::nn::plan::{
    check_sizes, storage, BatchPlan, Inputs, Model, PlanBuffers, PlanSizes, Recorder, Staged,
};
use crate::optimizer::OptimizerBuilder;
use crate::settings::Route;

use super::kernels::{AttentionBackward, AttentionDims, EmbeddingDims, NormDims};
use super::model::{Gpt, ParamBuffers};
use super::{GptParam, GptSpec, ParamKind, RMS_EPS};

/// A batch of `sequences × context` tokens and their next-token targets.
#[derive(Clone, Copy, Debug)]
pub struct TokenBatchRef<'a> {
    pub inputs: &'a [u32],
    pub targets: &'a [u32],
}

impl TokenBatchRef<'_> {
    /// Checks a batch: whole sequences of `spec.context`, at most `capacity` of them, tokens and
    /// targets inside the vocabulary. Returns its sequences.
    fn check(&self, spec: &GptSpec, capacity: usize) -> Result<usize> {
        let t = spec.context;
        let bad = bad_batch;
        let (len, row) = (self.inputs.len(), t.to_string());
        let sequences = whole_rows(len, t, capacity, ["tokens", "sequences", &row])?;
        if self.targets.len() != self.inputs.len() {
            return Err(bad(
                "targets",
                format!(
                    "{} targets for {} tokens",
                    self.targets.len(),
                    self.inputs.len()
                ),
            ));
        }
        for (name, values) in [("inputs", self.inputs), ("targets", self.targets)] {
            if let Some(i) = values.iter().position(|&v| v as usize >= spec.vocab) {
                return Err(bad(
                    name,
                    format!(
                        "token {} at {i} is not below the vocabulary of {}",
                        values[i], spec.vocab
                    ),
                ));
            }
        }
        Ok(sequences)
    }
}

/// What a GPT plan uploads: tokens and their next-token targets.
pub struct TokenInputs {
    spec: GptSpec,
    /// `capacity × context` tokens.
    tokens: wgpu::Buffer,
    /// `capacity × context` targets.
    targets: wgpu::Buffer,
    /// `capacity·context × vocab`.
    logits: wgpu::Buffer,
}

impl Inputs for TokenInputs {
    type Batch<'a> = TokenBatchRef<'a>;

    fn check(&self, capacity: usize, batch: &TokenBatchRef<'_>) -> Result<usize> {
        batch.check(&self.spec, capacity)
    }

    fn stage(&self, capacity: usize, batch: &TokenBatchRef<'_>) -> Result<Staged> {
        batch.check(&self.spec, capacity)?;
        let n = capacity * self.spec.context;
        let mut words: Vec<u32> = Vec::with_capacity(2 * n + 4);
        // Padding sequences are token 0; the loss gives them no gradient.
        words.extend_from_slice(batch.inputs);
        words.resize(n, 0);
        words.extend_from_slice(batch.targets);
        words.resize(2 * n, 0);
        Ok(Staged {
            words,
            inputs: n,
            rows: batch.inputs.len() as u32,
        })
    }

    fn buffers(&self) -> [&wgpu::Buffer; 2] {
        [&self.tokens, &self.targets]
    }

    fn outputs(&self) -> &wgpu::Buffer {
        &self.logits
    }
}

/// The recorded launches and activation buffers for batches of up to `capacity` sequences.
/// Created once (its pipelines warmed up then); each [`record`](BatchPlan::record) uploads a batch
/// and replays the launches in one compute pass.
pub type GptPlan = BatchPlan<TokenInputs>;

impl GptPlan {
    /// The logits, `capacity·context × vocab` (rows past the batch are padding).
    pub fn logits_buffer(&self) -> &wgpu::Buffer {
        &self.inputs.logits
    }
}

/// The sizes of a plan's launches.
struct Shapes {
    /// Tokens in a batch, `N`.
    rows: u32,
    width: u32,
    hidden: u32,
    vocab: u32,
    embedding: EmbeddingDims,
    attention: AttentionDims,
    /// Attention probabilities of a batch: `sequences × heads × positions²`.
    probs: u64,
}

impl Shapes {
    fn new(spec: &GptSpec, capacity: usize) -> Self {
        let (t, c, v) = (spec.context as u32, spec.width as u32, spec.vocab as u32);
        let rows = capacity as u32 * t;
        Self {
            rows,
            width: c,
            hidden: spec.hidden() as u32,
            vocab: v,
            embedding: EmbeddingDims {
                rows,
                width: c,
                positions: t,
                vocab: v,
            },
            attention: AttentionDims {
                sequences: capacity as u32,
                positions: t,
                width: c,
                heads: spec.heads as u32,
                head_size: spec.head_size() as u32,
                scale: 1.0 / (spec.head_size() as f32).sqrt(),
                _pad: [0; 2],
            },
            probs: capacity as u64 * spec.heads as u64 * t as u64 * t as u64,
        }
    }

    /// The RMSNorm's uniform; `accumulate` makes the backward add to `dx`.
    fn norm(&self, accumulate: bool) -> NormDims {
        NormDims {
            rows: self.rows,
            cols: self.width,
            eps: RMS_EPS,
            accumulate: accumulate as u32,
        }
    }

    /// `N` times `per_row` values.
    fn n(&self, per_row: u32) -> u64 {
        self.rows as u64 * per_row as u64
    }
}

/// Checks that the largest activations of `capacity` sequences fit one storage binding and
/// index within `u32`.
fn check_activations(ctx: &GpuContext, shapes: &Shapes, capacity: usize) -> Result<()> {
    let limit = ctx.limits().max_storage_buffer_binding_size;
    let n = shapes.rows as u64;
    for (what, floats) in [
        ("attention probabilities", shapes.probs),
        ("MLP activations", n * shapes.hidden as u64),
        ("logits", n * shapes.vocab as u64),
    ] {
        if floats * 4 > limit || floats >= 1 << 32 {
            return Err(Error::TooLarge {
                what: format!("{what} of {capacity} sequences"),
                bytes: floats * 4,
                limit,
            });
        }
    }
    Ok(())
}

/// The buffers one block's forward pass keeps for its backward pass.
struct BlockBuffers {
    norm1: wgpu::Buffer,
    rstd1: wgpu::Buffer,
    qkv: wgpu::Buffer,
    probs: wgpu::Buffer,
    attended: wgpu::Buffer,
    norm2: wgpu::Buffer,
    rstd2: wgpu::Buffer,
    hidden: wgpu::Buffer,
    activated: wgpu::Buffer,
}

/// The forward pass's buffers.
struct Activations {
    /// Residual stream: the embedding, then after each block's attention and MLP.
    stream: Vec<wgpu::Buffer>,
    blocks: Vec<BlockBuffers>,
    final_norm: wgpu::Buffer,
    final_rstd: wgpu::Buffer,
    dlogits: wgpu::Buffer,
    row_stats: wgpu::Buffer,
}

impl Activations {
    fn new(device: &wgpu::Device, s: &Shapes, layers: usize) -> Self {
        let (c, hid) = (s.width, s.hidden);
        let block = |_| BlockBuffers {
            norm1: storage(device, "gpt norm", s.n(c)),
            rstd1: storage(device, "gpt rstd", s.n(1)),
            qkv: storage(device, "gpt qkv", s.n(3 * c)),
            probs: storage(device, "gpt probabilities", s.probs),
            attended: storage(device, "gpt attended", s.n(c)),
            norm2: storage(device, "gpt norm", s.n(c)),
            rstd2: storage(device, "gpt rstd", s.n(1)),
            hidden: storage(device, "gpt hidden", s.n(hid)),
            activated: storage(device, "gpt activated", s.n(hid)),
        };
        Self {
            stream: (0..=2 * layers)
                .map(|_| storage(device, "gpt residual", s.n(c)))
                .collect(),
            blocks: (0..layers).map(block).collect(),
            final_norm: storage(device, "gpt final norm", s.n(c)),
            final_rstd: storage(device, "gpt final rstd", s.n(1)),
            dlogits: storage(device, "gpt dlogits", s.n(s.vocab)),
            row_stats: storage(device, "gpt row stats", s.n(2)),
        }
    }
}

/// The backward pass's scratch buffers, reused by every block.
struct Gradients {
    dstream: wgpu::Buffer,
    dnorm: wgpu::Buffer,
    dattended: wgpu::Buffer,
    dqkv: wgpu::Buffer,
    dscores: wgpu::Buffer,
    dhidden: wgpu::Buffer,
}

impl Gradients {
    fn new(device: &wgpu::Device, s: &Shapes) -> Self {
        Self {
            dstream: storage(device, "gpt residual grad", s.n(s.width)),
            dnorm: storage(device, "gpt norm grad", s.n(s.width)),
            dattended: storage(device, "gpt attended grad", s.n(s.width)),
            dqkv: storage(device, "gpt qkv grad", s.n(3 * s.width)),
            dscores: storage(device, "gpt score grad", s.probs),
            dhidden: storage(device, "gpt hidden grad", s.n(s.hidden)),
        }
    }
}

/// Records the plan of `sizes.capacity` sequences.
pub(super) fn new_plan(gpt: &Gpt, sizes: PlanSizes) -> Result<GptPlan> {
    check_sizes(sizes.capacity, sizes.history)?;
    let s = Shapes::new(&gpt.spec, sizes.capacity);
    check_activations(&gpt.gpu.ctx, &s, sizes.capacity)?;
    let device = &gpt.gpu.ctx.device;
    let inputs = TokenInputs {
        spec: gpt.spec,
        tokens: storage(device, "gpt tokens", s.n(1)),
        targets: storage(device, "gpt targets", s.n(1)),
        logits: storage(device, "gpt logits", s.n(s.vocab)),
    };
    let buffers = PlanBuffers::new(device, "gpt", sizes.history);
    let acts = Activations::new(device, &s, gpt.spec.layers);
    let mut rec = gpt.gpu.recorder();
    forward(&mut rec, gpt, &s, &inputs, &acts);
    let loss_ops = LossOperands {
        outputs: &inputs.logits,
        targets: &inputs.targets,
        batch: &buffers.batch,
        doutputs: &acts.dlogits,
        row_stats: &acts.row_stats,
    };
    let loss = Loss::SoftmaxCrossEntropy;
    let dims = (s.rows, s.vocab);
    rec.loss_and_metrics(loss, dims, loss_ops, &buffers.history, sizes.history);
    if sizes.backward {
        let grads = Gradients::new(device, &s);
        backward(&mut rec, gpt, &s, &inputs, &acts, &grads);
    }
    Ok(BatchPlan::new(
        &gpt.gpu.ctx,
        "gpt batch",
        inputs,
        sizes,
        buffers,
        rec.ops,
    ))
}

/// The embedding, every block, the final norm and the head.
fn forward(
    rec: &mut Recorder<'_>,
    gpt: &Gpt,
    s: &Shapes,
    inputs: &TokenInputs,
    acts: &Activations,
) {
    let (g, device) = (&gpt.gpt, rec.device);
    let param = |k: ParamKind| &gpt.param(k).value;
    let (rows, c, hid) = (s.rows, s.width, s.hidden);
    rec.push(g.embedding(
        device,
        s.embedding,
        &inputs.tokens,
        param(ParamKind::TokenEmbedding),
        param(ParamKind::PositionEmbedding),
        &acts.stream[0],
    ));
    for (l, b) in acts.blocks.iter().enumerate() {
        let stream = &acts.stream;
        let (x, mid, out) = (&stream[2 * l], &stream[2 * l + 1], &stream[2 * l + 2]);
        rec.push(g.rms_norm(device, s.norm(false), x, &b.norm1, &b.rstd1));
        let qkv_w = param(ParamKind::AttentionQkv(l));
        rec.linear(&b.norm1, qkv_w, None, &b.qkv, rows, (c, 3 * c));
        rec.push(g.attention(device, s.attention, &b.qkv, &b.probs, &b.attended));
        let proj = param(ParamKind::AttentionProj(l));
        rec.linear(&b.attended, proj, Some(x), mid, rows, (c, c));
        rec.push(g.rms_norm(device, s.norm(false), mid, &b.norm2, &b.rstd2));
        let fc = param(ParamKind::MlpFc(l));
        rec.linear(&b.norm2, fc, None, &b.hidden, rows, (c, hid));
        let bias = param(ParamKind::MlpFcBias(l));
        rec.bias_activation(Activation::Gelu, bias, &b.hidden, &b.activated, (rows, hid));
        let fc_proj = param(ParamKind::MlpProj(l));
        rec.linear(&b.activated, fc_proj, Some(mid), out, rows, (hid, c));
    }
    let last = &acts.stream[2 * gpt.spec.layers];
    rec.push(g.rms_norm(
        device,
        s.norm(false),
        last,
        &acts.final_norm,
        &acts.final_rstd,
    ));
    let head = param(ParamKind::Head);
    rec.linear(
        &acts.final_norm,
        head,
        None,
        &inputs.logits,
        rows,
        (c, s.vocab),
    );
}

/// The head, every block last first (its MLP, then its attention), then the embeddings.
fn backward(
    rec: &mut Recorder<'_>,
    gpt: &Gpt,
    s: &Shapes,
    inputs: &TokenInputs,
    acts: &Activations,
    d: &Gradients,
) {
    let (g, device) = (&gpt.gpt, rec.device);
    let param = |k: ParamKind| &gpt.param(k).value;
    let grad = |k: ParamKind| &gpt.param(k).grad;
    let (rows, c, hid) = (s.rows, s.width, s.hidden);
    let dims = (c, s.vocab);
    rec.weight_grad(
        &acts.dlogits,
        &acts.final_norm,
        grad(ParamKind::Head),
        rows,
        dims,
    );
    rec.input_grad(&acts.dlogits, param(ParamKind::Head), &d.dnorm, rows, dims);
    let last = &acts.stream[2 * gpt.spec.layers];
    let (rstd, norm) = (&acts.final_rstd, s.norm(false));
    rec.push(g.rms_norm_backward(device, norm, last, rstd, &d.dnorm, &d.dstream));
    for (l, b) in acts.blocks.iter().enumerate().rev() {
        let (x, mid) = (&acts.stream[2 * l], &acts.stream[2 * l + 1]);
        // MLP: x'' = x' + gelu(n₂·W₁ᵀ + b₁)·W₂ᵀ.
        let (fc_proj, dims) = (ParamKind::MlpProj(l), (hid, c));
        rec.weight_grad(&d.dstream, &b.activated, grad(fc_proj), rows, dims);
        let operands = [&d.dstream, param(fc_proj), &b.hidden, &d.dhidden];
        rec.input_grad_activation(Activation::Gelu, operands, rows, dims);
        rec.bias_grad(&d.dhidden, grad(ParamKind::MlpFcBias(l)), (rows, hid));
        let (fc, dims) = (ParamKind::MlpFc(l), (c, hid));
        rec.weight_grad(&d.dhidden, &b.norm2, grad(fc), rows, dims);
        rec.input_grad(&d.dhidden, param(fc), &d.dnorm, rows, dims);
        rec.push(g.rms_norm_backward(device, s.norm(true), mid, &b.rstd2, &d.dnorm, &d.dstream));
        // Attention: x' = x + attention(n₁·Wqkvᵀ)·Woᵀ.
        let (proj, dims) = (ParamKind::AttentionProj(l), (c, c));
        rec.weight_grad(&d.dstream, &b.attended, grad(proj), rows, dims);
        rec.input_grad(&d.dstream, param(proj), &d.dattended, rows, dims);
        let attention = AttentionBackward {
            qkv: &b.qkv,
            probs: &b.probs,
            dy: &d.dattended,
            dscores: &d.dscores,
            dqkv: &d.dqkv,
        };
        rec.ops
            .extend(g.attention_backward(device, s.attention, attention));
        let (qkv, dims) = (ParamKind::AttentionQkv(l), (c, 3 * c));
        rec.weight_grad(&d.dqkv, &b.norm1, grad(qkv), rows, dims);
        rec.input_grad(&d.dqkv, param(qkv), &d.dnorm, rows, dims);
        rec.push(g.rms_norm_backward(device, s.norm(true), x, &b.rstd1, &d.dnorm, &d.dstream));
    }
    rec.push(g.embedding_backward(
        device,
        s.embedding,
        &inputs.tokens,
        &d.dstream,
        grad(ParamKind::TokenEmbedding),
        grad(ParamKind::PositionEmbedding),
    ));
}

impl Model for Gpt {
    type Spec = GptSpec;
    type Param = GptParam;
    type Values = Vec<f32>;
    type Inputs = TokenInputs;
    const LABEL: &'static str = "gpt";

    fn new(ctx: &GpuContext, spec: GptSpec, params: &[Vec<f32>]) -> Result<Self> {
        Gpt::new(ctx, spec, params)
    }
    fn context(&self) -> &GpuContext {
        &self.gpu.ctx
    }
    fn spec(&self) -> &GptSpec {
        &self.spec
    }
    fn register(
        &self,
        builder: &mut OptimizerBuilder,
        route: &dyn Fn(&GptParam) -> Route,
    ) -> Result<()> {
        Gpt::register(self, builder, route)
    }
    fn plan(&self, capacity: usize, backward: bool, history: usize) -> Result<GptPlan> {
        Gpt::plan(self, capacity, backward, history)
    }
    /// One sequence, for sampling a token at a time.
    fn sampler(&self) -> Result<Option<GptPlan>> {
        Gpt::plan(self, 1, false, 1).map(Some)
    }
    fn param_ranges(&self, grads: bool) -> Vec<BufferRange> {
        let params = self.spec.params();
        let range = |(p, b): (&GptParam, &ParamBuffers)| BufferRange {
            buffer: if grads { &b.grad } else { &b.value }.clone(),
            offset: 0,
            len: p.len(),
        };
        params.iter().zip(&self.params).map(range).collect()
    }
    fn assemble(&self, values: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
        values
    }
}

impl Gpt {
    /// Records the launches for batches of up to `sequences` sequences: forward, loss and
    /// metrics, and with `backward` the gradients. `history` batches of metrics stay on the GPU
    /// between readbacks.
    pub fn plan(&self, sequences: usize, backward: bool, history: usize) -> Result<GptPlan> {
        let sizes = PlanSizes {
            capacity: sequences,
            backward,
            history,
        };
        new_plan(self, sizes)
    }
}
