//! The MLP on the GPU: its parameters and gradients in buffers of their own, and the recorded
//! plans (forward, loss, metrics, backward) that run a batch through it.
//!
//! A layer `Z = X·Wᵀ + b`, `A = act(Z)` runs as
//! ```text
//! forward    Z ← X·Wᵀ                  matmul, Transpose::RIGHT (W stored out × in)
//!            Z ← Z + b;  A ← act(Z)    nn_bias_activation
//! backward   dZ ← dA ⊙ act'(Z)         nn_activation_backward (skipped for the linear last layer)
//!            dW ← dZᵀ·X                matmul, Transpose::LEFT, written into the optimizer's gradient buffer
//!            db ← Σ_rows dZ            nn_bias_grad, written into the optimizer's gradient buffer
//!            dX ← dZ·W                 matmul (not for the first layer)
//! ```
//! after which the loss kernel turns the last layer's outputs into `∂L/∂outputs` and per-row
//! statistics, and `nn_batch_metrics` sums those into one history entry per batch.

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};
use crate::gpu::readback::{read_ranges, BufferRange};
use crate::gpu::GpuContext;
use crate::kernels::{Dispatch, Kernels, MatmulDims, MatmulOperands, Transpose};
use crate::optimizer::{OptimizerBuilder, Source};
use crate::settings::Route;

use super::batch::{check_batch, Batch, Metrics, Targets};
use super::kernels::{
    ActivationDims, BiasActivationDims, LossOperands, MetricsDims, NnKernels, RowsDims,
};
use super::model::{Activation, LayerParams, Loss, MlpSpec, ParamKind, ParamRole};

/// Usage of every buffer of the MLP: bound as storage, written from the host, read back.
const USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

