//! One module per WGSL shader: its uniform layout and how to bind and dispatch it (the WGSL
//! itself, with its imports resolved, comes from [`crate::shaders`]).
//!
//! Each pipeline is compiled once, the first time a dispatch needs it (a CPU driver spends
//! seconds on a big kernel, so nothing unused is compiled); a [`Dispatch`] is a pipeline with its
//! bind group and workgroup count, created when the optimizer is built and replayed every step.

mod adamw;
mod inner_product;
pub mod keras;
mod matmul;
mod momentum;
mod muon_update;

mod non_finite;
mod normalize;
pub mod ns;
mod ns_lanes;
mod optax;
mod precondition;
mod step_scalars;
pub mod tune;
pub(crate) mod warm_up;
mod workspace;

pub use adamw::AdamDims;
pub use adamw::AdamOperands;
pub use inner_product::InnerDims;
pub use matmul::{MatmulDims, MatmulOperands, Transpose, TILE as MATMUL_TILE};
pub use momentum::MatrixDims;

pub use non_finite::{GradPass, GradRange, SelectOperands};
pub use normalize::NormDims;
pub use ns::{NsOperands, NsProblem, NsProduct, NsVariant, Strided};
pub use optax::NdDims;
pub use precondition::{PrecDims, SpecDims};
pub use step_scalars::{AdamStep, MuonStep};
pub use warm_up::{pipeline_time, warm_up};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

/// Invocations per workgroup of the elementwise kernels.
pub const ELEMENTWISE_WORKGROUP: u32 = 256;
/// About how many workgroups an elementwise dispatch launches; each invocation loops over
/// the elements beyond. Enough to fill a GPU's memory system, and few enough that a CPU
/// driver's cost per workgroup (tens of microseconds on lavapipe) stays small.
pub const ELEMENTWISE_GROUPS: u32 = 1024;

/// The shader registry's pipelines on one device, each compiled on first use, and the
/// Newton-Schulz variant chosen for the device. Cheap to clone (shared): every pipeline of the
/// crate is created by [`Kernels::pipeline`] (or, for a generated source,
/// [`Kernels::generated_pipeline`]), once per `(shader, override constants)`.
#[derive(Clone, Debug)]
pub struct Kernels {
    inner: Arc<Compiled>,
}

#[derive(Debug)]
struct Compiled {
    variant: NsVariant,
    max_workgroups: u32,
    pipelines: Mutex<HashMap<PipelineKey, wgpu::ComputePipeline>>,
}

/// A pipeline's identity in the registry: the shader (a file of `shaders/`, or the name of a
/// source generated from one) and its override constants (as f64 bits). Every kernel's entry
/// point is `main`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PipelineKey {
    shader: String,
    constants: Vec<(&'static str, u64)>,
}

/// One recorded kernel launch: replayed every step, never rebuilt.
#[derive(Clone, Debug)]
pub struct Dispatch {
    pub label: &'static str,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
    /// Binding 0, the uniform or table (for [`warm_up`]).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    first: wgpu::Buffer,
    /// The buffers at bindings 1, 2, … (for [`warm_up`], which binds dummies in their place).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    buffers: Vec<wgpu::Buffer>,
}

impl Dispatch {
    /// Records this launch into a compute pass.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        let [x, y, z] = self.workgroups;
        pass.dispatch_workgroups(x, y, z);
    }

    /// The workgroup grid.
    pub fn workgroups(&self) -> [u32; 3] {
        self.workgroups
    }
}

/// Creates the pipeline of the `main` entry point of one WGSL source with these override
/// constants (a CPU driver compiles it at its first dispatch: see [`warm_up`]). Only the
/// registry ([`Kernels::pipeline`]) calls it.
fn compile(
    device: &wgpu::Device,
    label: &str,
    source: &str,
    constants: &[(&str, f64)],
) -> wgpu::ComputePipeline {
    let start = clock_start();
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(label),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants,
            // Every kernel writes each workgroup value before reading it, so zeroing is waste,
            // and costly: naga's GLSL zeroing of a 2048-float tile made Mesa's GL compiler take
            // 66-220 s per product pipeline on llvmpipe (0.2 s without). Browsers zero anyway.
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    });
    if let Some(start) = start {
        warm_up::count(start.elapsed());
    }
    pipeline
}

/// A start time where the platform has a clock (not wasm32's `std`).
fn clock_start() -> Option<std::time::Instant> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        Some(std::time::Instant::now())
    }
    #[cfg(target_arch = "wasm32")]
    {
        None
    }
}

/// A 2-D grid covering `total` elements at [`ELEMENTWISE_WORKGROUP`] per workgroup, each side within `max`.
pub fn elementwise_grid(total: u64, max: u32) -> [u32; 3] {
    let groups = total.div_ceil(ELEMENTWISE_WORKGROUP as u64).max(1);
    let x = groups.min(max as u64);
    let y = groups.div_ceil(x);
    [x as u32, y as u32, 1]
}

