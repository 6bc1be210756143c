//! [`DistributedOptimizer`]: one [`Optimizer`] per rank over its share of the Muon matrices and
//! every AdamW parameter, and the per-step exchange of updated matrices.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};
use crate::gpu::readback::{read_ranges, BufferRange};
use crate::gpu::GpuContext;
use crate::io::tensors::Tensor;
use crate::kernels::NsVariant;
use crate::optimizer::layout::{Layout, Limits, ParamSpec};
use crate::optimizer::{write_host, Optimizer, OptimizerBuilder, Source};
use crate::settings::{Group, Route, Settings};
use crate::shape::check_length;

use super::agreement::{agree, rank0_variant, refuse_unshared};
use super::assign::Assignment;
use super::comm::Comm;
use super::fingerprint::fingerprint;

/// Collects parameters like [`OptimizerBuilder`] (same checks, same routing), then builds a
/// [`DistributedOptimizer`]. Every rank must register the same parameters with the same settings
/// and starting values; [`build`](DistributedBuilder::build) checks that.
pub struct DistributedBuilder {
    inner: OptimizerBuilder,
    comm: Rc<Comm>,
    average_gradients: bool,
    agreed: String,
}

impl DistributedBuilder {
    pub fn new(ctx: &GpuContext, settings: Settings, comm: Rc<Comm>) -> Result<Self> {
        Ok(Self {
            inner: OptimizerBuilder::new(ctx, settings)?,
            comm,
            average_gradients: false,
            agreed: String::new(),
        })
    }

    /// Registers a parameter, as [`OptimizerBuilder::add`].
    pub fn add(
        &mut self,
        name: &str,
        shape: &[usize],
        source: Source<&[f32]>,
        route: Route,
    ) -> Result<&mut Self> {
        self.inner.add(name, shape, source, route)?;
        Ok(self)
    }

    /// Registers a parameter from host data with automatic routing.
    pub fn add_host(&mut self, name: &str, shape: &[usize], values: &[f32]) -> Result<&mut Self> {
        self.add(name, shape, Source::Host(values), Route::Auto)
    }

    /// The single-process registry underneath, for code that registers into an
    /// [`OptimizerBuilder`] (e.g. [`crate::nn::Mlp::register`]).
    pub fn registry(&mut self) -> &mut OptimizerBuilder {
        &mut self.inner
    }

    /// Data parallelism: before each step, replace every gradient by its mean over the ranks
    /// (default: off, the gradients are taken as already equal on every rank, as
    /// KellerJordan's `Muon` assumes).
    pub fn average_gradients(&mut self, on: bool) -> &mut Self {
        self.average_gradients = on;
        self
    }

    /// Something else every rank must agree on before the first step (e.g. a hash of starting
    /// values held in the caller's buffers, which the check cannot read): compared at build.
    pub fn agree_on(&mut self, what: &str) -> &mut Self {
        self.agreed.push_str(what);
        self.agreed.push('|');
        self
    }

    /// Uses this Newton-Schulz kernel variant (every rank the same); otherwise rank 0 chooses it
    /// as a single process would and the others follow.
    pub fn ns_variant(&mut self, variant: NsVariant) -> &mut Self {
        self.inner.ns_variant(variant);
        self
    }

    /// As [`OptimizerBuilder::gram_form`].
    pub fn gram_form(&mut self, allowed: bool) -> &mut Self {
        self.inner.gram_form(allowed);
        self
    }

