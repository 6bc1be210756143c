//! What the MLP and the GPT share to run a batch: storage buffers, the launch recorder that
//! builds a model's launches (matmuls in the three forms a linear layer needs, and the `nn_*`
//! kernels), and the recorded plan that uploads a batch and replays those launches.
//!
//! A linear layer `y = x·Wᵀ (+ addend)`, `x` rows × in, `W` out × in, and its gradients:
//! ```text
//! forward        y  = x·Wᵀ (+ d)      matmul, Transpose::RIGHT
//! weight grad    dW = dyᵀ·x           matmul, Transpose::LEFT (written over dW)
//! input grad     dx = dy·W            matmul, Transpose::NONE (written over dx)
//! ```

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::kernels::{Dispatch, Kernels, Transpose};

use super::batch::Metrics;
use super::kernels::{
    ActivationDims, BiasActivationDims, LossOperands, MetricsDims, NnKernels, RowsDims,
};
use super::matmul::{ModelMatmul, Product};
use super::model::{Activation, Loss};

/// Usage of every buffer of a model: bound as storage, written from the host, read back.
const USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// A storage buffer of `words` 32-bit values (at least 16 bytes, the smallest binding).
pub(crate) fn storage(device: &wgpu::Device, label: &str, words: u64) -> wgpu::Buffer {
    crate::gpu::storage_buffer(device, label, words * 4)
}

/// A storage buffer holding `values` (padded with zeros to 16 bytes).
pub(crate) fn storage_init(device: &wgpu::Device, label: &str, values: &[f32]) -> wgpu::Buffer {
    let mut bytes: Vec<u8> = bytemuck::cast_slice(values).to_vec();
    bytes.resize(bytes.len().max(16), 0);
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: &bytes,
        usage: USAGE,
    })
}

/// Checks a plan's capacity (rows or sequences) and metrics history: each in `1..=2²⁴`.
pub(crate) fn check_sizes(capacity: usize, history: usize) -> Result<()> {
    for (key, value) in [("batch_size", capacity), ("history", history)] {
        if value == 0 || value > 1 << 24 {
            return Err(Error::InvalidHyperparameter {
                key: key.into(),
                value: value.to_string(),
                reason: "must be between 1 and 2^24".into(),
            });
        }
    }
    Ok(())
}

/// The GPU context and the kernels a model records its launches with.
#[derive(Clone, Debug)]
pub(crate) struct ModelGpu {
    pub ctx: GpuContext,
    /// The crate's shader registry, which every model pipeline comes from.
    pub registry: Kernels,
    pub products: ModelMatmul,
    pub nn: NnKernels,
}

impl ModelGpu {
    pub fn new(ctx: &GpuContext) -> Self {
        let registry = Kernels::new(&ctx.device);
        Self {
            ctx: ctx.clone(),
            products: ModelMatmul::new(&registry, &ctx.device),
            nn: NnKernels::new(&registry, &ctx.device),
            registry,
        }
    }

    /// A recorder of launches on these kernels.
    pub fn recorder(&self) -> Recorder<'_> {
        Recorder {
            device: &self.ctx.device,
            products: &self.products,
            nn: &self.nn,
            ops: Vec::new(),
        }
    }
}

/// The launches of a model, recorded in the order they run.
pub(crate) struct Recorder<'a> {
    pub device: &'a wgpu::Device,
    pub products: &'a ModelMatmul,
    pub nn: &'a NnKernels,
    pub ops: Vec<Dispatch>,
}

