//! The parameter registry: [`OptimizerBuilder`] collects and checks parameters, then builds the
//! [`Optimizer`] in three stages, each once: layout (pure), allocation, recording.

use std::collections::HashMap;

use crate::config::{resolve, Route, Settings};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::kernels::{Kernels, NsVariant};
use crate::shape::{check_length, element_count};

use super::buffers::{Buffers, Source};
use super::layout::{Layout, Limits, ParamSpec};
use super::{Optimizer, Recorder, StepStats};

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

fn check_buffer(name: &str, what: &str, buffer: &wgpu::Buffer, len: usize) -> Result<()> {
    let bad = |reason: String| Error::InvalidBuffer {
        name: name.into(),
        what: what.into(),
        reason,
    };
    if !buffer.usage().contains(wgpu::BufferUsages::STORAGE) {
        return Err(bad("it needs STORAGE usage".into()));
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
    /// Starts an optimizer with these groups and routing; the settings are validated here.
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
                check_buffer(name, "value", &value, len)?;
                check_buffer(name, "gradient", &grad, len)?;
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

    /// Compiles the kernels, lays out, allocates and uploads, and records the launches of a step.
    pub fn build(self) -> Result<Optimizer> {
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
        let layout = Layout::new(&specs, &self.settings, limits)?;
        // 2. Allocation (and upload of host data).
        let buffers = Buffers::allocate(&self.ctx, &layout, self.params, variant.half());
        // 3. Recording: every launch of a step, replayed as is.
        let dispatches = Recorder {
            device,
            kernels: &kernels,
            settings: &self.settings,
            layout: &layout,
            buffers: &buffers,
        }
        .record();
        // The Keras base optimizer's options around them (crate::options), when set.
        let (extras, dispatches) = super::keras_options::Extras::record(
            device,
            &self.settings.options,
            &buffers.params,
            dispatches,
        );
        // 4. Compile every kernel now, so that no step pays for it (kernels::warm_up).
        let all = dispatches.iter().chain(&extras.accumulate_only);
        let compiles = crate::kernels::warm_up(device, &self.ctx.queue, all);

        let stats = StepStats {
            compiles,
            ..StepStats::new(&layout, &buffers, dispatches.len(), variant)
        };
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
            step: 0,
            stats,
            tune_report,
            extras: Box::new(extras),
        })
    }
}