    /// Checks that every rank registered the same thing, assigns the Muon matrices to ranks
    /// ([`Assignment`]) and builds this rank's optimizer over its share and every AdamW
    /// parameter. Collective: every rank must call it.
    pub fn build(self) -> Result<DistributedOptimizer> {
        let comm = self.comm;
        let reg = self.inner.into_registry();
        let specs: Vec<ParamSpec> = reg.params.iter().map(|(s, _)| s.clone()).collect();
        let host = reg.params.iter().filter_map(|(_, src)| match src {
            Source::Host(v) => Some(v.as_slice()),
            Source::Buffers { .. } => None,
        });
        let options = format!(
            "average_gradients={} gram_form={} ns_variant={:?} {}",
            self.average_gradients,
            reg.gram_form,
            reg.ns_variant.map(|v| v.name()),
            self.agreed
        );
        let ours = fingerprint(&reg.settings, &options, &specs, host);
        agree(&comm, &ours)?;
        // After the agreement, so that every rank refuses the same option together.
        refuse_unshared(&comm, &reg.settings)?;

        // Rank 0 picks the Newton-Schulz kernel (tuning, as one process would); the rest follow,
        // so every matrix is orthogonalized by the same code whichever rank owns it.
        let variant = match reg.ns_variant {
            Some(v) => v,
            None => {
                let mine = if comm.rank() == 0 {
                    crate::kernels::tune::choose(&reg.ctx).1.chosen.name()
                } else {
                    String::new()
                };
                rank0_variant(&comm, mine)?
            }
        };
        let device_limits = reg.ctx.device.limits();
        let limits = Limits {
            tile: variant.tile(),
            binding: device_limits
                .max_storage_buffer_binding_size
                .min(device_limits.max_buffer_size),
            gram_form: reg.gram_form,
        };
        let layout = Layout::new(&specs, &reg.settings, limits)?;
        let assignment = Assignment::new(&specs, &layout, comm.size());

        let mut local = OptimizerBuilder::new(&reg.ctx, reg.settings.clone())?;
        local.ns_variant(variant).gram_form(reg.gram_form);
        for (i, (spec, src)) in reg.params.iter().enumerate() {
            if assignment.owner[i].is_some_and(|r| r != comm.rank()) {
                continue;
            }
            let route = match spec.group {
                Group::Muon(g) => Route::Muon(g),
                Group::AdamW(g) => Route::AdamW(g),
            };
            let source = match src {
                Source::Host(v) => Source::Host(v.as_slice()),
                Source::Buffers { value, grad } => Source::Buffers {
                    value: value.clone(),
                    grad: grad.clone(),
                },
            };
            local.add(&spec.name, &spec.shape, source, route)?;
        }
        let local = local.build()?;

        let mut params = Vec::with_capacity(specs.len());
        for (i, (spec, src)) in reg.params.into_iter().enumerate() {
            let owner = assignment.owner[i];
            let (value, grad) = if owner.is_none_or(|r| r == comm.rank()) {
                let p = local.param(&spec.name)?;
                (p.value.clone(), p.grad.clone())
            } else {
                remote_buffers(&reg.ctx, &spec, src)
            };
            params.push(Entry {
                name: spec.name,
                shape: spec.shape,
                group: spec.group,
                owner,
                value,
                grad,
            });
        }
        let index = (params.iter().enumerate())
            .map(|(i, p)| (p.name.clone(), i))
            .collect();
        Ok(DistributedOptimizer {
            ctx: reg.ctx,
            comm,
            local,
            assignment,
            params,
            index,
            average_gradients: self.average_gradients,
            times: StepTimes::default(),
        })
    }
}

/// Buffers for a Muon matrix another rank owns: the caller's, or new ones holding its data.
fn remote_buffers(
    ctx: &GpuContext,
    spec: &ParamSpec,
    src: Source<Vec<f32>>,
) -> (BufferRange, BufferRange) {
    let range = |buffer| BufferRange {
        buffer,
        offset: 0,
        len: spec.len,
    };
    match src {
        Source::Buffers { value, grad } => (range(value), range(grad)),
        Source::Host(values) => {
            let usage = wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST;
            let value = ctx
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(&spec.name),
                    contents: bytemuck::cast_slice(&values),
                    usage,
                });
            let grad = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&spec.name),
                size: (spec.len as u64 * 4).max(4),
                usage,
                mapped_at_creation: false,
            });
            (range(value), range(grad))
        }
    }
}

/// One registered parameter as every rank sees it.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    pub shape: Vec<usize>,
    pub group: Group,
    /// The rank that orthogonalizes it (Muon), or `None` (AdamW: every rank).
    pub owner: Option<usize>,
    pub value: BufferRange,
    pub grad: BufferRange,
}

/// Where the last step's time went on this rank.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepTimes {
    /// The local optimizer step, submit to GPU idle.
    pub compute: Duration,
    /// Gradient averaging: readback, MPI reduce and broadcast, upload (zero when off).
    pub all_reduce: Duration,
    /// The part of `all_reduce` spent in MPI.
    pub all_reduce_mpi: Duration,
    /// The parameter exchange: readback of this rank's matrices, MPI all-gather, upload.
    pub exchange: Duration,
    /// The part of `exchange` spent in MPI.
    pub exchange_mpi: Duration,
}