impl Recorder<'_> {
    pub fn push(&mut self, op: Dispatch) {
        self.ops.push(op);
    }

    /// `result = op(left)·op(right) (+ addend)`, `m × n` with inner size `k`, each operand
    /// contiguous ([`ModelMatmul`]: one launch, or two when k is split).
    fn product(
        &mut self,
        transpose: Transpose,
        [left, right, result]: [&wgpu::Buffer; 3],
        addend: Option<&wgpu::Buffer>,
        dims: (u32, u32, u32),
    ) {
        let product = Product {
            transpose,
            left,
            right,
            addend,
            activation_grad: None,
            result,
            dims,
        };
        let ops = self.products.product(self.device, product);
        self.ops.extend(ops);
    }

    /// `out = x·Wᵀ (+ addend)` for `x` (rows × in), `W` (out × in).
    pub fn linear(
        &mut self,
        x: &wgpu::Buffer,
        w: &wgpu::Buffer,
        addend: Option<&wgpu::Buffer>,
        out: &wgpu::Buffer,
        rows: u32,
        (fan_in, fan_out): (u32, u32),
    ) {
        self.product(
            Transpose::RIGHT,
            [x, w, out],
            addend,
            (rows, fan_out, fan_in),
        );
    }

    /// `dW = dyᵀ·x`, written over `dw`.
    pub fn weight_grad(
        &mut self,
        dy: &wgpu::Buffer,
        x: &wgpu::Buffer,
        dw: &wgpu::Buffer,
        rows: u32,
        (fan_in, fan_out): (u32, u32),
    ) {
        self.product(Transpose::LEFT, [dy, x, dw], None, (fan_out, fan_in, rows));
    }

    /// `dx = dy·W`, written over `dx`.
    pub fn input_grad(
        &mut self,
        dy: &wgpu::Buffer,
        w: &wgpu::Buffer,
        dx: &wgpu::Buffer,
        rows: u32,
        (fan_in, fan_out): (u32, u32),
    ) {
        self.product(Transpose::NONE, [dy, w, dx], None, (rows, fan_in, fan_out));
    }
}

impl Recorder<'_> {
    /// `dx = (dy·W) ⊙ act'(z)`, written over `dx`: an input gradient and the backward of the
    /// activation whose input was `z`, in one launch where the shapes allow.
    pub fn input_grad_activation(
        &mut self,
        activation: Activation,
        [dy, w, z, dx]: [&wgpu::Buffer; 4],
        rows: u32,
        (fan_in, fan_out): (u32, u32),
    ) {
        let dims = (rows, fan_in, fan_out);
        if !super::matmul::aligned(Transpose::NONE, dims) {
            self.input_grad(dy, w, dx, rows, (fan_in, fan_out));
            self.activation_backward(activation, z, dx, rows * fan_in);
            return;
        }
        let product = Product {
            transpose: Transpose::NONE,
            left: dy,
            right: w,
            addend: Some(z),
            activation_grad: Some(activation.code()),
            result: dx,
            dims,
        };
        let ops = self.products.product(self.device, product);
        self.ops.extend(ops);
    }

    /// `z ← z + bias` (broadcast over `rows`), `a ← act(z)`.
    pub fn bias_activation(
        &mut self,
        activation: Activation,
        bias: &wgpu::Buffer,
        z: &wgpu::Buffer,
        a: &wgpu::Buffer,
        (rows, cols): (u32, u32),
    ) {
        let dims = BiasActivationDims {
            rows,
            cols,
            activation: activation.code(),
            _pad: 0,
        };
        let op = self.nn.bias_activation(self.device, dims, bias, z, a);
        self.push(op);
    }

    /// `grad ← grad ⊙ act'(z)` over `len` values, in place.
    pub fn activation_backward(
        &mut self,
        activation: Activation,
        z: &wgpu::Buffer,
        grad: &wgpu::Buffer,
        len: u32,
    ) {
        let dims = ActivationDims {
            len,
            activation: activation.code(),
            ..Default::default()
        };
        let op = self.nn.activation_backward(self.device, dims, z, grad);
        self.push(op);
    }

    /// `db[c] = Σ_r dz[r, c]`, written over `db`.
    pub fn bias_grad(&mut self, dz: &wgpu::Buffer, db: &wgpu::Buffer, (rows, cols): (u32, u32)) {
        let dims = RowsDims {
            rows,
            cols,
            ..Default::default()
        };
        let op = self.nn.bias_grad(self.device, dims, dz, db);
        self.push(op);
    }

    /// The loss on `rows × cols` outputs (`∂L/∂outputs`, per-row statistics), then the batch's
    /// history entry in `history`, a ring of `capacity`.
    pub fn loss_and_metrics(
        &mut self,
        loss: Loss,
        (rows, cols): (u32, u32),
        ops: LossOperands<'_>,
        history: &wgpu::Buffer,
        capacity: usize,
    ) {
        let dims = RowsDims {
            rows,
            cols,
            ..Default::default()
        };
        let (batch, row_stats) = (ops.batch, ops.row_stats);
        let op = self.nn.loss(self.device, loss, dims, ops);
        self.push(op);
        let metrics = MetricsDims {
            capacity: capacity as u32,
            ..Default::default()
        };
        let op = self
            .nn
            .batch_metrics(self.device, metrics, batch, row_stats, history);
        self.push(op);
    }
}

