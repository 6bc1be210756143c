//! The GPT on the GPU: its parameters and gradients in buffers of their own, and the recorded
//! plan (forward, loss, metrics, backward) that runs a batch of sequences through it.
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

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};
use crate::gpu::readback::{read_ranges, BufferRange};
use crate::gpu::GpuContext;
use crate::kernels::{Dispatch, Kernels, MatmulDims, MatmulOperands, Transpose};
use crate::nn::batch::Metrics;
use crate::nn::kernels::{
    ActivationDims, BiasActivationDims, LossOperands, MetricsDims, NnKernels, RowsDims,
};
use crate::nn::model::Activation;
use crate::optimizer::{OptimizerBuilder, Source};
use crate::settings::Route;

use super::kernels::{AttentionBackward, AttentionDims, EmbeddingDims, GptKernels, NormDims};
use super::{GptParam, GptSpec, ParamKind, RMS_EPS};

const USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

fn storage(device: &wgpu::Device, label: &str, floats: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: (floats * 4).max(16),
        usage: USAGE,
        mapped_at_creation: false,
    })
}

fn storage_init(device: &wgpu::Device, label: &str, values: &[f32]) -> wgpu::Buffer {
    let mut bytes: Vec<u8> = bytemuck::cast_slice(values).to_vec();
    bytes.resize(bytes.len().max(16), 0);
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: &bytes,
        usage: USAGE,
    })
}

/// A parameter's value and gradient buffers.
#[derive(Clone, Debug)]
pub struct ParamBuffers {
    pub value: wgpu::Buffer,
    pub grad: wgpu::Buffer,
}

/// A GPT's parameters on the GPU, with the kernels that run it.
#[derive(Clone, Debug)]
pub struct Gpt {
    ctx: GpuContext,
    spec: GptSpec,
    params: Vec<ParamBuffers>,
    matmul: Kernels,
    nn: NnKernels,
    gpt: GptKernels,
}

impl Gpt {
    /// Uploads `params` (one vector per [`GptSpec::params`] entry, as
    /// [`init_params`](super::init_params) makes them) and compiles the kernels.
    pub fn new(ctx: &GpuContext, spec: GptSpec, params: &[Vec<f32>]) -> Result<Self> {
        spec.validate()?;
        check_params(&spec, params)?;
        let device = &ctx.device;
        let params = params
            .iter()
            .map(|p| ParamBuffers {
                value: storage_init(device, "gpt parameter", p),
                grad: storage(device, "gpt gradient", p.len() as u64),
            })
            .collect();
        Ok(Self {
            ctx: ctx.clone(),
            spec,
            params,
            matmul: Kernels::new(device),
            nn: NnKernels::new(device),
            gpt: GptKernels::new(device),
        })
    }

    pub fn spec(&self) -> &GptSpec {
        &self.spec
    }

    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// A parameter's buffers.
    pub fn param(&self, kind: ParamKind) -> &ParamBuffers {
        &self.params[self.spec.index(kind)]
    }

    /// Registers every parameter with the optimizer on the model's own buffers (the backward
    /// pass writes the gradients the optimizer reads; the optimizer updates the weights the next
    /// forward pass reads); `route` picks each one's group.
    pub fn register(
        &self,
        builder: &mut OptimizerBuilder,
        route: impl Fn(&GptParam) -> Route,
    ) -> Result<()> {
        for (param, buffers) in self.spec.params().iter().zip(&self.params) {
            builder.add(
                &param.name(),
                &param.shape,
                Source::Buffers {
                    value: buffers.value.clone(),
                    grad: buffers.grad.clone(),
                },
                route(param),
            )?;
        }
        Ok(())
    }

    /// Overwrites every parameter (staged on the queue, used by the next submit).
    pub fn write_params(&self, params: &[Vec<f32>]) -> Result<()> {
        check_params(&self.spec, params)?;
        for (b, p) in self.params.iter().zip(params) {
            self.ctx
                .queue
                .write_buffer(&b.value, 0, bytemuck::cast_slice(p));
        }
        Ok(())
    }

