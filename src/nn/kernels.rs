//! The MLP's own WGSL kernels (`shaders/nn_*.wgsl`, one kernel per file, in [`crate::shaders`]):
//! their uniforms and how to bind and dispatch them. The matrix products reuse the crate's [`matmul`](crate::kernels::Kernels::matmul).
//!
//! Pipelines are compiled once in [`NnKernels::new`]; a [`Dispatch`] is created once per plan
//! and replayed every step.

use crate::kernels::{elementwise_grid, Dispatch, Kernels};

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

/// The compiled pipelines of the MLP kernels.
#[derive(Clone, Debug)]
pub struct NnKernels {
    bias_activation: wgpu::ComputePipeline,
    activation_backward: wgpu::ComputePipeline,
    bias_grad: wgpu::ComputePipeline,
    softmax_cross_entropy: wgpu::ComputePipeline,
    mean_squared_error: wgpu::ComputePipeline,
    batch_metrics: wgpu::ComputePipeline,
    max_workgroups: u32,
}

/// Rows one workgroup of the per-row loss kernels covers.
const LOSS_WORKGROUP: u32 = 64;
/// Columns one workgroup of `nn_bias_grad.wgsl` sums.
const BIAS_GRAD_COLUMNS: u32 = 16;

impl NnKernels {
    /// Compiles every pipeline once.
    pub fn new(device: &wgpu::Device) -> Self {
        let registry = Kernels::new(device);
        let compile = |file: &str| registry.pipeline(device, file, &[]);
        Self {
            bias_activation: compile("nn_bias_activation.wgsl"),
            activation_backward: compile("nn_activation_backward.wgsl"),
            bias_grad: compile("nn_bias_grad.wgsl"),
            softmax_cross_entropy: compile("nn_softmax_cross_entropy.wgsl"),
            mean_squared_error: compile("nn_mean_squared_error.wgsl"),
            batch_metrics: compile("nn_batch_metrics.wgsl"),
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
        Dispatch::with_uniform(
            device,
            "nn_bias_activation",
            &self.bias_activation,
            bytemuck::bytes_of(&dims),
            &[bias, z, a],
            elementwise_grid(dims.rows as u64 * dims.cols as u64, self.max_workgroups),
        )
    }

    /// `grad ← grad ⊙ act'(z)`, in place.
    pub fn activation_backward(
        &self,
        device: &wgpu::Device,
        dims: ActivationDims,
        z: &wgpu::Buffer,
        grad: &wgpu::Buffer,
    ) -> Dispatch {
        Dispatch::with_uniform(
            device,
            "nn_activation_backward",
            &self.activation_backward,
            bytemuck::bytes_of(&dims),
            &[z, grad],
            elementwise_grid(dims.len as u64, self.max_workgroups),
        )
    }

    /// `db[c] = Σ_r dz[r, c]`, written over `db`.
    pub fn bias_grad(
        &self,
        device: &wgpu::Device,
        dims: RowsDims,
        dz: &wgpu::Buffer,
        db: &wgpu::Buffer,
    ) -> Dispatch {
        Dispatch::with_uniform(
            device,
            "nn_bias_grad",
            &self.bias_grad,
            bytemuck::bytes_of(&dims),
            &[dz, db],
            [dims.cols.div_ceil(BIAS_GRAD_COLUMNS), 1, 1],
        )
    }

    /// Softmax cross-entropy with integer labels: gradient and per-row loss and correctness.
    pub fn softmax_cross_entropy(
        &self,
        device: &wgpu::Device,
        dims: RowsDims,
        ops: LossOperands<'_>,
    ) -> Dispatch {
        Dispatch::with_uniform(
            device,
            "nn_softmax_cross_entropy",
            &self.softmax_cross_entropy,
            bytemuck::bytes_of(&dims),
            &[
                ops.outputs,
                ops.targets,
                ops.batch,
                ops.doutputs,
                ops.row_stats,
            ],
            [dims.rows.div_ceil(LOSS_WORKGROUP), 1, 1],
        )
    }

    /// Mean squared error: gradient and per-row loss and argmax agreement.
    pub fn mean_squared_error(
        &self,
        device: &wgpu::Device,
        dims: RowsDims,
        ops: LossOperands<'_>,
    ) -> Dispatch {
        Dispatch::with_uniform(
            device,
            "nn_mean_squared_error",
            &self.mean_squared_error,
            bytemuck::bytes_of(&dims),
            &[
                ops.outputs,
                ops.targets,
                ops.batch,
                ops.doutputs,
                ops.row_stats,
            ],
            [dims.rows.div_ceil(LOSS_WORKGROUP), 1, 1],
        )
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
        Dispatch::with_uniform(
            device,
            "nn_batch_metrics",
            &self.batch_metrics,
            bytemuck::bytes_of(&dims),
            &[batch, row_stats, history],
            [1, 1, 1],
        )
    }
}
