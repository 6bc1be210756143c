//! Allocation, once, of every buffer a layout asks for: parameter arenas, optimizer state, the
//! Newton-Schulz workspace and the step scalars; host data is uploaded here.

use crate::gpu::readback::BufferRange;
use crate::gpu::GpuContext;
// Re-exported for the option buffers beside this file (optimizer/keras.rs).
pub(super) use crate::gpu::storage_buffer;
use crate::kernels::{AdamStep, MuonStep, NsOperands};

use super::layout::{Layout, ParamSpec};

/// Where a parameter's value and gradient live: `Source<&[f32]>` when registering (the
/// builder keeps a `Source<Vec<f32>>` until it uploads the data).
pub enum Source<T> {
    /// Host data, uploaded into buffers the optimizer owns.
    Host(T),
    /// The caller's buffers (usage STORAGE; COPY_SRC to read back), used in place.
    Buffers {
        value: wgpu::Buffer,
        grad: wgpu::Buffer,
    },
}

/// The optimizer state of one parameter.
#[derive(Clone, Debug)]
pub enum ParamState {
    Muon {
        momentum: BufferRange,
    },
    AdamW {
        exp_avg: BufferRange,
        exp_avg_sq: BufferRange,
    },
}

impl ParamState {
    /// The state tensors with their names (`momentum`, or `exp_avg` and `exp_avg_sq`).
    pub fn named(&self) -> Vec<(&'static str, &BufferRange)> {
        match self {
            Self::Muon { momentum } => vec![("momentum", momentum)],
            Self::AdamW {
                exp_avg,
                exp_avg_sq,
            } => vec![("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)],
        }
    }
}

/// One registered parameter: where its value, gradient and state live.
#[derive(Clone, Debug)]
pub struct ParamInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub route: crate::settings::Group,
    pub value: BufferRange,
    pub grad: BufferRange,
    pub(super) state: ParamState,
    /// Registered from host data: the optimizer owns its buffers.
    pub(super) owned: bool,
    /// How the first moment (Muon momentum or AdamW `exp_avg`) is stored (`state` then counts
    /// `u32` words when packed).
    pub(super) mu_dtype: crate::settings::optax::MuDtype,
}

impl ParamInfo {
    /// The optimizer state of this parameter.
    pub fn state(&self) -> &ParamState {
        &self.state
    }

    /// How its first moment (Muon momentum or AdamW `exp_avg`) is stored: packed dtypes hold
    /// two values per `u32` of the range (whose `len` then counts words).
    pub fn mu_dtype(&self) -> crate::settings::optax::MuDtype {
        self.mu_dtype
    }
}

/// The Newton-Schulz scratch buffers, shared by the waves.
pub struct Workspace {
    pub x0: wgpu::Buffer,
    pub x1: wgpu::Buffer,
    pub gram: wgpu::Buffer,
    pub poly: wgpu::Buffer,
    /// Gram form: the next Gram matrix, `P²`, and the running product `Q` (ping-pong).
    pub gram_ns: Option<[wgpu::Buffer; 4]>,
    /// f16 Newton-Schulz variants: each buffer above with its f16 copy (half its size), which
    /// the products read their operands from; empty otherwise.
    pub halves: Vec<(wgpu::Buffer, wgpu::Buffer)>,
}

impl Workspace {
    fn new(device: &wgpu::Device, layout: &Layout, half: bool) -> Self {
        let square = |label| storage_buffer(device, label, layout.square_len as u64 * 4);
        let mut ws = Workspace {
            x0: storage_buffer(device, "ns x0", layout.x_len as u64 * 4),
            x1: storage_buffer(device, "ns x1", layout.x_len as u64 * 4),
            gram: square("ns gram"),
            poly: square("ns poly"),
            gram_ns: layout.gram.then(|| {
                [
                    square("ns gram 2"),
                    square("ns square"),
                    square("ns product"),
                    square("ns product 2"),
                ]
            }),
            halves: Vec::new(),
        };
        if half {
            ws.halves = ws
                .buffers()
                .into_iter()
                .map(|b| {
                    (
                        b.clone(),
                        storage_buffer(device, "ns f16 copy", b.size() / 2),
                    )
                })
                .collect();
        }
        ws
    }

    fn buffers(&self) -> Vec<&wgpu::Buffer> {
        let mut all = vec![&self.x0, &self.x1, &self.gram, &self.poly];
        all.extend(self.gram_ns.iter().flatten());
        all
    }

    pub fn bytes(&self) -> u64 {
        let copies: u64 = self.halves.iter().map(|(_, h)| h.size()).sum();
        self.buffers().iter().map(|b| b.size()).sum::<u64>() + copies
    }