/// Like [`elementwise_grid`] but at most [`ELEMENTWISE_GROUPS`] workgroups, for kernels whose
/// invocations stride over the elements beyond the grid.
pub fn strided_grid(total: u64, max: u32) -> [u32; 3] {
    let groups = total
        .div_ceil(ELEMENTWISE_WORKGROUP as u64)
        .clamp(1, ELEMENTWISE_GROUPS as u64);
    let x = groups.min(max as u64);
    let y = groups.div_ceil(x);
    [x as u32, y as u32, 1]
}

impl Kernels {
    /// The kernels of `device`, with the Newton-Schulz variant remembered for its adapter
    /// (see [`tune`]) or, if none was, the usual best for its kind. Compiles nothing yet.
    pub fn new(device: &wgpu::Device) -> Self {
        Self::with_variant(device, tune::remembered_or_default(device))
    }

    /// The kernels of `device` with this Newton-Schulz variant.
    pub fn with_variant(device: &wgpu::Device, variant: NsVariant) -> Self {
        Self {
            inner: Arc::new(Compiled {
                variant,
                max_workgroups: device.limits().max_compute_workgroups_per_dimension,
                pipelines: Mutex::default(),
            }),
        }
    }

    /// The pipeline of registered shader `shader` (a file of `shaders/`, imports resolved, see
    /// [`crate::shaders`]) with these override constants: compiled the first time it is asked
    /// for, the same pipeline after.
    ///
    /// # Panics
    /// If `shader` is not registered (the crate's own constants, checked by `tests/shaders.rs`).
    pub fn pipeline(
        &self,
        device: &wgpu::Device,
        shader: &str,
        constants: &[(&'static str, f64)],
    ) -> wgpu::ComputePipeline {
        self.generated_pipeline(device, shader, constants, || crate::shaders::source(shader))
    }

    /// Like [`Kernels::pipeline`] for a source generated from a registered shader: `name`
    /// identifies the generated text (e.g. `ns_lanes.wgsl 64 broadcast`), `source` makes it
    /// the first time.
    pub fn generated_pipeline(
        &self,
        device: &wgpu::Device,
        name: &str,
        constants: &[(&'static str, f64)],
        source: impl FnOnce() -> String,
    ) -> wgpu::ComputePipeline {
        let key = PipelineKey {
            shader: name.to_string(),
            constants: constants.iter().map(|&(k, v)| (k, v.to_bits())).collect(),
        };
        // Held while compiling: a second caller of the same pipeline waits for it.
        let mut pipelines = self
            .inner
            .pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        pipelines
            .entry(key)
            .or_insert_with(|| {
                let label = name.split_once('.').map_or(name, |(stem, _)| stem);
                compile(device, label, &source(), constants)
            })
            .clone()
    }

    /// Most workgroups per grid dimension on this device.
    pub(crate) fn max_workgroups(&self) -> u32 {
        self.inner.max_workgroups
    }
}

impl Dispatch {
    /// A launch of `pipeline` with a storage `table` (read-only) at binding 0 and `buffers` at
    /// bindings 1, 2, …
    pub(crate) fn with_table(
        device: &wgpu::Device,
        label: &'static str,
        pipeline: &wgpu::ComputePipeline,
        table: &[u8],
        buffers: &[&wgpu::Buffer],
        workgroups: [u32; 3],
    ) -> Self {
        let table = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: table,
            usage: wgpu::BufferUsages::STORAGE,
        });
        Self::bind(device, label, pipeline, &table, buffers, workgroups)
    }

    /// A launch of `pipeline` with `uniform` at binding 0 and `buffers` at bindings 1, 2, …
    pub(crate) fn with_uniform(
        device: &wgpu::Device,
        label: &'static str,
        pipeline: &wgpu::ComputePipeline,
        uniform: &[u8],
        buffers: &[&wgpu::Buffer],
        workgroups: [u32; 3],
    ) -> Self {
        let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: uniform,
            usage: wgpu::BufferUsages::UNIFORM,
        });
        Self::bind(device, label, pipeline, &uniform, buffers, workgroups)
    }

    fn bind(
        device: &wgpu::Device,
        label: &'static str,
        pipeline: &wgpu::ComputePipeline,
        first: &wgpu::Buffer,
        buffers: &[&wgpu::Buffer],
        workgroups: [u32; 3],
    ) -> Self {
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: first.as_entire_binding(),
        }];
        entries.extend(
            buffers
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32 + 1,
                    resource: b.as_entire_binding(),
                }),
        );
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        Self {
            label,
            pipeline: pipeline.clone(),
            bind_group,
            workgroups,
            first: first.clone(),
            buffers: buffers.iter().map(|&b| b.clone()).collect(),
        }
    }
}
