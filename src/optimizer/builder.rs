//! The parameter registry: [`OptimizerBuilder`] collects and checks parameters, then builds the
//! [`Optimizer`] in three stages, each once: layout (pure), allocation, recording.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::kernels::{Kernels, NsVariant};
use crate::settings::{resolve, Route, Settings};
use crate::shape::{check_length, element_count};

use super::buffers::{Buffers, Source};
use super::layout::{Layout, Limits, ParamSpec};
use super::non_finite::{self, NonFinitePolicy};
use super::{Launches, Optimizer, Recorder, StepStats};

/// Collects parameters, then builds an [`Optimizer`].
pub struct OptimizerBuilder {
    ctx: GpuContext,
    settings: Settings,
    /// What the layout sees of each parameter, and its data.
    params: Vec<(ParamSpec, Source<Vec<f32>>)>,
    names: HashMap<String, usize>,
    ns_variant: Option<NsVariant>,
    gram_form: bool,
}

fn check_buffer(
    name: &str,
    what: &str,
    buffer: &wgpu::Buffer,
    len: usize,
    limits: &wgpu::Limits,
) -> Result<()> {
    let bad = |reason: String| Error::InvalidBuffer {
        name: name.into(),
        what: what.into(),
        reason,
    };
    if !buffer.usage().contains(wgpu::BufferUsages::STORAGE) {
        return Err(bad("it needs STORAGE usage".into()));
    }
    // The kernels bind the whole buffer: it must fit one storage binding.
    let binding = limits.max_storage_buffer_binding_size;
    if buffer.size() > binding {
        return Err(bad(format!(
            "{} bytes, more than the device's largest storage binding ({binding} bytes)",
            buffer.size()
        )));
    }
    if buffer.size() < len as u64 * 4 {
        return Err(bad(format!(
            "{} bytes, but {len} f32 values need {}",
            buffer.size(),
            len * 4
        )));
    }
    Ok(())
}

impl OptimizerBuilder {
    /// Starts an optimizer with these settings (groups, routing, options, non-finite policy);
    /// they are validated here, combinations included ([`Settings::validate`]).
    pub fn new(ctx: &GpuContext, settings: Settings) -> Result<Self> {
        settings.validate()?;
        Ok(Self {
            ctx: ctx.clone(),
            settings,
            params: Vec::new(),
            names: HashMap::new(),
            ns_variant: None,
            gram_form: true,
        })
    }

    /// Uses this Newton-Schulz kernel variant instead of the one tuned for the adapter
    /// (see [`crate::kernels::tune`]).
    pub fn ns_variant(&mut self, variant: NsVariant) -> &mut Self {
        self.ns_variant = Some(variant);
        self
    }

    /// Whether matrices at least twice as wide as tall may run the Gram form of Newton-Schulz
    /// (default: yes). It is the same iteration, with fewer operations, rounded differently;
    /// turn it off to run every matrix through the libraries' own sequence of products.
    pub fn gram_form(&mut self, allowed: bool) -> &mut Self {
        self.gram_form = allowed;
        self
    }

    /// Registers a parameter. On error nothing is registered.
    pub fn add(
        &mut self,
        name: &str,
        shape: &[usize],
        source: Source<&[f32]>,
        route: Route,
    ) -> Result<&mut Self> {
        if name.is_empty() {
            return Err(Error::InvalidName {
                name: name.into(),
                reason: "a parameter needs a non-empty name".into(),
            });
        }
        if self.names.contains_key(name) {
            return Err(Error::DuplicateParameter { name: name.into() });
        }
        let len = element_count(name, shape)?;
        let group = resolve(&self.settings, name, shape, route)?;
        let data = match source {
            Source::Host(values) => {
                check_length(name, "initial value", shape, len, values.len())?;
                Source::Host(values.to_vec())
            }
            Source::Buffers { value, grad } => {
                let limits = self.ctx.device.limits();
                check_buffer(name, "value", &value, len, &limits)?;
                check_buffer(name, "gradient", &grad, len, &limits)?;
                Source::Buffers { value, grad }
            }
        };
        self.names.insert(name.into(), self.params.len());
        let spec = ParamSpec {
            name: name.into(),
            shape: shape.to_vec(),
            len,
            group,
            hosted: matches!(data, Source::Host(_)),
        };
        self.params.push((spec, data));
        Ok(self)
    }

    /// Registers a parameter from host data with automatic routing.
    pub fn add_host(&mut self, name: &str, shape: &[usize], values: &[f32]) -> Result<&mut Self> {
        self.add(name, shape, Source::Host(values), Route::Auto)
    }

