//! The GPT on the GPU: its parameters and gradients in buffers of their own, registered with the
//! optimizer in place. Its plans are built in [`plan`](super::plan).

use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::nn::plan::{read_values, storage, storage_init, ModelGpu};
use crate::optimizer::{OptimizerBuilder, Source};
use crate::settings::Route;

use super::kernels::GptKernels;
use super::{GptParam, GptSpec, ParamKind};

/// A parameter's value and gradient buffers.
#[derive(Clone, Debug)]
pub struct ParamBuffers {
    pub value: wgpu::Buffer,
    pub grad: wgpu::Buffer,
}

/// A GPT's parameters on the GPU, with the kernels that run it.
#[derive(Clone, Debug)]
pub struct Gpt {
    pub(super) gpu: ModelGpu,
    pub(super) spec: GptSpec,
    pub(super) params: Vec<ParamBuffers>,
    pub(super) gpt: GptKernels,
}

impl Gpt {
    /// Uploads `params` (one vector per [`GptSpec::params`] entry, as
    /// [`init_params`](super::init_params) makes them) and gets the kernels from the shader registry.
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
        let gpu = ModelGpu::new(ctx);
        let gpt = GptKernels::new(&gpu.registry, device);
        Ok(Self {
            gpu,
            spec,
            params,
            gpt,
        })
    }

    pub fn spec(&self) -> &GptSpec {
        &self.spec
    }

    pub fn context(&self) -> &GpuContext {
        &self.gpu.ctx
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
            self.gpu
                .ctx
                .queue
                .write_buffer(&b.value, 0, bytemuck::cast_slice(p));
        }
        Ok(())
    }

    /// Every parameter's current value (waits for the GPU).
    pub async fn read_params(&self) -> Result<Vec<Vec<f32>>> {
        read_values(self, false).await
    }

    /// Every parameter's gradient from the last backward pass that ran (waits for the GPU).
    pub async fn read_gradients(&self) -> Result<Vec<Vec<f32>>> {
        read_values(self, true).await
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