fn storage(device: &wgpu::Device, label: &str, bytes: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(16).next_multiple_of(4),
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

/// One layer's parameters and gradients, each in a buffer of its own (the matmul binds whole buffers).
#[derive(Clone, Debug)]
pub struct LayerBuffers {
    /// `(out, in)`, row-major.
    pub weight: wgpu::Buffer,
    pub weight_grad: wgpu::Buffer,
    pub bias: wgpu::Buffer,
    pub bias_grad: wgpu::Buffer,
}

/// An MLP's parameters on the GPU, with the kernels that run it.
#[derive(Clone, Debug)]
pub struct Mlp {
    ctx: GpuContext,
    spec: MlpSpec,
    layers: Vec<LayerBuffers>,
    matmul: Kernels,
    nn: NnKernels,
}

fn length_error(role: &ParamRole, shape: Vec<usize>, expected: usize, got: usize) -> Error {
    Error::LengthMismatch {
        name: role.name(),
        what: "initial value".into(),
        shape,
        expected,
        got,
    }
}

impl Mlp {
    /// Uploads `params` (one per layer, as [`init_params`](super::init_params) makes them) and compiles the kernels.
    pub fn new(ctx: &GpuContext, spec: MlpSpec, params: &[LayerParams]) -> Result<Self> {
        spec.validate()?;
        check_params(&spec, params)?;
        let device = &ctx.device;
        let layers = params
            .iter()
            .map(|p| LayerBuffers {
                weight: storage_init(device, "mlp weight", &p.weight),
                weight_grad: storage(device, "mlp weight grad", p.weight.len() as u64 * 4),
                bias: storage_init(device, "mlp bias", &p.bias),
                bias_grad: storage(device, "mlp bias grad", p.bias.len() as u64 * 4),
            })
            .collect();
        Ok(Self {
            ctx: ctx.clone(),
            spec,
            layers,
            matmul: Kernels::new(device),
            nn: NnKernels::new(device),
        })
    }

    pub fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// Layer `l`'s buffers.
    pub fn layer(&self, l: usize) -> &LayerBuffers {
        &self.layers[l]
    }

    fn param_buffers(&self, role: &ParamRole) -> (&wgpu::Buffer, &wgpu::Buffer, Vec<usize>) {
        let b = &self.layers[role.layer];
        let (fan_in, fan_out) = self.spec.layer_dims(role.layer);
        match role.kind {
            ParamKind::Weight => (&b.weight, &b.weight_grad, vec![fan_out, fan_in]),
            ParamKind::Bias => (&b.bias, &b.bias_grad, vec![fan_out]),
        }
    }

    /// Registers every parameter (`layers.<l>.weight` of shape `[out, in]`, `layers.<l>.bias` of
    /// shape `[out]`) with the optimizer, on the MLP's own buffers: the backward pass writes the
    /// gradients straight into the buffers the optimizer reads, and the optimizer updates the
    /// weights the next forward pass reads. `route` picks each parameter's group.
    pub fn register(
        &self,
        builder: &mut OptimizerBuilder,
        route: impl Fn(&ParamRole) -> Route,
    ) -> Result<()> {
        for role in self.spec.roles() {
            let (value, grad, shape) = self.param_buffers(&role);
            builder.add(
                &role.name(),
                &shape,
                Source::Buffers {
                    value: value.clone(),
                    grad: grad.clone(),
                },
                route(&role),
            )?;
        }
        Ok(())
    }

    /// Overwrites every parameter (staged on the queue, used by the next submit).
    pub fn write_params(&self, params: &[LayerParams]) -> Result<()> {
        check_params(&self.spec, params)?;
        for (b, p) in self.layers.iter().zip(params) {
            self.ctx
                .queue
                .write_buffer(&b.weight, 0, bytemuck::cast_slice(&p.weight));
            self.ctx
                .queue
                .write_buffer(&b.bias, 0, bytemuck::cast_slice(&p.bias));
        }
        Ok(())
    }

    async fn read_pairs(&self, grads: bool) -> Result<Vec<LayerParams>> {
        let mut ranges = Vec::new();
        for role in self.spec.roles() {
            let (value, grad, shape) = self.param_buffers(&role);
            ranges.push(BufferRange {
                buffer: if grads { grad.clone() } else { value.clone() },
                offset: 0,
                len: shape.iter().product(),
            });
        }
        let mut values = read_ranges(&self.ctx, &ranges).await?.into_iter();
        Ok((0..self.spec.layers())
            .map(|_| LayerParams {
                weight: values.next().expect("a weight per layer"),
                bias: values.next().expect("a bias per layer"),
            })
            .collect())
    }

    /// Every layer's current parameters (waits for the GPU).
    pub async fn read_params(&self) -> Result<Vec<LayerParams>> {
        self.read_pairs(false).await
    }

    /// Every layer's gradients from the last backward pass that ran (waits for the GPU).
    pub async fn read_gradients(&self) -> Result<Vec<LayerParams>> {
        self.read_pairs(true).await
    }

    /// Records the launches for batches of up to `capacity` rows: forward, loss and metrics,
    /// and with `backward` the gradients. `history` batches of metrics are kept on the GPU
    /// between readbacks.
    pub fn plan(&self, capacity: usize, backward: bool, history: usize) -> Result<Plan> {
        Plan::new(self, capacity, backward, history)
    }
}

fn check_params(spec: &MlpSpec, params: &[LayerParams]) -> Result<()> {
    if params.len() != spec.layers() {
        return Err(Error::InvalidShape {
            name: "mlp".into(),
            shape: spec.sizes.clone(),
            reason: format!(
                "{} layers need {} parameter sets, got {}",
                spec.layers(),
                spec.layers(),
                params.len()
            ),
        });
    }
    for (l, p) in params.iter().enumerate() {
        let (fan_in, fan_out) = spec.layer_dims(l);
        let [weight_role, bias_role] = [ParamKind::Weight, ParamKind::Bias].map(|kind| ParamRole {
            layer: l,
            layers: spec.layers(),
            kind,
        });
        if p.weight.len() != fan_out * fan_in {
            return Err(length_error(
                &weight_role,
                vec![fan_out, fan_in],
                fan_out * fan_in,
                p.weight.len(),
            ));
        }
        if p.bias.len() != fan_out {
            return Err(length_error(
                &bias_role,
                vec![fan_out],
                fan_out,
                p.bias.len(),
            ));
        }
    }
    Ok(())
}

/// The recorded launches and activation buffers for batches of up to `capacity` rows.
/// Created once; each [`record`](Plan::record) uploads a batch and replays the launches.
pub struct Plan {
    spec: MlpSpec,
    capacity: usize,
    backward: bool,
    input: wgpu::Buffer,
    targets: wgpu::Buffer,
    /// `[valid rows, history slot, 0, 0]`, uploaded with each batch.
    batch: wgpu::Buffer,
    outputs: wgpu::Buffer,
    history: wgpu::Buffer,
    history_capacity: usize,
    ops: Vec<Dispatch>,
    recorded: u64,
    read: u64,
}

fn too_large(what: &str, rows: usize) -> Error {
    Error::InvalidHyperparameter {
        key: what.into(),
        value: rows.to_string(),
        reason: "must be between 1 and 2^24".into(),
    }
}

impl Plan {
    fn new(mlp: &Mlp, capacity: usize, backward: bool, history: usize) -> Result<Self> {
        if capacity == 0 || capacity > 1 << 24 {
            return Err(too_large("batch_size", capacity));
        }
        if history == 0 || history > 1 << 24 {
            return Err(too_large("history", history));
        }
        let spec = mlp.spec.clone();
        let device = &mlp.ctx.device;
        let layers = spec.layers();
        let rows = capacity as u64;
        let limit = mlp.ctx.limits().max_storage_buffer_binding_size;
        let widest = *spec.sizes.iter().max().expect("sizes") as u64;
        if rows * widest * 4 > limit {
            return Err(Error::TooLarge {
                what: format!("activations of {capacity} rows × {widest}"),
                bytes: rows * widest * 4,
                limit,
            });
        }
        let input = storage(device, "mlp input", rows * spec.inputs() as u64 * 4);
        let targets = match spec.loss {
            Loss::SoftmaxCrossEntropy => storage(device, "mlp labels", rows * 4),
            Loss::MeanSquaredError => {
                storage(device, "mlp targets", rows * spec.outputs() as u64 * 4)
            }
        };
        let batch = storage(device, "mlp batch", 16);
        let pre: Vec<wgpu::Buffer> = (1..=layers)
            .map(|l| {
                storage(
                    device,
                    "mlp pre-activation",
                    rows * spec.sizes[l] as u64 * 4,
                )
            })
            .collect();
        let post: Vec<wgpu::Buffer> = (1..=layers)
            .map(|l| storage(device, "mlp activation", rows * spec.sizes[l] as u64 * 4))
            .collect();
        // Gradients with respect to each hidden layer's output.
        let dpost: Vec<wgpu::Buffer> = (1..layers)
            .map(|l| {
                storage(
                    device,
                    "mlp activation grad",
                    rows * spec.sizes[l] as u64 * 4,
                )
            })
            .collect();
        let doutputs = storage(device, "mlp output grad", rows * spec.outputs() as u64 * 4);
        let row_stats = storage(device, "mlp row stats", rows * 8);
        let history_buffer = storage(device, "mlp history", history as u64 * 16);

        let (m, nn) = (&mlp.matmul, &mlp.nn);
        let r = capacity as u32;
        let mut ops = Vec::new();
        for l in 0..layers {
            let (fan_in, fan_out) = spec.layer_dims(l);
            let (fi, fo) = (fan_in as u32, fan_out as u32);
            let x = if l == 0 { &input } else { &post[l - 1] };
            let dims = MatmulDims {
                m: r,
                n: fo,
                k: fi,
                l_stride: r * fi,
                r_stride: fo * fi,
                c_stride: r * fo,
                alpha: 1.0,
                ..Default::default()
            };
            let operands = MatmulOperands {
                left: x,
                right: &mlp.layers[l].weight,
                addend: x,
                result: &pre[l],
            };
            ops.push(m.matmul(device, dims, 1, Transpose::RIGHT, operands));
            let dims = BiasActivationDims {
                rows: r,
                cols: fo,
                activation: spec.layer_activation(l).code(),
                _pad: 0,
            };
            ops.push(nn.bias_activation(device, dims, &mlp.layers[l].bias, &pre[l], &post[l]));
        }
        let loss_dims = RowsDims {
            rows: r,
            cols: spec.outputs() as u32,
            ..Default::default()
        };
        let loss_ops = LossOperands {
            outputs: &post[layers - 1],
            targets: &targets,
            batch: &batch,
            doutputs: &doutputs,
            row_stats: &row_stats,
        };
        ops.push(match spec.loss {
            Loss::SoftmaxCrossEntropy => nn.softmax_cross_entropy(device, loss_dims, loss_ops),
            Loss::MeanSquaredError => nn.mean_squared_error(device, loss_dims, loss_ops),
        });
        let metrics = MetricsDims {
            capacity: history as u32,
            ..Default::default()
        };
        ops.push(nn.batch_metrics(device, metrics, &batch, &row_stats, &history_buffer));

        if backward {
            for l in (0..layers).rev() {
                let (fan_in, fan_out) = spec.layer_dims(l);
                let (fi, fo) = (fan_in as u32, fan_out as u32);
                let x = if l == 0 { &input } else { &post[l - 1] };
                let dz = if l + 1 == layers {
                    &doutputs
                } else {
                    &dpost[l]
                };
                let act = spec.layer_activation(l);
                if act != Activation::Identity {
                    let dims = ActivationDims {
                        len: r * fo,
                        activation: act.code(),
                        ..Default::default()
                    };
                    ops.push(nn.activation_backward(device, dims, &pre[l], dz));
                }
                let layer = &mlp.layers[l];
                let dims = MatmulDims {
                    m: fo,
                    n: fi,
                    k: r,
                    l_stride: r * fo,
                    r_stride: r * fi,
                    c_stride: fo * fi,
                    alpha: 1.0,
                    ..Default::default()
                };
                let operands = MatmulOperands {
                    left: dz,
                    right: x,
                    addend: dz,
                    result: &layer.weight_grad,
                };
                ops.push(m.matmul(device, dims, 1, Transpose::LEFT, operands));
                let dims = RowsDims {
                    rows: r,
                    cols: fo,
                    ..Default::default()
                };
                ops.push(nn.bias_grad(device, dims, dz, &layer.bias_grad));
                if l > 0 {
                    let dims = MatmulDims {
                        m: r,
                        n: fi,
                        k: fo,
                        l_stride: r * fo,
                        r_stride: fo * fi,
                        c_stride: r * fi,
                        alpha: 1.0,
                        ..Default::default()
                    };
                    let operands = MatmulOperands {
                        left: dz,
                        right: &layer.weight,
                        addend: dz,
                        result: &dpost[l - 1],
                    };
                    ops.push(m.matmul(device, dims, 1, Transpose::NONE, operands));
                }
            }
        }
        // Compile every kernel now, so that no step pays for it.
        crate::kernels::warm_up(device, &mlp.ctx.queue, &ops);
        Ok(Self {
            spec,
            capacity,
            backward,
            input,
            targets,
            batch,
            outputs: post[layers - 1].clone(),
            history: history_buffer,
            history_capacity: history,
            ops,
            recorded: 0,
            read: 0,
        })
    }

    /// Most rows per batch.
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

    /// The input buffer, `capacity × inputs`.
    pub fn input_buffer(&self) -> &wgpu::Buffer {
        &self.input
    }

    /// The last layer's outputs, `capacity × outputs` (rows past the batch are padding).
    pub fn outputs_buffer(&self) -> &wgpu::Buffer {
        &self.outputs
    }

    /// Batches recorded so far.
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    /// Checks a batch against the spec and this plan's capacity; returns its rows.
    pub fn check(&self, batch: &Batch<'_>) -> Result<usize> {
        check_batch(&self.spec, self.capacity, batch)
    }

    /// Records one batch into `encoder`: uploads it (through a staging buffer of its own, so that
    /// several batches can be recorded before one submit), then the plan's launches in one compute pass.
    pub fn record(
        &mut self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        batch: &Batch<'_>,
    ) -> Result<()> {
        let rows = self.check(batch)?;
        let (features, classes) = (self.spec.inputs(), self.spec.outputs());
        let mut staging: Vec<u32> = Vec::with_capacity(self.capacity * (features + classes) + 4);
        staging.extend(batch.inputs.iter().map(|v| v.to_bits()));
        // Padding rows are zero so that they stay finite; the loss gives them no gradient.
        staging.resize(self.capacity * features, 0);
        let targets_at = staging.len();
        match (self.spec.loss, &batch.targets) {
            (Loss::SoftmaxCrossEntropy, Targets::Labels(labels)) => {
                staging.extend_from_slice(labels);
                staging.resize(targets_at + self.capacity, 0);
            }
            (Loss::MeanSquaredError, Targets::Values(values)) => {
                staging.extend(values.iter().map(|v| v.to_bits()));
                staging.resize(targets_at + self.capacity * classes, 0);
            }
            (Loss::MeanSquaredError, Targets::Labels(labels)) => {
                for &label in labels.iter() {
                    staging.extend((0..classes as u32).map(|c| {
                        if c == label {
                            1f32.to_bits()
                        } else {
                            0
                        }
                    }));
                }
                staging.resize(targets_at + self.capacity * classes, 0);
            }
            (Loss::SoftmaxCrossEntropy, Targets::Values(_)) => unreachable!("rejected by check"),
        }
        let batch_at = staging.len();
        let slot = (self.recorded % self.history_capacity as u64) as u32;
        staging.extend_from_slice(&[rows as u32, slot, 0, 0]);
        let staging_buffer = ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("mlp batch staging"),
                contents: bytemuck::cast_slice(&staging),
                usage: wgpu::BufferUsages::COPY_SRC,
            });
        let bytes = |words: usize| words as u64 * 4;
        encoder.copy_buffer_to_buffer(&staging_buffer, 0, &self.input, 0, bytes(targets_at));
        encoder.copy_buffer_to_buffer(
            &staging_buffer,
            bytes(targets_at),
            &self.targets,
            0,
            bytes(batch_at - targets_at),
        );
        encoder.copy_buffer_to_buffer(&staging_buffer, bytes(batch_at), &self.batch, 0, 16);
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("mlp batch"),
            timestamp_writes: None,
        });
        for op in &self.ops {
            op.record(&mut pass);
        }
        drop(pass);
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