    pub fn half_of(&self, buffer: &wgpu::Buffer) -> Option<&wgpu::Buffer> {
        self.halves
            .iter()
            .find(|(b, _)| b == buffer)
            .map(|(_, h)| h)
    }

    /// The buffers of a product, with their f16 copies when there are.
    pub fn operands<'a>(
        &'a self,
        left: &'a wgpu::Buffer,
        right: &'a wgpu::Buffer,
        addend: &'a wgpu::Buffer,
        result: &'a wgpu::Buffer,
    ) -> NsOperands<'a> {
        let halves = match (
            self.half_of(left),
            self.half_of(right),
            self.half_of(result),
        ) {
            (Some(l), Some(r), Some(c)) => Some([l, r, c]),
            _ => None,
        };
        NsOperands {
            left,
            right,
            addend,
            result,
            halves,
        }
    }
}

/// The step scalars, rewritten before every step: one [`MuonStep`] per Muon batch, one
/// [`AdamStep`] per AdamW group.
pub struct StepBuffers {
    pub muon: wgpu::Buffer,
    pub adam: wgpu::Buffer,
}

/// One AdamW dispatch's buffers: an arena of a group, or one parameter in the caller's buffers.
pub struct AdamRun {
    pub group: usize,
    pub len: usize,
    pub value: wgpu::Buffer,
    pub grad: wgpu::Buffer,
    pub exp_avg: wgpu::Buffer,
    pub exp_avg_sq: wgpu::Buffer,
}

/// Every buffer of the optimizer.
pub struct Buffers {
    pub params: Vec<ParamInfo>,
    /// One per Muon batch.
    pub momentum: Vec<wgpu::Buffer>,
    /// In the order they are recorded: by group, arenas first.
    pub adam: Vec<AdamRun>,
    pub workspace: Workspace,
    pub steps: StepBuffers,
    /// Momentum, first and second moments.
    pub state_bytes: u64,
    /// What optax's options need (`adaptive`, `spectral`).
    pub optax: super::optax_buffers::OptaxBuffers,
}

fn step_buffer(device: &wgpu::Device, label: &str, bytes: usize) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

fn range(buffer: &wgpu::Buffer, offset: usize, len: usize) -> BufferRange {
    BufferRange {
        buffer: buffer.clone(),
        offset: (offset * 4) as u64,
        len,
    }
}

impl Buffers {
    /// Allocates what `layout` asks for and uploads the host data of `params`.
    pub fn allocate(
        ctx: &GpuContext,
        layout: &Layout,
        params: Vec<(ParamSpec, Source<Vec<f32>>)>,
        half: bool,
        settings: &crate::settings::Settings,
    ) -> Self {
        let device = &ctx.device;
        let mut placed = Placed {
            dtypes: vec![crate::settings::optax::MuDtype::F32; params.len()],
            states: (0..params.len()).map(|_| None).collect(),
            state_bytes: 0,
        };
        let momentum = Self::place_muon(device, layout, &params, settings, &mut placed);
        let adam = Self::place_adam(device, layout, &params, settings, &mut placed);
        let state_bytes = placed.state_bytes;
        let params = Self::upload(ctx, params, placed);

        let steps = StepBuffers {
            muon: step_buffer(
                device,
                "muon step scalars",
                layout.batches.len().max(1) * std::mem::size_of::<MuonStep>(),
            ),
            adam: step_buffer(
                device,
                "adamw step scalars",
                layout.adam.len().max(1) * std::mem::size_of::<AdamStep>(),
            ),
        };
        Self {
            params,
            momentum,
            adam,
            workspace: Workspace::new(device, layout, half),
            steps,
            state_bytes,
            optax: super::optax_buffers::OptaxBuffers::new(device, layout, settings),
        }
    }
}

impl Buffers {
    /// The Muon batches' momentum buffers and arenas; each member's ranges into `placed`.
    fn place_muon(
        device: &wgpu::Device,
        layout: &Layout,
        params: &[(ParamSpec, Source<Vec<f32>>)],
        settings: &crate::settings::Settings,
        placed: &mut Placed,
    ) -> Vec<wgpu::Buffer> {
        let mut momentum = Vec::with_capacity(layout.batches.len());
        for b in &layout.batches {
            // Packed dtypes: two values per u32, each parameter starting on a whole word.
            let dtype = settings.muon[b.group].mu_dtype;
            let rc = dtype.words(b.param_len());
            let m = storage_buffer(device, "muon momentum", (rc * b.count() * 4) as u64);
            placed.state_bytes += m.size();
            let stride = b.arena_stride();
            let arena = (b.hosted > 0).then(|| {
                let bytes = (stride * b.hosted * 4) as u64;
                (
                    storage_buffer(device, "muon values", bytes),
                    storage_buffer(device, "muon grads", bytes),
                )
            });
            for (slot, &i) in b.members.iter().enumerate() {
                let len = params[i].0.len;
                let (value, grad) = match (&params[i].1, &arena) {
                    (Source::Buffers { value, grad }, _) => {
                        (range(value, 0, len), range(grad, 0, len))
                    }
                    (Source::Host(_), Some((value, grad))) => (
                        range(value, slot * stride, len),
                        range(grad, slot * stride, len),
                    ),
                    (Source::Host(_), None) => unreachable!("host members have an arena"),
                };
                let state = ParamState::Muon {
                    momentum: range(&m, slot * rc, dtype.words(len)),
                };
                placed.dtypes[i] = dtype;
                placed.states[i] = Some((value, grad, state));
            }
            momentum.push(m);
        }
        momentum
    }