    /// The checked registry, for the distributed optimizer ([`crate::distributed`]), which
    /// splits it between ranks and builds one optimizer per rank from its share.
    #[cfg(feature = "mpi")]
    pub(crate) fn into_registry(self) -> Registry {
        Registry {
            ctx: self.ctx,
            settings: self.settings,
            params: self.params,
            ns_variant: self.ns_variant,
            gram_form: self.gram_form,
        }
    }

    /// Compiles the kernels, lays out, allocates and uploads, and records the launches of a step.
    /// A GPU error on the way (out of memory, a kernel the driver cannot compile) is returned
    /// as [`Error::Gpu`], never a panic; a forced kernel variant the adapter cannot run is
    /// [`Error::UnsupportedKernel`].
    pub fn build(self) -> Result<Optimizer> {
        if let Some(v) = self.ns_variant {
            if !v.supported(&self.ctx.device) {
                return Err(Error::UnsupportedKernel {
                    variant: v.name(),
                    adapter: self.ctx.describe(),
                });
            }
        }
        let ctx = self.ctx.clone();
        ctx.scoped("building the optimizer", || self.build_unscoped())
    }

    fn build_unscoped(self) -> Result<Optimizer> {
        let device = &self.ctx.device;
        let (kernels, tune_report) = match self.ns_variant {
            Some(v) => (Kernels::with_variant(device, v), None),
            None => {
                let (kernels, report) = crate::kernels::tune::choose(&self.ctx);
                (kernels, Some(report))
            }
        };
        let variant = kernels.ns_variant();
        let limits = device.limits();
        let limits = Limits {
            tile: variant.tile(),
            binding: limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size),
            gram_form: self.gram_form,
        };

        // 1. Layout: pure arithmetic on shapes and routes.
        let specs: Vec<ParamSpec> = self.params.iter().map(|(s, _)| s.clone()).collect();
        let routed = specs
            .iter()
            .map(|p| (p.name.as_str(), p.shape.as_slice(), p.group));
        crate::settings::check_listed(&self.settings, routed)?;
        let layout = Layout::new(&specs, &self.settings, limits)?;
        // 2. Allocation (and upload of host data).
        let buffers = Buffers::allocate(
            &self.ctx,
            &layout,
            self.params,
            variant.half(),
            &self.settings,
        );
        // The options' own buffers: the Keras base optimizer's, the skip_step policy's.
        let extras = super::keras::Extras::allocate(device, &self.settings.keras, &buffers.params);
        let skip = (self.settings.non_finite == NonFinitePolicy::SkipStep)
            .then(|| Box::new(non_finite::SkipStep::allocate(device, &buffers.steps)));
        // 3. Recording: every launch of a step, replayed as is.
        let Launches {
            update: dispatches,
            accumulate_only,
        } = Recorder {
            device,
            kernels: &kernels,
            settings: &self.settings,
            layout: &layout,
            buffers: &buffers,
            keras: &extras,
            skip: skip.as_deref(),
        }
        .record();
        // 4. Compile every kernel now, so that no step pays for it (kernels::warm_up).
        let all = dispatches.iter().chain(&accumulate_only);
        let compiles = crate::kernels::warm_up(device, &self.ctx.queue, all);

        let stats = StepStats {
            compiles,
            ..StepStats::new(&layout, &buffers, dispatches.len(), variant)
        };
        let n_params = buffers.params.len();
        let stats = StepStats {
            state_bytes: stats.state_bytes + extras.bytes,
            ..stats
        };
        let index = (buffers.params.iter().enumerate())
            .map(|(i, p)| (p.name.clone(), i))
            .collect();
        Ok(Optimizer {
            ctx: self.ctx,
            settings: self.settings,
            params: buffers.params,
            index,
            batches: layout.batches,
            steps: buffers.steps,
            dispatches,
            accumulate_only,
            step: 0,
            stats,
            tune_report,
            skip,
            fresh: (0..n_params)
                .map(|_| std::sync::atomic::AtomicU8::new(super::NEVER_WRITTEN))
                .collect(),
            allow_stale: false,
            extras: Box::new(extras),
        })
    }
}

/// What an [`OptimizerBuilder`] collected, checked: parameters in registration order.
#[cfg(feature = "mpi")]
pub(crate) struct Registry {
    pub ctx: GpuContext,
    pub settings: Settings,
    pub params: Vec<(ParamSpec, Source<Vec<f32>>)>,
    pub ns_variant: Option<NsVariant>,
    pub gram_form: bool,
}