    async fn read(&self, grads: bool) -> Result<Vec<Vec<f32>>> {
        let ranges: Vec<BufferRange> = self
            .spec
            .params()
            .iter()
            .zip(&self.params)
            .map(|(p, b)| BufferRange {
                buffer: if grads { &b.grad } else { &b.value }.clone(),
                offset: 0,
                len: p.len(),
            })
            .collect();
        read_ranges(&self.ctx, &ranges).await
    }

    /// Every parameter's current value (waits for the GPU).
    pub async fn read_params(&self) -> Result<Vec<Vec<f32>>> {
        self.read(false).await
    }

    /// Every parameter's gradient from the last backward pass that ran (waits for the GPU).
    pub async fn read_gradients(&self) -> Result<Vec<Vec<f32>>> {
        self.read(true).await
    }

    /// Records the launches for batches of up to `sequences` sequences: forward, loss and
    /// metrics, and with `backward` the gradients. `history` batches of metrics stay on the GPU
    /// between readbacks.
    pub fn plan(&self, sequences: usize, backward: bool, history: usize) -> Result<GptPlan> {
        GptPlan::new(self, sequences, backward, history)
    }
}

fn check_params(spec: &GptSpec, params: &[Vec<f32>]) -> Result<()> {
    let expected = spec.params();
    if params.len() != expected.len() {
        return Err(Error::InvalidShape {
            name: "gpt".into(),
            shape: vec![
                spec.vocab,
                spec.context,
                spec.width,
                spec.heads,
                spec.layers,
            ],
            reason: format!(
                "the model has {} parameters, got {} values",
                expected.len(),
                params.len()
            ),
        });
    }
    for (p, values) in expected.iter().zip(params) {
        if values.len() != p.len() {
            return Err(Error::LengthMismatch {
                name: p.name(),
                what: "initial value".into(),
                shape: p.shape.clone(),
                expected: p.len(),
                got: values.len(),
            });
        }
    }
    Ok(())
}

/// A batch of `sequences × context` tokens and their next-token targets.
#[derive(Clone, Copy, Debug)]
pub struct TokenBatchRef<'a> {
    pub inputs: &'a [u32],
    pub targets: &'a [u32],
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

/// `out = x·Wᵀ (+ addend)` for `x` (rows × in), `W` (out × in).
#[allow(clippy::too_many_arguments)]
fn linear(
    m: &Kernels,
    device: &wgpu::Device,
    x: &wgpu::Buffer,
    w: &wgpu::Buffer,
    addend: Option<&wgpu::Buffer>,
    out: &wgpu::Buffer,
    rows: u32,
    (fan_in, fan_out): (u32, u32),
) -> Dispatch {
    let dims = MatmulDims {
        m: rows,
        n: fan_out,
        k: fan_in,
        use_d: addend.is_some() as u32,
        l_stride: rows * fan_in,
        r_stride: fan_out * fan_in,
        d_stride: rows * fan_out,
        c_stride: rows * fan_out,
        alpha: 1.0,
        beta: 1.0,
        ..Default::default()
    };
    let ops = MatmulOperands {
        left: x,
        right: w,
        addend: addend.unwrap_or(x),
        result: out,
    };
    m.matmul(device, dims, 1, Transpose::RIGHT, ops)
}

/// `dW = dyᵀ·x`, written over `dw`.
#[allow(clippy::too_many_arguments)]
fn weight_grad(
    m: &Kernels,
    device: &wgpu::Device,
    dy: &wgpu::Buffer,
    x: &wgpu::Buffer,
    dw: &wgpu::Buffer,
    rows: u32,
    (fan_in, fan_out): (u32, u32),
) -> Dispatch {
    let dims = MatmulDims {
        m: fan_out,
        n: fan_in,
        k: rows,
        l_stride: rows * fan_out,
        r_stride: rows * fan_in,
        c_stride: fan_out * fan_in,
        alpha: 1.0,
        ..Default::default()
    };
    let ops = MatmulOperands {
        left: dy,
        right: x,
        addend: dy,
        result: dw,
    };
    m.matmul(device, dims, 1, Transpose::LEFT, ops)
}