/// A batch staged for upload: the words of the model's input buffers, one after the other,
/// each padded to the plan's capacity, and the valid rows the loss averages over.
pub struct Staged {
    pub words: Vec<u32>,
    /// Words of the first buffer (the inputs); the rest are the targets.
    pub inputs: usize,
    pub rows: u32,
}

/// What a model uploads with each batch.
pub trait Inputs {
    /// A batch as the caller passes it.
    type Batch<'a>;
    /// Checks a batch against the model and a plan of `capacity`; returns its rows (MLP) or
    /// sequences (GPT).
    fn check(&self, capacity: usize, batch: &Self::Batch<'_>) -> Result<usize>;
    /// Checks a batch and returns its words for [`buffers`](Inputs::buffers).
    fn stage(&self, capacity: usize, batch: &Self::Batch<'_>) -> Result<Staged>;
    /// The inputs and the targets buffers.
    fn buffers(&self) -> [&wgpu::Buffer; 2];
    /// The last layer's outputs (rows past the batch are padding).
    fn outputs(&self) -> &wgpu::Buffer;
}

/// The recorded launches and buffers for batches of up to `capacity` rows or sequences.
/// Created once (its pipelines warmed up then); each [`record`](BatchPlan::record) uploads a
/// batch and replays the launches in one compute pass.
pub struct BatchPlan<I> {
    pub(crate) inputs: I,
    label: &'static str,
    capacity: usize,
    backward: bool,
    /// `[valid rows, history slot, 0, 0]`, uploaded with each batch.
    batch: wgpu::Buffer,
    /// One `[loss sum, correct, rows, 0]` entry per batch, a ring of `history_capacity`.
    history: wgpu::Buffer,
    history_capacity: usize,
    ops: Vec<Dispatch>,
    recorded: u64,
    read: u64,
}

/// The buffers a plan's loss and metrics launches write to, before the launches exist.
pub(crate) struct PlanBuffers {
    pub batch: wgpu::Buffer,
    pub history: wgpu::Buffer,
}

impl PlanBuffers {
    /// `label` names the model (`mlp`, `gpt`).
    pub fn new(device: &wgpu::Device, label: &str, history: usize) -> Self {
        Self {
            batch: storage(device, &format!("{label} batch"), 4),
            history: storage(device, &format!("{label} history"), history as u64 * 4),
        }
    }
}

/// How a plan was asked for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PlanSizes {
    pub capacity: usize,
    pub backward: bool,
    pub history: usize,
}

impl<I: Inputs> BatchPlan<I> {
    /// Warms up `ops` (so that no step pays for compiling a kernel) and keeps them.
    pub(crate) fn new(
        ctx: &GpuContext,
        label: &'static str,
        inputs: I,
        sizes: PlanSizes,
        buffers: PlanBuffers,
        ops: Vec<Dispatch>,
    ) -> Self {
        crate::kernels::warm_up(&ctx.device, &ctx.queue, &ops);
        Self {
            inputs,
            label,
            capacity: sizes.capacity,
            backward: sizes.backward,
            batch: buffers.batch,
            history: buffers.history,
            history_capacity: sizes.history,
            ops,
            recorded: 0,
            read: 0,
        }
    }

    /// Most rows (MLP) or sequences (GPT) per batch.
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

    /// The last layer's outputs (logits, or the squared error's predictions), `capacity` rows
    /// (positions for the GPT) × outputs; rows past the batch are padding.
    pub fn outputs_buffer(&self) -> &wgpu::Buffer {
        self.inputs.outputs()
    }

    /// Batches recorded so far.
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    /// Checks a batch against the model and this plan's capacity; returns its rows (MLP) or
    /// sequences (GPT).
    pub fn check(&self, batch: &I::Batch<'_>) -> Result<usize> {
        self.inputs.check(self.capacity, batch)
    }

