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

use crate::error::{Error, Result};
use crate::gpu::readback::BufferRange;
use crate::gpu::GpuContext;
use crate::optimizer::{OptimizerBuilder, Source};
use crate::settings::Route;

use super::batch::{check_batch, Batch, Targets};
use super::kernels::LossOperands;
use super::model::{LayerParams, Loss, MlpSpec, ParamKind, ParamRole};
use super::plan::{
    check_sizes, read_values, storage, storage_init, BatchPlan, Inputs, Model, ModelGpu,
    PlanBuffers, PlanSizes, Recorder, Staged,
};

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
    gpu: ModelGpu,
    spec: MlpSpec,
    layers: Vec<LayerBuffers>,
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
    /// Uploads `params` (one per layer, as [`init_params`](super::init_params) makes them) and gets the kernels from the shader registry.
    pub fn new(ctx: &GpuContext, spec: MlpSpec, params: &[LayerParams]) -> Result<Self> {
        spec.validate()?;
        check_params(&spec, params)?;
        let device = &ctx.device;
        let layers = params
            .iter()
            .map(|p| LayerBuffers {
                weight: storage_init(device, "mlp weight", &p.weight),
                weight_grad: storage(device, "mlp weight grad", p.weight.len() as u64),
                bias: storage_init(device, "mlp bias", &p.bias),
                bias_grad: storage(device, "mlp bias grad", p.bias.len() as u64),
            })
            .collect();
        Ok(Self {
            gpu: ModelGpu::new(ctx),
            spec,
            layers,
        })
    }

    pub fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    pub fn context(&self) -> &GpuContext {
        &self.gpu.ctx
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
            self.gpu
                .ctx
                .queue
                .write_buffer(&b.weight, 0, bytemuck::cast_slice(&p.weight));
            self.gpu
                .ctx
                .queue
                .write_buffer(&b.bias, 0, bytemuck::cast_slice(&p.bias));
        }
        Ok(())
    }

    /// Every layer's current parameters (waits for the GPU).
    pub async fn read_params(&self) -> Result<Vec<LayerParams>> {
        read_values(self, false).await
    }

    /// Every layer's gradients from the last backward pass that ran (waits for the GPU).
    pub async fn read_gradients(&self) -> Result<Vec<LayerParams>> {
        read_values(self, true).await
    }

    /// Records the launches for batches of up to `capacity` rows: forward, loss and metrics,
    /// and with `backward` the gradients. `history` batches of metrics are kept on the GPU
    /// between readbacks.
    pub fn plan(&self, capacity: usize, backward: bool, history: usize) -> Result<Plan> {
        let sizes = PlanSizes {
            capacity,
            backward,
            history,
        };
        new_plan(self, sizes)
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

impl Model for Mlp {
    type Spec = MlpSpec;
    type Param = ParamRole;
    type Values = LayerParams;
    type Inputs = MlpInputs;
    const LABEL: &'static str = "mlp";

    fn new(ctx: &GpuContext, spec: MlpSpec, params: &[LayerParams]) -> Result<Self> {
        Mlp::new(ctx, spec, params)
    }
    fn context(&self) -> &GpuContext {
        &self.gpu.ctx
    }
    fn spec(&self) -> &MlpSpec {
        &self.spec
    }
    fn register(
        &self,
        builder: &mut OptimizerBuilder,
        route: &dyn Fn(&ParamRole) -> Route,
    ) -> Result<()> {
        Mlp::register(self, builder, route)
    }
    fn plan(&self, capacity: usize, backward: bool, history: usize) -> Result<Plan> {
        Mlp::plan(self, capacity, backward, history)
    }
    fn param_ranges(&self, grads: bool) -> Vec<BufferRange> {
        let range = |role: ParamRole| {
            let (value, grad, shape) = self.param_buffers(&role);
            BufferRange {
                buffer: if grads { grad } else { value }.clone(),
                offset: 0,
                len: shape.iter().product(),
            }
        };
        self.spec.roles().into_iter().map(range).collect()
    }
    fn assemble(&self, values: Vec<Vec<f32>>) -> Vec<LayerParams> {
        let mut values = values.into_iter();
        (0..self.spec.layers())
            .map(|_| LayerParams {
                weight: values.next().expect("a weight per layer"),
                bias: values.next().expect("a bias per layer"),
            })
            .collect()
    }
}

/// What an MLP plan uploads: a batch of rows and their labels or target values.
pub struct MlpInputs {
    spec: MlpSpec,
    /// `capacity × inputs`.
    input: wgpu::Buffer,
    /// `capacity` labels, or `capacity × outputs` values.
    targets: wgpu::Buffer,
    /// The last layer's activations.
    outputs: wgpu::Buffer,
}

impl Inputs for MlpInputs {
    type Batch<'a> = Batch<'a>;

    fn check(&self, capacity: usize, batch: &Batch<'_>) -> Result<usize> {
        check_batch(&self.spec, capacity, batch)
    }

    fn stage(&self, capacity: usize, batch: &Batch<'_>) -> Result<Staged> {
        let rows = self.check(capacity, batch)?;
        let (features, classes) = (self.spec.inputs(), self.spec.outputs());
        let mut words: Vec<u32> = Vec::with_capacity(capacity * (features + classes) + 4);
        words.extend(batch.inputs.iter().map(|v| v.to_bits()));
        // Padding rows are zero so that they stay finite; the loss gives them no gradient.
        words.resize(capacity * features, 0);
        let inputs = words.len();
        match (self.spec.loss, &batch.targets) {
            (Loss::SoftmaxCrossEntropy, Targets::Labels(labels)) => {
                words.extend_from_slice(labels);
                words.resize(inputs + capacity, 0);
            }
            (Loss::MeanSquaredError, Targets::Values(values)) => {
                words.extend(values.iter().map(|v| v.to_bits()));
                words.resize(inputs + capacity * classes, 0);
            }
            (Loss::MeanSquaredError, Targets::Labels(labels)) => {
                for &label in labels.iter() {
                    let one_hot = |c| if c == label { 1f32.to_bits() } else { 0 };
                    words.extend((0..classes as u32).map(one_hot));
                }
                words.resize(inputs + capacity * classes, 0);
            }
            (Loss::SoftmaxCrossEntropy, Targets::Values(_)) => unreachable!("rejected by check"),
        }
        Ok(Staged {
            words,
            inputs,
            rows: rows as u32,
        })
    }

    fn buffers(&self) -> [&wgpu::Buffer; 2] {
        [&self.input, &self.targets]
    }

    fn outputs(&self) -> &wgpu::Buffer {
        &self.outputs
    }
}

/// The recorded launches and activation buffers for batches of up to `capacity` rows.
/// Created once; each [`record`](BatchPlan::record) uploads a batch and replays the launches.
pub type Plan = BatchPlan<MlpInputs>;

impl Plan {
    /// The input buffer, `capacity × inputs`.
    pub fn input_buffer(&self) -> &wgpu::Buffer {
        &self.inputs.input
    }
}

/// The activations of a plan, per layer.
struct Activations {
    /// `Z` of every layer.
    pre: Vec<wgpu::Buffer>,
    /// `A = act(Z)` of every layer.
    post: Vec<wgpu::Buffer>,
    /// `∂L/∂A` of every hidden layer.
    dpost: Vec<wgpu::Buffer>,
    /// `∂L/∂outputs`.
    doutputs: wgpu::Buffer,
    /// `[loss, correct]` per row.
    row_stats: wgpu::Buffer,
}

impl Activations {
    fn new(device: &wgpu::Device, spec: &MlpSpec, rows: u64) -> Self {
        let layers = spec.layers();
        let each = |label: &str, range: std::ops::Range<usize>| -> Vec<wgpu::Buffer> {
            let width = |l: usize| rows * spec.sizes[l] as u64;
            range.map(|l| storage(device, label, width(l))).collect()
        };
        Self {
            pre: each("mlp pre-activation", 1..layers + 1),
            post: each("mlp activation", 1..layers + 1),
            dpost: each("mlp activation grad", 1..layers),
            doutputs: storage(device, "mlp output grad", rows * spec.outputs() as u64),
            row_stats: storage(device, "mlp row stats", rows * 2),
        }
    }
}

/// Checks that `capacity` rows of the widest layer fit one storage binding.
fn check_activations(ctx: &GpuContext, spec: &MlpSpec, capacity: usize) -> Result<()> {
    let limit = ctx.limits().max_storage_buffer_binding_size;
    let widest = *spec.sizes.iter().max().expect("sizes") as u64;
    let bytes = capacity as u64 * widest * 4;
    if bytes > limit {
        return Err(Error::TooLarge {
            what: format!("activations of {capacity} rows × {widest}"),
            bytes,
            limit,
        });
    }
    Ok(())
}

fn new_plan(mlp: &Mlp, sizes: PlanSizes) -> Result<Plan> {
    check_sizes(sizes.capacity, sizes.history)?;
    let (spec, device) = (&mlp.spec, &mlp.gpu.ctx.device);
    check_activations(&mlp.gpu.ctx, spec, sizes.capacity)?;
    let rows = sizes.capacity as u64;
    let input = storage(device, "mlp input", rows * spec.inputs() as u64);
    let targets = match spec.loss {
        Loss::SoftmaxCrossEntropy => storage(device, "mlp labels", rows),
        Loss::MeanSquaredError => storage(device, "mlp targets", rows * spec.outputs() as u64),
    };
    let buffers = PlanBuffers::new(device, "mlp", sizes.history);
    let acts = Activations::new(device, spec, rows);
    let mut rec = mlp.gpu.recorder();
    let r = sizes.capacity as u32;
    forward(&mut rec, mlp, &input, &acts, r);
    let outputs = &acts.post[spec.layers() - 1];
    let loss_ops = LossOperands {
        outputs,
        targets: &targets,
        batch: &buffers.batch,
        doutputs: &acts.doutputs,
        row_stats: &acts.row_stats,
    };
    let dims = (r, spec.outputs() as u32);
    rec.loss_and_metrics(spec.loss, dims, loss_ops, &buffers.history, sizes.history);
    if sizes.backward {
        backward(&mut rec, mlp, &input, &acts, r);
    }
    let inputs = MlpInputs {
        spec: spec.clone(),
        input,
        targets,
        outputs: outputs.clone(),
    };
    Ok(BatchPlan::new(
        &mlp.gpu.ctx,
        "mlp batch",
        inputs,
        sizes,
        buffers,
        rec.ops,
    ))
}

/// Every layer: `Z ← X·Wᵀ`, then `Z ← Z + b`, `A ← act(Z)`.
fn forward(rec: &mut Recorder<'_>, mlp: &Mlp, input: &wgpu::Buffer, acts: &Activations, r: u32) {
    for l in 0..mlp.spec.layers() {
        let (fan_in, fan_out) = mlp.spec.layer_dims(l);
        let (fi, fo) = (fan_in as u32, fan_out as u32);
        let x = if l == 0 { input } else { &acts.post[l - 1] };
        let layer = &mlp.layers[l];
        rec.linear(x, &layer.weight, None, &acts.pre[l], r, (fi, fo));
        let act = mlp.spec.layer_activation(l);
        rec.bias_activation(act, &layer.bias, &acts.pre[l], &acts.post[l], (r, fo));
    }
}

/// Every layer, last first: `dZ ← dA ⊙ act'(Z)`, `dW ← dZᵀ·X`, `db ← Σ dZ`, `dX ← dZ·W`.
fn backward(rec: &mut Recorder<'_>, mlp: &Mlp, input: &wgpu::Buffer, acts: &Activations, r: u32) {
    let layers = mlp.spec.layers();
    for l in (0..layers).rev() {
        let (fan_in, fan_out) = mlp.spec.layer_dims(l);
        let (fi, fo) = (fan_in as u32, fan_out as u32);
        let x = if l == 0 { input } else { &acts.post[l - 1] };
        let dz = if l + 1 == layers {
            &acts.doutputs
        } else {
            &acts.dpost[l]
        };
        let act = mlp.spec.layer_activation(l);
        if act != super::model::Activation::Identity {
            rec.activation_backward(act, &acts.pre[l], dz, r * fo);
        }
        let layer = &mlp.layers[l];
        rec.weight_grad(dz, x, &layer.weight_grad, r, (fi, fo));
        rec.bias_grad(dz, &layer.bias_grad, (r, fo));
        if l > 0 {
            rec.input_grad(dz, &layer.weight, &acts.dpost[l - 1], r, (fi, fo));
        }
    }
}