/// `dx = dy·W`, written over `dx`.
fn input_grad(
    m: &Kernels,
    device: &wgpu::Device,
    dy: &wgpu::Buffer,
    w: &wgpu::Buffer,
    dx: &wgpu::Buffer,
    rows: u32,
    (fan_in, fan_out): (u32, u32),
) -> Dispatch {
    let dims = MatmulDims {
        m: rows,
        n: fan_in,
        k: fan_out,
        l_stride: rows * fan_out,
        r_stride: fan_out * fan_in,
        c_stride: rows * fan_in,
        alpha: 1.0,
        ..Default::default()
    };
    let ops = MatmulOperands {
        left: dy,
        right: w,
        addend: dy,
        result: dx,
    };
    m.matmul(device, dims, 1, Transpose::NONE, ops)
}

/// The recorded launches and activation buffers for batches of up to `capacity` sequences.
/// Created once (its pipelines warmed up then); each [`record`](GptPlan::record) uploads a batch
/// and replays the launches in one compute pass.
pub struct GptPlan {
    spec: GptSpec,
    capacity: usize,
    backward: bool,
    tokens: wgpu::Buffer,
    targets: wgpu::Buffer,
    /// `[valid rows, history slot, 0, 0]`, uploaded with each batch.
    batch: wgpu::Buffer,
    logits: wgpu::Buffer,
    history: wgpu::Buffer,
    history_capacity: usize,
    ops: Vec<Dispatch>,
    recorded: u64,
    read: u64,
}

fn out_of_range(what: &str, value: usize) -> Error {
    Error::InvalidHyperparameter {
        key: what.into(),
        value: value.to_string(),
        reason: "must be between 1 and 2^24".into(),
    }
}