    /// Records one batch into `encoder`: uploads it (through a staging buffer of its own, so that
    /// several batches can be recorded before one submit), then the launches in one compute pass.
    pub fn record(
        &mut self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        batch: &I::Batch<'_>,
    ) -> Result<()> {
        self.upload(ctx, encoder, batch)?;
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(self.label),
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
        batch: &I::Batch<'_>,
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

    /// Checks a batch and records its upload: inputs, targets, then `[rows, slot, 0, 0]`
    /// (`rows` as [`Staged::rows`]).
    fn upload(
        &mut self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        batch: &I::Batch<'_>,
    ) -> Result<()> {
        let Staged {
            mut words,
            inputs,
            rows,
        } = self.inputs.stage(self.capacity, batch)?;
        let header = words.len();
        let slot = (self.recorded % self.history_capacity as u64) as u32;
        words.extend_from_slice(&[rows, slot, 0, 0]);
        let staging = ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("batch staging"),
                contents: bytemuck::cast_slice(&words),
                usage: wgpu::BufferUsages::COPY_SRC,
            });
        let bytes = |words: usize| words as u64 * 4;
        let [input, targets] = self.inputs.buffers();
        encoder.copy_buffer_to_buffer(&staging, 0, input, 0, bytes(inputs));
        encoder.copy_buffer_to_buffer(&staging, bytes(inputs), targets, 0, bytes(header - inputs));
        encoder.copy_buffer_to_buffer(&staging, bytes(header), &self.batch, 0, 16);
        self.recorded += 1;
        Ok(())
    }

    /// The metrics of every batch recorded since the last call, oldest first (waits for the GPU).
    /// Only the last `history` batches are kept: read at least that often. The batches must have
    /// been submitted.
    pub async fn read_history(&mut self, ctx: &GpuContext) -> Result<Vec<Metrics>> {
        let (recorded, capacity) = (self.recorded, self.history_capacity);
        super::batch::read_metrics_ring(ctx, &self.history, capacity, recorded, &mut self.read)
            .await
    }
}

/// A model the [`ModelTrainer`](super::trainer::ModelTrainer) trains: parameters on the GPU,
/// registered with the optimizer in place, and plans that run batches through it.
pub trait Model: Sized {
    /// The sizes.
    type Spec: Clone;
    /// What a parameter is, for routing it to Muon or AdamW.
    type Param;
    /// The values of the model's parameters as the caller holds them.
    type Values;
    /// What the model's plans upload.
    type Inputs: Inputs;
    /// Names the model in labels (`mlp`, `gpt`).
    const LABEL: &'static str;

    /// Uploads `params` and gets the kernels.
    fn new(ctx: &GpuContext, spec: Self::Spec, params: &[Self::Values]) -> Result<Self>;
    fn context(&self) -> &GpuContext;
    fn spec(&self) -> &Self::Spec;
    /// Registers every parameter with the optimizer on the model's own buffers; `route` picks
    /// each one's group.
    fn register(
        &self,
        builder: &mut crate::optimizer::OptimizerBuilder,
        route: &dyn Fn(&Self::Param) -> crate::settings::Route,
    ) -> Result<()>;
    /// Records the launches for batches of up to `capacity` rows or sequences.
    fn plan(
        &self,
        capacity: usize,
        backward: bool,
        history: usize,
    ) -> Result<BatchPlan<Self::Inputs>>;
    /// A plan a trainer keeps for sampling, if the model samples.
    fn sampler(&self) -> Result<Option<BatchPlan<Self::Inputs>>> {
        Ok(None)
    }
    /// Every parameter's value (or, with `grads`, gradient) buffer, in registration order.
    fn param_ranges(&self, grads: bool) -> Vec<crate::gpu::readback::BufferRange>;
    /// The values read from [`param_ranges`](Model::param_ranges), as the caller holds them.
    fn assemble(&self, values: Vec<Vec<f32>>) -> Vec<Self::Values>;
}

/// Every parameter's value (or, with `grads`, its gradient from the last backward pass that
/// ran); waits for the GPU.
pub(crate) async fn read_values<M: Model>(model: &M, grads: bool) -> Result<Vec<M::Values>> {
    let values =
        crate::gpu::readback::read_ranges(model.context(), &model.param_ranges(grads)).await?;
    Ok(model.assemble(values))
}
