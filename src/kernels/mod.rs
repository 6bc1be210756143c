//! One module per WGSL shader: its uniform layout and how to bind and dispatch it.
//!
//! Pipelines are compiled once in [`Kernels::new`]; a [`Dispatch`] is a pipeline with its
//! bind group and workgroup count, created when the optimizer is built and replayed every step.

mod adamw;
mod matmul;
mod momentum;
mod muon_update;
mod normalize;

pub use adamw::AdamDims;
pub use adamw::AdamOperands;
pub use matmul::{MatmulDims, MatmulOperands, Transpose, TILE as MATMUL_TILE};
pub use momentum::MatrixDims;
pub use normalize::NormDims;

use wgpu::util::DeviceExt;

/// Every shader of the crate, by file name, for validation and inspection.
pub const SHADERS: &[(&str, &str)] = &[
    ("momentum.wgsl", momentum::SOURCE),
    ("normalize.wgsl", normalize::SOURCE),
    ("matmul.wgsl", matmul::SOURCE),
    ("muon_update.wgsl", muon_update::SOURCE),
    ("adamw.wgsl", adamw::SOURCE),
];

/// Elements one workgroup of the elementwise kernels covers.
pub const ELEMENTWISE_WORKGROUP: u32 = 256;

/// The compiled pipelines.
#[derive(Clone, Debug)]
pub struct Kernels {
    momentum: wgpu::ComputePipeline,
    normalize: wgpu::ComputePipeline,
    /// Indexed by `2·transpose_left + transpose_right`.
    matmul: [wgpu::ComputePipeline; 4],
    muon_update: wgpu::ComputePipeline,
    adamw: wgpu::ComputePipeline,
    max_workgroups: u32,
}

/// One recorded kernel launch: replayed every step, never rebuilt.
#[derive(Clone, Debug)]
pub struct Dispatch {
    pub label: &'static str,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
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

fn pipeline(
    device: &wgpu::Device,
    label: &str,
    source: &str,
    constants: &[(&str, f64)],
) -> wgpu::ComputePipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(label),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants,
            zero_initialize_workgroup_memory: true,
        },
        cache: None,
    })
}

/// A 2-D grid covering `total` elements at [`ELEMENTWISE_WORKGROUP`] per workgroup, each side within `max`.
pub fn elementwise_grid(total: u64, max: u32) -> [u32; 3] {
    let groups = total.div_ceil(ELEMENTWISE_WORKGROUP as u64).max(1);
    let x = groups.min(max as u64);
    let y = groups.div_ceil(x);
    [x as u32, y as u32, 1]
}

impl Kernels {
    /// Compiles every pipeline once.
    pub fn new(device: &wgpu::Device) -> Self {
        Self {
            momentum: pipeline(device, "momentum", momentum::SOURCE, &[]),
            normalize: pipeline(device, "normalize", normalize::SOURCE, &[]),
            matmul: [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)].map(|(l, r)| {
                pipeline(
                    device,
                    "matmul",
                    matmul::SOURCE,
                    &[("TRANSPOSE_L", l), ("TRANSPOSE_R", r)],
                )
            }),
            muon_update: pipeline(device, "muon_update", muon_update::SOURCE, &[]),
            adamw: pipeline(device, "adamw", adamw::SOURCE, &[]),
            max_workgroups: device.limits().max_compute_workgroups_per_dimension,
        }
    }

    fn dispatch(
        &self,
        device: &wgpu::Device,
        label: &'static str,
        pipeline: &wgpu::ComputePipeline,
        uniform: &[u8],
        buffers: &[&wgpu::Buffer],
        workgroups: [u32; 3],
    ) -> Dispatch {
        let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: uniform,
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: uniform.as_entire_binding(),
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
        Dispatch {
            label,
            pipeline: pipeline.clone(),
            bind_group,
            workgroups,
        }
    }
}

/// Parses and validates every shader with naga, as a browser or driver would before compiling:
/// `(file name, error message)` for each one that fails.
pub fn validate_shaders() -> Vec<(&'static str, String)> {
    SHADERS
        .iter()
        .filter_map(|&(name, source)| validate_wgsl(source).err().map(|e| (name, e)))
        .collect()
}

/// Parses and validates one WGSL source with naga.
pub fn validate_wgsl(source: &str) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .map(|_| ())
    .map_err(|e| e.emit_to_string(source))
}