    /// The AdamW groups' arenas and state (one run per arena or caller's buffer); each
    /// member's ranges into `placed`.
    fn place_adam(
        device: &wgpu::Device,
        layout: &Layout,
        params: &[(ParamSpec, Source<Vec<f32>>)],
        settings: &crate::settings::Settings,
        placed: &mut Placed,
    ) -> Vec<AdamRun> {
        let mut adam = Vec::new();
        for (group, g) in layout.adam.iter().enumerate() {
            // optax's mu_dtype: exp_avg two per u32 (arena offsets are even, so no word is shared).
            let dtype = settings.adam[group].mu_dtype;
            for arena in &g.arenas {
                let bytes = arena.len as u64 * 4;
                let run = AdamRun {
                    group,
                    len: arena.len,
                    value: storage_buffer(device, "adamw values", bytes),
                    grad: storage_buffer(device, "adamw grads", bytes),
                    exp_avg: storage_buffer(
                        device,
                        "adamw exp_avg",
                        dtype.words(arena.len) as u64 * 4,
                    ),
                    exp_avg_sq: storage_buffer(device, "adamw exp_avg_sq", bytes),
                };
                placed.state_bytes += run.exp_avg.size() + run.exp_avg_sq.size();
                for &(i, at) in &arena.members {
                    placed.states[i] = Some(adam_ranges(&run, at, params[i].0.len, dtype));
                    placed.dtypes[i] = dtype;
                }
                adam.push(run);
            }
            for &i in &g.external {
                let Source::Buffers { value, grad } = &params[i].1 else {
                    unreachable!("the layout lists the caller's buffers only")
                };
                let len = params[i].0.len;
                let run = AdamRun {
                    group,
                    len,
                    value: value.clone(),
                    grad: grad.clone(),
                    exp_avg: storage_buffer(device, "adamw exp_avg", dtype.words(len) as u64 * 4),
                    exp_avg_sq: storage_buffer(device, "adamw exp_avg_sq", len as u64 * 4),
                };
                placed.state_bytes += run.exp_avg.size() + run.exp_avg_sq.size();
                placed.states[i] = Some(adam_ranges(&run, 0, len, dtype));
                placed.dtypes[i] = dtype;
                adam.push(run);
            }
        }
        adam
    }

    /// Every parameter's description, its host data uploaded into its place.
    fn upload(
        ctx: &GpuContext,
        params: Vec<(ParamSpec, Source<Vec<f32>>)>,
        placed: Placed,
    ) -> Vec<ParamInfo> {
        params
            .into_iter()
            .zip(placed.states)
            .zip(placed.dtypes)
            .map(|(((spec, data), state), mu_dtype)| {
                let (value, grad, state) = state.expect("the layout places every parameter");
                if let Source::Host(values) = &data {
                    ctx.queue.write_buffer(
                        &value.buffer,
                        value.offset,
                        bytemuck::cast_slice(values),
                    );
                }
                ParamInfo {
                    name: spec.name,
                    shape: spec.shape,
                    route: spec.group,
                    value,
                    grad,
                    state,
                    owned: spec.hosted,
                    mu_dtype,
                }
            })
            .collect()
    }
}

/// Where `Buffers::allocate` has put each parameter so far.
struct Placed {
    dtypes: Vec<crate::settings::optax::MuDtype>,
    states: Vec<Option<(BufferRange, BufferRange, ParamState)>>,
    state_bytes: u64,
}

fn adam_ranges(
    run: &AdamRun,
    at: usize,
    len: usize,
    dtype: crate::settings::optax::MuDtype,
) -> (BufferRange, BufferRange, ParamState) {
    (
        range(&run.value, at, len),
        range(&run.grad, at, len),
        ParamState::AdamW {
            exp_avg: range(&run.exp_avg, dtype.words(at), dtype.words(len)),
            exp_avg_sq: range(&run.exp_avg_sq, at, len),
        },
    )
}
