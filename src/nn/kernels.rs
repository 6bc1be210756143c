//! The MLP's own WGSL kernels (`shaders/nn_*.wgsl`, one kernel per file, in [`crate::shaders`]):
//! their uniforms and how to bind and dispatch them. The matrix products reuse the crate's [`matmul`](crate::kernels::Kernels::matmul).
//!
//! Every pipeline of `nn` and `nn::gpt` comes from the crate's shader registry through
//! `registered`, once per model; a [`Dispatch`] is created once per plan and replayed every step.

use crate::kernels::{elementwise_grid, Dispatch, Kernels};

use super::model::Loss;

/// The pipeline of one of the model shaders (`nn_*.wgsl`, `gpt_*.wgsl`), from the crate's shader
/// registry: the one place the models get their pipelines from.
pub(crate) fn registered(
    registry: &Kernels,
    device: &wgpu::Device,
    file: &str,
) -> wgpu::ComputePipeline {
    registry.pipeline(device, file, &[])
}

/// One model shader's pipeline with the label its launches carry (the file's name without
/// `.wgsl`).
#[derive(Clone, Debug)]
pub(crate) struct Kernel {
    label: &'static str,
    pipeline: wgpu::ComputePipeline,
}

impl Kernel {
    /// The pipeline of `shaders/<label>.wgsl`, from the registry.
    pub fn new(registry: &Kernels, device: &wgpu::Device, label: &'static str) -> Self {
        Self {
            label,
            pipeline: registered(registry, device, &format!("{label}.wgsl")),
        }
    }

    /// A launch with `dims` as its uniform and `buffers` at bindings 1, 2, …
    pub fn launch<T: bytemuck::Pod>(
        &self,
        device: &wgpu::Device,
        dims: &T,
        buffers: &[&wgpu::Buffer],
        workgroups: [u32; 3],
    ) -> Dispatch {
        let uniform = bytemuck::bytes_of(dims);
        Dispatch::with_uniform(
            device,
            self.label,
            &self.pipeline,
            uniform,
            buffers,
            workgroups,
        )
    }
}

/// Uniform of `nn_bias_activation.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BiasActivationDims {
    pub rows: u32,
    pub cols: u32,
    /// [`Activation::code`](super::Activation::code).
    pub activation: u32,
    pub _pad: u32,
}

/// Uniform of `nn_activation_backward.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ActivationDims {
    pub len: u32,
    pub activation: u32,
    pub _pad: [u32; 2],
}

/// Uniform of `nn_bias_grad.wgsl`, `nn_softmax_cross_entropy.wgsl` and `nn_mean_squared_error.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RowsDims {
    pub rows: u32,
    pub cols: u32,
    pub _pad: [u32; 2],
}

/// Uniform of `nn_batch_metrics.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MetricsDims {
    /// History entries.
    pub capacity: u32,
    pub _pad: [u32; 3],
}

/// The buffers of a loss kernel.
pub struct LossOperands<'a> {
    /// Outputs of the last layer, `rows × cols`.
    pub outputs: &'a wgpu::Buffer,
    /// Labels (`u32`, one per row) for cross-entropy, values (`rows × cols`) for squared error.
    pub targets: &'a wgpu::Buffer,
    /// `[valid rows, history slot]`.
    pub batch: &'a wgpu::Buffer,
    /// `∂loss/∂outputs`, written.
    pub doutputs: &'a wgpu::Buffer,
    /// `[loss, correct]` per row, written.
    pub row_stats: &'a wgpu::Buffer,
}

/// The pipelines of the MLP kernels.
#[derive(Clone, Debug)]
pub struct NnKernels {
    bias_activation: Kernel,
    activation_backward: Kernel,
    bias_grad: Kernel,
    softmax_cross_entropy: Kernel,
    mean_squared_error: Kernel,
    batch_metrics: Kernel,
    max_workgroups: u32,
}

/// Rows one workgroup of the per-row loss kernels covers.
const LOSS_WORKGROUP: u32 = 64;
/// Columns one workgroup of `nn_bias_grad.wgsl` sums.
const BIAS_GRAD_COLUMNS: u32 = 16;

impl NnKernels {
    /// Every pipeline, from the registry.
    pub fn new(registry: &Kernels, device: &wgpu::Device) -> Self {
        Self {
            bias_activation: Kernel::new(registry, device, "nn_bias_activation"),
            activation_backward: Kernel::new(registry, device, "nn_activation_backward"),
            bias_grad: Kernel::new(registry, device, "nn_bias_grad"),
            softmax_cross_entropy: Kernel::new(registry, device, "nn_softmax_cross_entropy"),
            mean_squared_error: Kernel::new(registry, device, "nn_mean_squared_error"),
            batch_metrics: Kernel::new(registry, device, "nn_batch_metrics"),
            max_workgroups: device.limits().max_compute_workgroups_per_dimension,
        }
    }

    /// `z ← z + bias` (broadcast over rows), `a ← act(z)`.
    pub fn bias_activation(
        &self,
        device: &wgpu::Device,
        dims: BiasActivationDims,
        bias: &wgpu::Buffer,
        z: &wgpu::Buffer,
        a: &wgpu::Buffer,
    ) -> Dispatch {
        let cells = dims.rows as u64 * dims.cols as u64;
        let grid = elementwise_grid(cells, self.max_workgroups);
        self.bias_activation
            .launch(device, &dims, &[bias, z, a], grid)
    }

    /// `grad ← grad ⊙ act'(z)`, in place.
    pub fn activation_backward(
        &self,
        device: &wgpu::Device,
        dims: ActivationDims,
        z: &wgpu::Buffer,
        grad: &wgpu::Buffer,
    ) -> Dispatch {
        let grid = elementwise_grid(dims.len as u64, self.max_workgroups);
        self.activation_backward
            .launch(device, &dims, &[z, grad], grid)
    }

    /// `db[c] = Σ_r dz[r, c]`, written over `db`.
    pub fn bias_grad(
        &self,
        device: &wgpu::Device,
        dims: RowsDims,
        dz: &wgpu::Buffer,
        db: &wgpu::Buffer,
    ) -> Dispatch {
        let grid = [dims.cols.div_ceil(BIAS_GRAD_COLUMNS), 1, 1];
        self.bias_grad.launch(device, &dims, &[dz, db], grid)
    }

    /// The loss on the last layer's outputs: `∂L/∂outputs` and per-row loss and correctness
    /// (softmax cross-entropy with integer labels, or mean squared error with argmax agreement).
    pub fn loss(
        &self,
        device: &wgpu::Device,
        loss: Loss,
        dims: RowsDims,
        ops: LossOperands<'_>,
    ) -> Dispatch {
        let kernel = match loss {
            Loss::SoftmaxCrossEntropy => &self.softmax_cross_entropy,
            Loss::MeanSquaredError => &self.mean_squared_error,
        };
        let buffers = [
            ops.outputs,
            ops.targets,
            ops.batch,
            ops.doutputs,
            ops.row_stats,
        ];
        let grid = [dims.rows.div_ceil(LOSS_WORKGROUP), 1, 1];
        kernel.launch(device, &dims, &buffers, grid)
    }

    /// Sums a batch's per-row loss and correctness into its history slot.
    pub fn batch_metrics(
        &self,
        device: &wgpu::Device,
        dims: MetricsDims,
        batch: &wgpu::Buffer,
        row_stats: &wgpu::Buffer,
        history: &wgpu::Buffer,
    ) -> Dispatch {
        let buffers = [batch, row_stats, history];
        self.batch_metrics
            .launch(device, &dims, &buffers, [1, 1, 1])
    }
}