/// Muon distributed over MPI ranks, as KellerJordan's `Muon` / `MuonWithAuxAdam`: each rank
/// orthogonalizes only the matrices it owns ([`Assignment`]), updates every AdamW parameter
/// itself, and after each step the updated matrices are exchanged with one MPI all-gather, so
/// every rank ends the step holding every parameter. See [`crate::distributed`].
pub struct DistributedOptimizer {
    ctx: GpuContext,
    comm: Rc<Comm>,
    local: Optimizer,
    assignment: Assignment,
    params: Vec<Entry>,
    index: HashMap<String, usize>,
    average_gradients: bool,
    times: StepTimes,
}

impl DistributedOptimizer {
    pub fn comm(&self) -> &Comm {
        &self.comm
    }

    /// This rank's optimizer: its share of Muon and every AdamW parameter.
    pub fn local(&self) -> &Optimizer {
        &self.local
    }

    /// Which rank owns which matrix, and each rank's load.
    pub fn assignment(&self) -> &Assignment {
        &self.assignment
    }

    /// Every parameter, in registration order.
    pub fn params(&self) -> &[Entry] {
        &self.params
    }

    /// The last step's times on this rank.
    pub fn times(&self) -> StepTimes {
        self.times
    }

    pub fn settings(&self) -> &Settings {
        self.local.settings()
    }

    pub fn step_count(&self) -> u64 {
        self.local.step_count()
    }

    /// As [`Optimizer::set_lr`]; every rank must make the same change.
    pub fn set_lr(&mut self, group: Group, lr: f64) -> Result<()> {
        self.local.set_lr(group, lr)
    }

    /// As [`Optimizer::set_weight_decay`]; every rank must make the same change.
    pub fn set_weight_decay(&mut self, group: Group, wd: f64) -> Result<()> {
        self.local.set_weight_decay(group, wd)
    }

    /// One parameter by name.
    pub fn param(&self, name: &str) -> Result<&Entry> {
        self.index
            .get(name)
            .map(|&i| &self.params[i])
            .ok_or_else(|| Error::UnknownParameter { name: name.into() })
    }

    fn write(&self, name: &str, what: &str, grad: bool, values: &[f32]) -> Result<()> {
        let p = self.param(name)?;
        let range = if grad { &p.grad } else { &p.value };
        check_length(name, what, &p.shape, range.len, values.len())?;
        write_host(&self.ctx, name, range, what, values)
    }

    /// Uploads this rank's gradient of a parameter (the gradients of matrices other ranks own
    /// are only used when gradients are averaged).
    pub fn write_gradient(&self, name: &str, values: &[f32]) -> Result<()> {
        self.write(name, "gradient", true, values)
    }

    /// Overwrites a parameter's value on this rank (every rank must write the same).
    pub fn write_parameter(&self, name: &str, values: &[f32]) -> Result<()> {
        self.write(name, "value", false, values)
    }

    /// A parameter's current value on this rank (every rank holds every parameter after a step).
    pub async fn read_parameter(&self, name: &str) -> Result<Vec<f32>> {
        let p = self.param(name)?;
        Ok(read_ranges(&self.ctx, std::slice::from_ref(&p.value))
            .await?
            .remove(0))
    }

    /// One step on every rank (collective): the gradients' mean when averaging is on, this
    /// rank's optimizer step, then the exchange of the updated matrices. Waits for the GPU.
    pub fn step(&mut self) -> Result<()> {
        let rank = self.comm.rank();
        if self.average_gradients && self.comm.size() > 1 {
            self.average_gradients()?;
        }
        let start = Instant::now();
        self.local.step()?;
        self.ctx.wait_idle();
        self.times.compute = start.elapsed();

        // One staged readback of this rank's matrices, one all-gather, one upload.
        if self.comm.size() == 1 {
            self.times.exchange = Duration::ZERO;
            return Ok(());
        }
        let start = Instant::now();
        let mine: Vec<BufferRange> = (self.assignment.share(rank).into_iter())
            .map(|i| self.params[i].value.clone())
            .collect();
        let values: Vec<f32> = pollster::block_on(read_ranges(&self.ctx, &mine))?.concat();
        let mpi = Instant::now();
        let all = self.comm.all_gather_varcount(
            "the parameter exchange",
            values,
            &self.assignment.elements,
        )?;
        self.times.exchange_mpi = mpi.elapsed();
        let mut writes = Vec::new();
        let mut at = 0;
        for r in 0..self.comm.size() {
            for i in self.assignment.share(r) {
                let range = &self.params[i].value;
                if r != rank {
                    writes.push((range.clone(), at));
                }
                at += range.len;
            }
        }
        self.upload(&writes, &all);
        self.times.exchange = start.elapsed();
        Ok(())
    }