impl GptPlan {
    fn new(gpt: &Gpt, capacity: usize, backward: bool, history: usize) -> Result<Self> {
        if capacity == 0 || capacity > 1 << 24 {
            return Err(out_of_range("batch_size", capacity));
        }
        if history == 0 || history > 1 << 24 {
            return Err(out_of_range("history", history));
        }
        let spec = gpt.spec;
        let device = &gpt.ctx.device;
        let (t, c, v, hid) = (
            spec.context as u64,
            spec.width as u64,
            spec.vocab as u64,
            spec.hidden() as u64,
        );
        let n = capacity as u64 * t;
        let limit = gpt.ctx.limits().max_storage_buffer_binding_size;
        let probs_len = capacity as u64 * spec.heads as u64 * t * t;
        for (what, floats) in [
            ("attention probabilities", probs_len),
            ("MLP activations", n * hid),
            ("logits", n * v),
        ] {
            if floats * 4 > limit || floats >= 1 << 32 {
                return Err(Error::TooLarge {
                    what: format!("{what} of {capacity} sequences"),
                    bytes: floats * 4,
                    limit,
                });
            }
        }
        let tokens = storage(device, "gpt tokens", n);
        let targets = storage(device, "gpt targets", n);
        let batch = storage(device, "gpt batch", 4);
        // Residual stream: the embedding, then after each block's attention and MLP.
        let stream: Vec<wgpu::Buffer> = (0..=2 * spec.layers)
            .map(|_| storage(device, "gpt residual", n * c))
            .collect();
        let blocks: Vec<BlockBuffers> = (0..spec.layers)
            .map(|_| BlockBuffers {
                norm1: storage(device, "gpt norm", n * c),
                rstd1: storage(device, "gpt rstd", n),
                qkv: storage(device, "gpt qkv", n * 3 * c),
                probs: storage(device, "gpt probabilities", probs_len),
                attended: storage(device, "gpt attended", n * c),
                norm2: storage(device, "gpt norm", n * c),
                rstd2: storage(device, "gpt rstd", n),
                hidden: storage(device, "gpt hidden", n * hid),
                activated: storage(device, "gpt activated", n * hid),
            })
            .collect();
        let final_norm = storage(device, "gpt final norm", n * c);
        let final_rstd = storage(device, "gpt final rstd", n);
        let logits = storage(device, "gpt logits", n * v);
        let dlogits = storage(device, "gpt dlogits", n * v);
        let row_stats = storage(device, "gpt row stats", n * 2);
        let history_buffer = storage(device, "gpt history", history as u64 * 4);

        let (m, nn, g) = (&gpt.matmul, &gpt.nn, &gpt.gpt);
        let param = |k: ParamKind| &gpt.param(k).value;
        let grad = |k: ParamKind| &gpt.param(k).grad;
        let rows = n as u32;
        let (c32, hid32, v32) = (c as u32, hid as u32, v as u32);
        let embedding = EmbeddingDims {
            rows,
            width: c32,
            positions: t as u32,
            vocab: v32,
        };
        let norm = |accumulate: bool| NormDims {
            rows,
            cols: c32,
            eps: RMS_EPS,
            accumulate: accumulate as u32,
        };
        let attention = AttentionDims {
            sequences: capacity as u32,
            positions: t as u32,
            width: c32,
            heads: spec.heads as u32,
            head_size: spec.head_size() as u32,
            scale: 1.0 / (spec.head_size() as f32).sqrt(),
            _pad: [0; 2],
        };
        let bias_gelu = BiasActivationDims {
            rows,
            cols: hid32,
            activation: Activation::Gelu.code(),
            _pad: 0,
        };

        let mut ops = vec![g.embedding(
            device,
            embedding,
            &tokens,
            param(ParamKind::TokenEmbedding),
            param(ParamKind::PositionEmbedding),
            &stream[0],
        )];
        for (l, b) in blocks.iter().enumerate() {
            let (x, mid, out) = (&stream[2 * l], &stream[2 * l + 1], &stream[2 * l + 2]);
            ops.push(g.rms_norm(device, norm(false), x, &b.norm1, &b.rstd1));
            let qkv_w = param(ParamKind::AttentionQkv(l));
            ops.push(linear(
                m,
                device,
                &b.norm1,
                qkv_w,
                None,
                &b.qkv,
                rows,
                (c32, 3 * c32),
            ));
            ops.push(g.attention(device, attention, &b.qkv, &b.probs, &b.attended));
            let proj = param(ParamKind::AttentionProj(l));
            ops.push(linear(
                m,
                device,
                &b.attended,
                proj,
                Some(x),
                mid,
                rows,
                (c32, c32),
            ));
            ops.push(g.rms_norm(device, norm(false), mid, &b.norm2, &b.rstd2));
            let fc = param(ParamKind::MlpFc(l));
            ops.push(linear(
                m,
                device,
                &b.norm2,
                fc,
                None,
                &b.hidden,
                rows,
                (c32, hid32),
            ));
            ops.push(nn.bias_activation(
                device,
                bias_gelu,
                param(ParamKind::MlpFcBias(l)),
                &b.hidden,
                &b.activated,
            ));
            let fc_proj = param(ParamKind::MlpProj(l));
            ops.push(linear(
                m,
                device,
                &b.activated,
                fc_proj,
                Some(mid),
                out,
                rows,
                (hid32, c32),
            ));
        }
        let last = &stream[2 * spec.layers];
        ops.push(g.rms_norm(device, norm(false), last, &final_norm, &final_rstd));
        let head = param(ParamKind::Head);
        ops.push(linear(
            m,
            device,
            &final_norm,
            head,
            None,
            &logits,
            rows,
            (c32, v32),
        ));
        let loss_dims = RowsDims {
            rows,
            cols: v32,
            ..Default::default()
        };
        ops.push(nn.softmax_cross_entropy(
            device,
            loss_dims,
            LossOperands {
                outputs: &logits,
                targets: &targets,
                batch: &batch,
                doutputs: &dlogits,
                row_stats: &row_stats,
            },
        ));
        let metrics = MetricsDims {
            capacity: history as u32,
            ..Default::default()
        };
        ops.push(nn.batch_metrics(device, metrics, &batch, &row_stats, &history_buffer));

        if backward {
            let dstream = storage(device, "gpt residual grad", n * c);
            let dnorm = storage(device, "gpt norm grad", n * c);
            let dattended = storage(device, "gpt attended grad", n * c);
            let dqkv = storage(device, "gpt qkv grad", n * 3 * c);
            let dscores = storage(device, "gpt score grad", probs_len);
            let dhidden = storage(device, "gpt hidden grad", n * hid);
            let dims = (c32, v32);
            ops.push(weight_grad(
                m,
                device,
                &dlogits,
                &final_norm,
                grad(ParamKind::Head),
                rows,
                dims,
            ));
            ops.push(input_grad(m, device, &dlogits, head, &dnorm, rows, dims));
            ops.push(g.rms_norm_backward(device, norm(false), last, &final_rstd, &dnorm, &dstream));
            for (l, b) in blocks.iter().enumerate().rev() {
                let (x, mid) = (&stream[2 * l], &stream[2 * l + 1]);
                // MLP: x'' = x' + gelu(n₂·W₁ᵀ + b₁)·W₂ᵀ.
                let dims = (hid32, c32);
                let fc_proj = ParamKind::MlpProj(l);
                ops.push(weight_grad(
                    m,
                    device,
                    &dstream,
                    &b.activated,
                    grad(fc_proj),
                    rows,
                    dims,
                ));
                ops.push(input_grad(
                    m,
                    device,
                    &dstream,
                    param(fc_proj),
                    &dhidden,
                    rows,
                    dims,
                ));
                let gelu = ActivationDims {
                    len: rows * hid32,
                    activation: Activation::Gelu.code(),
                    ..Default::default()
                };
                ops.push(nn.activation_backward(device, gelu, &b.hidden, &dhidden));
                let bias_dims = RowsDims {
                    rows,
                    cols: hid32,
                    ..Default::default()
                };
                let bias = grad(ParamKind::MlpFcBias(l));
                ops.push(nn.bias_grad(device, bias_dims, &dhidden, bias));
                let (fc, dims) = (ParamKind::MlpFc(l), (c32, hid32));
                ops.push(weight_grad(
                    m,
                    device,
                    &dhidden,
                    &b.norm2,
                    grad(fc),
                    rows,
                    dims,
                ));
                ops.push(input_grad(
                    m,
                    device,
                    &dhidden,
                    param(fc),
                    &dnorm,
                    rows,
                    dims,
                ));
                ops.push(g.rms_norm_backward(device, norm(true), mid, &b.rstd2, &dnorm, &dstream));
                // Attention: x' = x + attention(n₁·Wqkvᵀ)·Woᵀ.
                let (proj, dims) = (ParamKind::AttentionProj(l), (c32, c32));
                ops.push(weight_grad(
                    m,
                    device,
                    &dstream,
                    &b.attended,
                    grad(proj),
                    rows,
                    dims,
                ));
                ops.push(input_grad(
                    m,
                    device,
                    &dstream,
                    param(proj),
                    &dattended,
                    rows,
                    dims,
                ));
                ops.extend(g.attention_backward(
                    device,
                    attention,
                    AttentionBackward {
                        qkv: &b.qkv,
                        probs: &b.probs,
                        dy: &dattended,
                        dscores: &dscores,
                        dqkv: &dqkv,
                    },
                ));
                let (qkv, dims) = (ParamKind::AttentionQkv(l), (c32, 3 * c32));
                ops.push(weight_grad(
                    m,
                    device,
                    &dqkv,
                    &b.norm1,
                    grad(qkv),
                    rows,
                    dims,
                ));
                ops.push(input_grad(m, device, &dqkv, param(qkv), &dnorm, rows, dims));
                ops.push(g.rms_norm_backward(device, norm(true), x, &b.rstd1, &dnorm, &dstream));
            }
            ops.push(g.embedding_backward(
                device,
                embedding,
                &tokens,
                &dstream,
                grad(ParamKind::TokenEmbedding),
                grad(ParamKind::PositionEmbedding),
            ));
        }
        // Compile every kernel now, so that no step pays for it.
        crate::kernels::warm_up(device, &gpt.ctx.queue, &ops);
        Ok(Self {
            spec,
            capacity,
            backward,
            tokens,
            targets,
            batch,
            logits,
            history: history_buffer,
            history_capacity: history,
            ops,
            recorded: 0,
            read: 0,
        })
    }

    /// Most sequences per batch.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether the plan computes gradients.
    pub fn has_backward(&self) -> bool {
        self.backward
    }

    /// The launches of one batch, in order.
    pub fn ops(&self) -> &[Dispatch] {
        &self.ops
    }

    /// The logits, `capacity·context × vocab` (rows past the batch are padding).
    pub fn logits_buffer(&self) -> &wgpu::Buffer {
        &self.logits
    }

    /// Batches recorded so far.
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    /// Checks a batch: whole sequences, at most the capacity, tokens and targets inside the
    /// vocabulary. Returns its sequences.
    pub fn check(&self, batch: &TokenBatchRef<'_>) -> Result<usize> {
        let t = self.spec.context;
        let bad = |tensor: &str, reason: String| Error::InvalidTensor {
            path: "<batch>".into(),
            tensor: tensor.into(),
            reason,
        };
        if batch.inputs.is_empty() || !batch.inputs.len().is_multiple_of(t) {
            return Err(bad(
                "inputs",
                format!(
                    "{} tokens are not a positive whole number of sequences of {t}",
                    batch.inputs.len()
                ),
            ));
        }
        let sequences = batch.inputs.len() / t;
        if sequences > self.capacity {
            return Err(bad(
                "inputs",
                format!(
                    "{sequences} sequences, but the plan holds at most {}",
                    self.capacity
                ),
            ));
        }
        if batch.targets.len() != batch.inputs.len() {
            return Err(bad(
                "targets",
                format!(
                    "{} targets for {} tokens",
                    batch.targets.len(),
                    batch.inputs.len()
                ),
            ));
        }
        for (name, values) in [("inputs", batch.inputs), ("targets", batch.targets)] {
            if let Some(i) = values.iter().position(|&v| v as usize >= self.spec.vocab) {
                return Err(bad(
                    name,
                    format!(
                        "token {} at {i} is not below the vocabulary of {}",
                        values[i], self.spec.vocab
                    ),
                ));
            }
        }
        Ok(sequences)
    }