    /// Every gradient replaced by its mean over the ranks: one readback of all of them, one
    /// reduce-and-broadcast, one upload of those this rank uses.
    fn average_gradients(&mut self) -> Result<()> {
        // The caller's backward pass is not the all-reduce's time.
        self.ctx.wait_idle();
        let start = Instant::now();
        let rank = self.comm.rank();
        let ranges: Vec<BufferRange> = self.params.iter().map(|p| p.grad.clone()).collect();
        let grads: Vec<f32> = pollster::block_on(read_ranges(&self.ctx, &ranges))?.concat();
        let mpi = Instant::now();
        let mut sum = self.comm.sum_to_all("the gradient average", grads)?;
        self.times.all_reduce_mpi = mpi.elapsed();
        let n = self.comm.size() as f32;
        sum.iter_mut().for_each(|g| *g /= n);
        let mut writes = Vec::new();
        let mut at = 0;
        for p in &self.params {
            if p.owner.is_none_or(|r| r == rank) {
                writes.push((p.grad.clone(), at));
            }
            at += p.grad.len;
        }
        self.upload(&writes, &sum);
        self.times.all_reduce = start.elapsed();
        Ok(())
    }

    /// Copies `data[at..at + range.len]` into each range: one staging buffer, one submit.
    fn upload(&self, writes: &[(BufferRange, usize)], data: &[f32]) {
        if writes.is_empty() {
            return;
        }
        let staging = self
            .ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("distributed upload"),
                contents: bytemuck::cast_slice(data),
                usage: wgpu::BufferUsages::COPY_SRC,
            });
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("distributed upload"),
            });
        for (range, at) in writes {
            encoder.copy_buffer_to_buffer(
                &staging,
                *at as u64 * 4,
                &range.buffer,
                range.offset,
                range.bytes(),
            );
        }
        self.ctx.queue.submit([encoder.finish()]);
    }

    /// Every parameter and its state, as [`Optimizer::read_all`] names them, gathered on rank 0
    /// (`Some` there, `None` elsewhere). Collective: every rank must call it.
    pub async fn read_all(&self) -> Result<Option<Vec<Tensor>>> {
        let rank = self.comm.rank();
        let local: HashMap<String, (Vec<usize>, Vec<f32>)> = (self.local.read_all().await?)
            .into_iter()
            .map(|(n, s, v)| (n, (s, v)))
            .collect();
        let share = self.assignment.share(rank);
        let momentum: Vec<f32> = (share.iter())
            .flat_map(|&i| {
                local[&momentum_name(&self.params[i].name)]
                    .1
                    .iter()
                    .copied()
            })
            .collect();
        let gathered =
            self.comm
                .gather_varcount("the state gather", momentum, &self.assignment.elements)?;
        if rank != 0 {
            return Ok(None);
        }
        let mut remote: HashMap<usize, (Vec<f32>, Vec<f32>)> = HashMap::new();
        let others: Vec<usize> = (1..self.comm.size())
            .flat_map(|r| self.assignment.share(r))
            .collect();
        let ranges: Vec<BufferRange> = others
            .iter()
            .map(|&i| self.params[i].value.clone())
            .collect();
        let values = read_ranges(&self.ctx, &ranges).await?;
        let mut at = self.assignment.elements[0];
        for (i, v) in others.into_iter().zip(values) {
            let len = self.params[i].value.len;
            remote.insert(i, (v, gathered[at..at + len].to_vec()));
            at += len;
        }
        let mut out = Vec::new();
        for (i, p) in self.params.iter().enumerate() {
            let param = format!("param/{}", p.name);
            match remote.remove(&i) {
                Some((value, momentum)) => {
                    out.push((param, p.shape.clone(), value));
                    out.push((momentum_name(&p.name), p.shape.clone(), momentum));
                }
                None => {
                    let kinds: &[&str] = match p.group {
                        Group::Muon(_) => &["momentum"],
                        Group::AdamW(_) => &["exp_avg", "exp_avg_sq"],
                    };
                    out.push((param.clone(), p.shape.clone(), local[&param].1.clone()));
                    for k in kinds {
                        let name = format!("state/{}/{k}", p.name);
                        let values = local[&name].1.clone();
                        out.push((name, p.shape.clone(), values));
                    }
                }
            }
        }
        Ok(Some(out))
    }
}

fn momentum_name(param: &str) -> String {
    format!("state/{param}/momentum")
}