    /// Records one batch into `encoder`: uploads it through a staging buffer of its own (so that
    /// several batches can be recorded before one submit), then the launches in one compute pass.
    pub fn record(
        &mut self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        batch: &TokenBatchRef<'_>,
    ) -> Result<()> {
        self.upload(ctx, encoder, batch)?;
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("gpt batch"),
            timestamp_writes: None,
        });
        for op in &self.ops {
            op.record(&mut pass);
        }
        drop(pass);
        Ok(())
    }

    /// Records one batch like [`record`](Self::record), but each launch in a compute pass of its
    /// own that writes timestamps `2i` and `2i + 1` of `queries` (`2 × ops` entries, the
    /// `TIMESTAMP_QUERY` feature). Returns the launches' labels. For profiling.
    pub fn record_timed(
        &mut self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        batch: &TokenBatchRef<'_>,
        queries: &wgpu::QuerySet,
    ) -> Result<Vec<&'static str>> {
        self.upload(ctx, encoder, batch)?;
        for (i, op) in self.ops.iter().enumerate() {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(op.label),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: queries,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            op.record(&mut pass);
        }
        Ok(self.ops.iter().map(|op| op.label).collect())
    }

    /// Checks a batch and records its upload.
    fn upload(
        &mut self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        batch: &TokenBatchRef<'_>,
    ) -> Result<()> {
        self.check(batch)?;
        let n = self.capacity * self.spec.context;
        let mut staging: Vec<u32> = Vec::with_capacity(2 * n + 4);
        // Padding sequences are token 0; the loss gives them no gradient.
        staging.extend_from_slice(batch.inputs);
        staging.resize(n, 0);
        staging.extend_from_slice(batch.targets);
        staging.resize(2 * n, 0);
        let slot = (self.recorded % self.history_capacity as u64) as u32;
        staging.extend_from_slice(&[batch.inputs.len() as u32, slot, 0, 0]);
        let staging_buffer = ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("gpt batch staging"),
                contents: bytemuck::cast_slice(&staging),
                usage: wgpu::BufferUsages::COPY_SRC,
            });
        let bytes = n as u64 * 4;
        encoder.copy_buffer_to_buffer(&staging_buffer, 0, &self.tokens, 0, bytes);
        encoder.copy_buffer_to_buffer(&staging_buffer, bytes, &self.targets, 0, bytes);
        encoder.copy_buffer_to_buffer(&staging_buffer, 2 * bytes, &self.batch, 0, 16);
        self.recorded += 1;
        Ok(())
    }

    /// The metrics (mean loss per token, next-token accuracy) of every batch recorded since the
    /// last call, oldest first (waits for the GPU). Only the last `history` batches are kept.
    pub async fn read_history(&mut self, ctx: &GpuContext) -> Result<Vec<Metrics>> {
        let (recorded, capacity) = (self.recorded, self.history_capacity);
        crate::nn::batch::read_metrics_ring(ctx, &self.history, capacity, recorded, &mut self.read)
            .await
    }
}
