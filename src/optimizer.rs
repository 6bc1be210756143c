//! The parameter registry, the plan of recorded kernels, and the step.
//!
//! Data flows one way: parameters are grouped (Muon: by group and matrix shape; AdamW: by group,
//! packed into arenas), every kernel launch of a step is created once at [`OptimizerBuilder::build`],
//! and a step replays them into one compute pass.

use std::collections::HashMap;

use wgpu::util::DeviceExt;

use crate::config::{NormEps, Settings};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::kernels::tune::TuneReport;
use crate::kernels::{
    AdamDims, AdamOperands, Dispatch, Kernels, MatrixDims, NormDims, NsOperands, NsProduct,
    NsVariant, Strided,
};
use crate::params::{element_count, matrix_view, resolve, Resolved, Route, Source};
use crate::readback::{read_ranges, BufferRange};

/// Step scalars per unit (one Muon batch or one AdamW group).
const UNIT_SCALARS: usize = 16;
/// Arena slots start on 256-byte boundaries so callers can bind one parameter on its own.
const ARENA_ALIGN: usize = 64;

/// A hyperparameter group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Muon(usize),
    AdamW(usize),
}

/// What a step costs, for users sizing the optimizer on their GPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepStats {
    pub dispatches: usize,
    pub compute_passes: usize,
    /// Distinct `(group, rows, cols)` Muon shapes.
    pub muon_shapes: usize,
    pub muon_params: usize,
    pub adam_params: usize,
    pub param_bytes: u64,
    /// Momentum, first and second moments.
    pub state_bytes: u64,
    /// Newton-Schulz scratch and step scalars.
    pub workspace_bytes: u64,
    /// The Newton-Schulz kernel variant the plan uses.
    pub ns_variant: Option<NsVariant>,
    /// Groups of shapes whose Newton-Schulz products share dispatches (one unless the
    /// workspace of every shape together exceeds one binding).
    pub ns_waves: usize,
}

/// One registered parameter.
#[derive(Clone, Debug)]
pub struct ParamInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub route: Resolved,
    pub value: BufferRange,
    pub grad: BufferRange,
    state: Vec<(&'static str, BufferRange)>,
    owned: bool,
}

impl ParamInfo {
    /// The optimizer state of this parameter: `momentum`, or `exp_avg` and `exp_avg_sq`.
    pub fn state(&self) -> &[(&'static str, BufferRange)] {
        &self.state
    }
}

enum Pending {
    Host(Vec<f32>),
    Buffers {
        value: wgpu::Buffer,
        grad: wgpu::Buffer,
    },
}

struct PendingParam {
    name: String,
    shape: Vec<usize>,
    len: usize,
    route: Resolved,
    data: Pending,
}

/// Collects parameters, then builds an [`Optimizer`].
pub struct OptimizerBuilder {
    ctx: GpuContext,
    settings: Settings,
    params: Vec<PendingParam>,
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
        source: Source<'_>,
        route: Route,
    ) -> Result<&mut Self> {
        if self.names.contains_key(name) {
            return Err(Error::DuplicateParameter { name: name.into() });
        }
        let len = element_count(name, shape)?;
        let route = resolve(&self.settings, name, shape, route)?;
        let data = match source {
            Source::Host(values) => {
                if values.len() != len {
                    return Err(Error::LengthMismatch {
                        name: name.into(),
                        what: "initial value".into(),
                        shape: shape.to_vec(),
                        expected: len,
                        got: values.len(),
                    });
                }
                Pending::Host(values.to_vec())
            }
            Source::Buffers { value, grad } => {
                check_buffer(name, "value", &value, len)?;
                check_buffer(name, "gradient", &grad, len)?;
                Pending::Buffers { value, grad }
            }
        };
        self.names.insert(name.into(), self.params.len());
        self.params.push(PendingParam {
            name: name.into(),
            shape: shape.to_vec(),
            len,
            route,
            data,
        });
        Ok(self)
    }

    /// Registers a parameter from host data with automatic routing.
    pub fn add_host(&mut self, name: &str, shape: &[usize], values: &[f32]) -> Result<&mut Self> {
        self.add(name, shape, Source::Host(values), Route::Auto)
    }

    /// Compiles the kernels, allocates state and workspace, uploads host data and records the plan.
    pub fn build(self) -> Result<Optimizer> {
        Planner::new(self).plan()
    }
}

struct MuonBatch {
    group: usize,
    rows: usize,
    cols: usize,
    scale: f64,
    members: Vec<usize>,
}

struct Planner {
    ctx: GpuContext,
    settings: Settings,
    params: Vec<PendingParam>,
    kernels: Kernels,
    tune_report: Option<TuneReport>,
    limit: u64,
    gram_form: bool,
}

/// Whether a `rows × cols` matrix can run the Gram form of Newton-Schulz (see
/// [`Planner::newton_schulz`]): when its view is at least twice as wide as tall, where it does
/// less than two thirds of the work of the usual form.
fn suits_gram_iteration(rows: usize, cols: usize) -> bool {
    rows.max(cols) >= 2 * rows.min(cols)
}

/// The Newton-Schulz scratch buffers, shared by the waves.
struct Workspace {
    x0: wgpu::Buffer,
    x1: wgpu::Buffer,
    gram: wgpu::Buffer,
    poly: wgpu::Buffer,
    /// Gram form: the next Gram matrix, `P²`, and the running product `Q` (ping-pong).
    gram_ns: Option<[wgpu::Buffer; 4]>,
    /// f16 Newton-Schulz variants: each buffer above with its f16 copy (half its size), which
    /// the products read their operands from; empty otherwise.
    halves: Vec<(wgpu::Buffer, wgpu::Buffer)>,
}

impl Workspace {
    fn buffers(&self) -> Vec<&wgpu::Buffer> {
        let mut all = vec![&self.x0, &self.x1, &self.gram, &self.poly];
        all.extend(self.gram_ns.iter().flatten());
        all
    }

    fn bytes(&self) -> u64 {
        let copies: u64 = self.halves.iter().map(|(_, h)| h.size()).sum();
        self.buffers().iter().map(|b| b.size()).sum::<u64>() + copies
    }

    /// Adds the f16 copy of every buffer.
    fn with_halves(mut self, device: &wgpu::Device) -> Self {
        self.halves = self
            .buffers()
            .into_iter()
            .map(|b| {
                (
                    b.clone(),
                    storage_buffer(device, "ns f16 copy", b.size() / 2),
                )
            })
            .collect();
        self
    }

    fn half_of(&self, buffer: &wgpu::Buffer) -> Option<&wgpu::Buffer> {
        self.halves
            .iter()
            .find(|(b, _)| b == buffer)
            .map(|(_, h)| h)
    }

    /// The buffers of a product, with their f16 copies when there are.
    fn operands<'a>(
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

/// The Newton-Schulz view of a `rows × cols` matrix (`min × max`), padded to the tile.
fn padded_view(rows: usize, cols: usize, tile: u32) -> (usize, usize) {
    let tile = tile as usize;
    (
        rows.min(cols).next_multiple_of(tile),
        rows.max(cols).next_multiple_of(tile),
    )
}

fn storage_buffer(device: &wgpu::Device, label: &str, bytes: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(16).next_multiple_of(4),
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

impl Planner {
    fn new(b: OptimizerBuilder) -> Self {
        let limits = b.ctx.limits();
        let limit = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let (kernels, tune_report) = match b.ns_variant {
            Some(v) => (Kernels::with_variant(&b.ctx.device, v), None),
            None => {
                let (kernels, report) = crate::kernels::tune::choose(&b.ctx);
                (kernels, Some(report))
            }
        };
        Self {
            kernels,
            tune_report,
            gram_form: b.gram_form,
            ctx: b.ctx,
            settings: b.settings,
            params: b.params,
            limit,
        }
    }

    /// Whether this batch runs the Gram form of Newton-Schulz.
    fn uses_gram_iteration(&self, batch: &MuonBatch) -> bool {
        self.gram_form && suits_gram_iteration(batch.rows, batch.cols)
    }

    fn too_large(&self, what: String, bytes: u64) -> Error {
        Error::TooLarge {
            what,
            bytes,
            limit: self.limit,
        }
    }

    /// Same-shape Muon parameters of one group, split so every buffer (padded workspace
    /// included) fits one binding.
    fn muon_batches(&self, tile: u32) -> Result<Vec<MuonBatch>> {
        let mut batches: Vec<MuonBatch> = Vec::new();
        let mut open: HashMap<(usize, usize, usize, u64), usize> = HashMap::new();
        for (i, p) in self.params.iter().enumerate() {
            let Resolved::Muon(group) = p.route else {
                continue;
            };
            let (rows, cols) = matrix_view(&p.shape);
            let padded = padded_view(rows, cols, tile);
            let slot = (p.len.next_multiple_of(ARENA_ALIGN).max(padded.0 * padded.1) * 4) as u64;
            if slot > self.limit {
                return Err(self.too_large(format!("Muon parameter `{}`", p.name), slot));
            }
            let max_count = (self.limit / slot) as usize;
            // Same view but another shape scale (KellerJordan's conv rule) cannot share a unit.
            let scale = self.settings.muon[group].shape_scale(&p.shape);
            let key = (group, rows, cols, scale.to_bits());
            match open.get(&key) {
                Some(&b) if batches[b].members.len() < max_count => batches[b].members.push(i),
                _ => {
                    open.insert(key, batches.len());
                    batches.push(MuonBatch {
                        group,
                        rows,
                        cols,
                        scale,
                        members: vec![i],
                    });
                }
            }
        }
        // Host-owned members first: they share one arena and one dispatch.
        for b in &mut batches {
            b.members
                .sort_by_key(|&i| matches!(self.params[i].data, Pending::Buffers { .. }));
        }
        Ok(batches)
    }

    /// Batches grouped into waves whose workspaces fit one binding each: every product of a
    /// Newton-Schulz iteration is one dispatch per wave, whatever the number of shapes.
    fn waves(&self, batches: &[MuonBatch], tile: u32) -> Vec<Vec<usize>> {
        let mut waves: Vec<Vec<usize>> = Vec::new();
        let (mut x_len, mut a_len) = (0u64, 0u64);
        for (i, b) in batches.iter().enumerate() {
            let (mp, np) = padded_view(b.rows, b.cols, tile);
            let count = b.members.len() as u64;
            let (x, a) = (count * (mp * np) as u64, count * (mp * mp) as u64);
            let fits = (x_len + x) * 4 <= self.limit && (a_len + a) * 4 <= self.limit;
            match waves.last_mut() {
                Some(w) if fits => w.push(i),
                _ => {
                    waves.push(vec![i]);
                    (x_len, a_len) = (0, 0);
                }
            }
            x_len += x;
            a_len += a;
        }
        waves
    }

    /// Records the Newton-Schulz iterations of one wave (every batch's `X` normalized in `x0`)
    /// and returns, per batch, whether its result is in `x1` (else `x0`).
    ///
    /// Usual form, for square-ish matrices, three products per iteration:
    /// `A = X·Xᵀ; B = c·A·A + b·A; X ← B·X + a·X`.
    ///
    /// Gram form, for matrices at least twice as wide as tall: every iteration multiplies `X`
    /// by `P = aI + bA + cA²`, a polynomial in `A = X·Xᵀ`, so with `X₀` the normalized input
    /// `Xₖ = Qₖ·X₀` (`Qₖ = Pₖ₋₁⋯P₀`) and `Aₖ₊₁ = Pₖ·Aₖ·Pₖ = Aₖ·Pₖ²` (all these are symmetric
    /// and commute). The iterations then stay `m × m` (`Pₖ`, `Pₖ²`, `Aₖ·Pₖ²`, `Pₖ·Qₖ`: four
    /// symmetric products) and `X` is touched twice: `A₀ = X₀·X₀ᵀ` and `X = Q·X₀` at the end.
    /// For an `m × n` matrix that is `3m²n + 17m³` flops for five iterations instead of
    /// `15m²n + 5m³` (counting symmetric products at half), the same mathematics rounded
    /// differently.
    fn newton_schulz(
        &self,
        batches: &[MuonBatch],
        wave: &[usize],
        places: &[(u32, u32)],
        tile: u32,
        ws: &Workspace,
        dispatches: &mut Vec<Dispatch>,
    ) -> HashMap<usize, bool> {
        let device = &self.ctx.device;
        let mut outputs = HashMap::new();
        let steps = |unit: usize| &self.settings.muon[batches[unit].group].ns.0;
        // Views of a batch in the workspace: X (m × n) and its square scratch (m × m).
        let views = |unit: usize| {
            let b = &batches[unit];
            let (mp, np) = padded_view(b.rows, b.cols, tile);
            let (mp, np) = (mp as u32, np as u32);
            let (x_at, a_at) = places[unit];
            let x = Strided {
                base: x_at,
                row: np,
                mat: mp * np,
            };
            let sq = Strided {
                base: a_at,
                row: mp,
                mat: mp * mp,
            };
            (mp, np, b.members.len() as u32, x, sq)
        };
        // C = L·Lᵀ-shaped symmetric product (m × m, inner dimension k), epilogue to be set.
        let symmetric = |m: u32, k: u32, count: u32, left: Strided, result: Strided| NsProduct {
            rows: m,
            cols: m,
            k,
            count,
            left,
            right: left,
            addend: None,
            result,
            alpha: 1.0,
            beta: 0.0,
            diag: 0.0,
        };
        let ops = |left, right, addend, result| ws.operands(left, right, addend, result);
        let (usual, gram): (Vec<usize>, Vec<usize>) = wave
            .iter()
            .copied()
            .filter(|&u| !steps(u).is_empty())
            .partition(|&u| !self.uses_gram_iteration(&batches[u]));
        for &u in wave {
            outputs.insert(u, false);
        }

        // Usual form; the first Gram product also serves the Gram form's A₀.
        let iterations = usual.iter().map(|&u| steps(u).len()).max().unwrap_or(0);
        let (mut cur, mut other) = (&ws.x0, &ws.x1);
        for it in 0..iterations.max(!gram.is_empty() as usize) {
            let (mut grams, mut polys, mut applies) = (Vec::new(), Vec::new(), Vec::new());
            for &unit in &usual {
                let Some(&[a, b, c]) = steps(unit).get(it) else {
                    continue;
                };
                let (mp, np, count, x, sq) = views(unit);
                // A = X·Xᵀ
                grams.push(symmetric(mp, np, count, x, sq));
                // B = c·A·Aᵀ + b·A (A is symmetric)
                polys.push(NsProduct {
                    addend: Some(sq),
                    alpha: c as f32,
                    beta: b as f32,
                    ..symmetric(mp, mp, count, sq, sq)
                });
                // X' = B·X + a·X
                applies.push(NsProduct {
                    rows: mp,
                    cols: np,
                    k: mp,
                    count,
                    left: sq,
                    right: x,
                    addend: Some(x),
                    result: x,
                    alpha: 1.0,
                    beta: a as f32,
                    diag: 0.0,
                });
                outputs.insert(unit, it % 2 == 0);
            }
            if it == 0 {
                for &unit in &gram {
                    let (mp, np, count, x, sq) = views(unit);
                    grams.push(symmetric(mp, np, count, x, sq));
                }
            }
            dispatches.push(self.kernels.ns_products(
                device,
                true,
                &grams,
                ops(cur, cur, cur, &ws.gram),
            ));
            if polys.is_empty() {
                continue;
            }
            dispatches.push(self.kernels.ns_products(
                device,
                true,
                &polys,
                ops(&ws.gram, &ws.gram, &ws.gram, &ws.poly),
            ));
            dispatches.push(self.kernels.ns_products(
                device,
                false,
                &applies,
                ops(&ws.poly, cur, cur, other),
            ));
            std::mem::swap(&mut cur, &mut other);
        }

        // Gram form: A in gram / gram 2, P in poly, P² in square, Q in product / product 2.
        let Some([gram2, square, product, product2]) = &ws.gram_ns else {
            return outputs;
        };
        let iterations = gram.iter().map(|&u| steps(u).len()).max().unwrap_or(0);
        let (mut a_cur, mut a_next) = (&ws.gram, gram2);
        let (mut q_cur, mut q_next) = (product, product2);
        for it in 0..iterations {
            let (mut polys, mut firsts, mut squares, mut nexts, mut products) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for &unit in &gram {
                let Some(&[a, b, c]) = steps(unit).get(it) else {
                    continue;
                };
                let (mp, _, count, _, sq) = views(unit);
                // P = c·A·Aᵀ + b·A + a·I; the first one is Q itself.
                let p = NsProduct {
                    addend: Some(sq),
                    alpha: c as f32,
                    beta: b as f32,
                    diag: a as f32,
                    ..symmetric(mp, mp, count, sq, sq)
                };
                if it == 0 {
                    firsts.push(p);
                } else {
                    polys.push(p);
                    // Q ← P·Qᵀ (Q is symmetric)
                    products.push(symmetric(mp, mp, count, sq, sq));
                }
                if it + 1 < steps(unit).len() {
                    // P², then A ← A·(P²)ᵀ
                    squares.push(symmetric(mp, mp, count, sq, sq));
                    nexts.push(symmetric(mp, mp, count, sq, sq));
                }
            }
            let a_now = a_cur;
            if !firsts.is_empty() {
                dispatches.push(self.kernels.ns_products(
                    device,
                    true,
                    &firsts,
                    ops(a_now, a_now, a_now, q_cur),
                ));
            }
            // This iteration's P: in product for the first iteration, else in poly.
            let p_buffer = if it == 0 { q_cur } else { &ws.poly };
            if !polys.is_empty() {
                dispatches.push(self.kernels.ns_products(
                    device,
                    true,
                    &polys,
                    ops(a_now, a_now, a_now, &ws.poly),
                ));
            }
            if !squares.is_empty() {
                dispatches.push(self.kernels.ns_products(
                    device,
                    true,
                    &squares,
                    ops(p_buffer, p_buffer, p_buffer, square),
                ));
                dispatches.push(self.kernels.ns_products(
                    device,
                    true,
                    &nexts,
                    ops(a_now, square, a_now, a_next),
                ));
                std::mem::swap(&mut a_cur, &mut a_next);
            }
            if !products.is_empty() {
                dispatches.push(self.kernels.ns_products(
                    device,
                    true,
                    &products,
                    ops(&ws.poly, q_cur, q_cur, q_next),
                ));
                std::mem::swap(&mut q_cur, &mut q_next);
            }
        }
        // X = Q·X₀ into x1; Q is in `product` after an odd number of iterations.
        for parity in [1usize, 0] {
            let q = if parity == 1 { product } else { product2 };
            let applies: Vec<NsProduct> = gram
                .iter()
                .filter(|&&u| steps(u).len() % 2 == parity)
                .map(|&unit| {
                    let (mp, np, count, x, sq) = views(unit);
                    outputs.insert(unit, true);
                    NsProduct {
                        rows: mp,
                        cols: np,
                        k: mp,
                        count,
                        left: sq,
                        right: x,
                        addend: None,
                        result: x,
                        alpha: 1.0,
                        beta: 0.0,
                        diag: 0.0,
                    }
                })
                .collect();
            if !applies.is_empty() {
                dispatches.push(self.kernels.ns_products(
                    device,
                    false,
                    &applies,
                    ops(q, &ws.x0, &ws.x0, &ws.x1),
                ));
            }
        }
        outputs
    }

    fn plan(mut self) -> Result<Optimizer> {
        let device = self.ctx.device.clone();
        let tile = self.kernels.ns_variant().tile();
        let batches = self.muon_batches(tile)?;
        let waves = self.waves(&batches, tile);
        let muon_units = batches.len();
        let adam_groups = self.settings.adam.len();
        let units = muon_units + adam_groups;
        let scalars = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("step scalars"),
            size: (units.max(1) * UNIT_SCALARS * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });

        // Each batch's place in its wave's workspace (element offsets): waves run one after
        // another and share the buffers. Within a wave padding stays zero (the momentum kernel
        // writes real entries only, the products zeros); several waves clear X first, since
        // each pads its matrices differently.
        let mut places = vec![(0u32, 0u32); batches.len()];
        let (mut x_len, mut a_len) = (0u64, 0u64);
        for wave in &waves {
            let (mut x_at, mut a_at) = (0u64, 0u64);
            for &bi in wave {
                let b = &batches[bi];
                let (mp, np) = padded_view(b.rows, b.cols, tile);
                places[bi] = (x_at as u32, a_at as u32);
                let count = b.members.len() as u64;
                x_at += count * (mp * np) as u64;
                a_at += count * (mp * mp) as u64;
            }
            x_len = x_len.max(x_at);
            a_len = a_len.max(a_at);
        }
        let gram_ns = batches.iter().any(|b| self.uses_gram_iteration(b));
        let square = |label| storage_buffer(&device, label, a_len * 4);
        let ws = Workspace {
            x0: storage_buffer(&device, "ns x0", x_len * 4),
            x1: storage_buffer(&device, "ns x1", x_len * 4),
            gram: square("ns gram"),
            poly: square("ns poly"),
            gram_ns: gram_ns.then(|| {
                [
                    square("ns gram 2"),
                    square("ns square"),
                    square("ns product"),
                    square("ns product 2"),
                ]
            }),
            halves: Vec::new(),
        };
        let ws = if self.kernels.ns_variant().half() {
            ws.with_halves(&device)
        } else {
            ws
        };
        let x0 = ws.x0.clone();
        let workspace_bytes = ws.bytes() + scalars.size();

        let mut infos: Vec<Option<ParamInfo>> = vec![None; self.params.len()];
        let mut dispatches = Vec::new();
        let mut units_kind = Vec::with_capacity(units);
        let mut state_bytes = 0u64;
        for b in &batches {
            units_kind.push(Unit::Muon {
                group: b.group,
                scale: b.scale,
            });
        }

        for wave in &waves {
            // Elements of X this wave uses (a multiple of 4: padded views).
            let wave_len: usize = wave
                .iter()
                .map(|&unit| {
                    let b = &batches[unit];
                    let (mp, np) = padded_view(b.rows, b.cols, tile);
                    b.members.len() * mp * np
                })
                .sum();
            let wave_len4 = (wave_len / 4) as u32;
            if waves.len() > 1 {
                dispatches.push(self.kernels.clear(&device, wave_len4, &x0));
            }
            // Momentum (and Nesterov) of every batch, written into the padded workspace view.
            let mut updates = Vec::new();
            for &unit in wave {
                let b = &batches[unit];
                let (rows, cols) = (b.rows as u32, b.cols as u32);
                let (mp, np) = padded_view(b.rows, b.cols, tile);
                let rc = rows * cols;
                let count = b.members.len() as u32;
                let momentum =
                    storage_buffer(&device, "muon momentum", rc as u64 * count as u64 * 4);
                state_bytes += momentum.size();
                let hosted: Vec<usize> = b
                    .members
                    .iter()
                    .copied()
                    .filter(|&i| matches!(self.params[i].data, Pending::Host(_)))
                    .collect();
                let stride = (rc as usize).next_multiple_of(ARENA_ALIGN);
                let base = MatrixDims {
                    rows,
                    cols,
                    count: 1,
                    first: 0,
                    src_stride: rc,
                    mat_stride: rc,
                    unit: unit as u32,
                    transposed: (rows > cols) as u32,
                    ws_cols: np as u32,
                    ws_stride: (mp * np) as u32,
                    ws_base: places[unit].0,
                    _pad: 0,
                };
                if !hosted.is_empty() {
                    let bytes = (stride * hosted.len() * 4) as u64;
                    let value = storage_buffer(&device, "muon values", bytes);
                    let grad = storage_buffer(&device, "muon grads", bytes);
                    let dims = MatrixDims {
                        count: hosted.len() as u32,
                        src_stride: stride as u32,
                        ..base
                    };
                    dispatches.push(
                        self.kernels
                            .momentum(&device, dims, &scalars, &grad, &momentum, &x0),
                    );
                    updates.push((unit, dims, value.clone()));
                    for (slot, &i) in hosted.iter().enumerate() {
                        let offset = (slot * stride * 4) as u64;
                        infos[i] =
                            Some(self.info(i, &value, &grad, offset, Some(&momentum), slot, rc));
                    }
                }
                for (slot, &i) in b.members.iter().enumerate().skip(hosted.len()) {
                    let Pending::Buffers { value, grad } = &self.params[i].data else {
                        unreachable!()
                    };
                    let dims = MatrixDims {
                        first: slot as u32,
                        ..base
                    };
                    dispatches.push(
                        self.kernels
                            .momentum(&device, dims, &scalars, grad, &momentum, &x0),
                    );
                    updates.push((unit, dims, value.clone()));
                    infos[i] = Some(self.info(i, value, grad, 0, Some(&momentum), slot, rc));
                }
            }

            // X ← X / ‖X‖ for every matrix of the wave: one dispatch.
            let norms: Vec<NormDims> = wave
                .iter()
                .map(|&unit| {
                    let b = &batches[unit];
                    let cfg = &self.settings.muon[b.group];
                    let (mp, np) = padded_view(b.rows, b.cols, tile);
                    NormDims {
                        len: (mp * np) as u32,
                        mat_stride: (mp * np) as u32,
                        clamp: (cfg.norm_eps == NormEps::Clamp) as u32,
                        count: b.members.len() as u32,
                        eps: cfg.eps as f32,
                        base: places[unit].0,
                        _pad: [0; 2],
                    }
                })
                .collect();
            dispatches.push(self.kernels.normalize_batches(&device, &norms, &x0));
            if let Some(halves) = ws.half_of(&x0) {
                dispatches.push(self.kernels.pack_halves(&device, wave_len4, &x0, halves));
            }

            let outputs = self.newton_schulz(&batches, wave, &places, tile, &ws, &mut dispatches);

            // W ← W·keep − lr_eff·O, O where the batch's iterations left it.
            for (unit, dims, value) in updates {
                let ortho = if outputs[&unit] { &ws.x1 } else { &ws.x0 };
                dispatches.push(
                    self.kernels
                        .muon_update(&device, dims, &scalars, ortho, &value),
                );
            }
        }

        for group in 0..adam_groups {
            let unit = (muon_units + group) as u32;
            units_kind.push(Unit::AdamW { group });
            let members: Vec<usize> = (0..self.params.len())
                .filter(|&i| self.params[i].route == Resolved::AdamW(group))
                .collect();
            // Host-owned parameters packed into arenas, each within one binding.
            let mut chunk: Vec<usize> = Vec::new();
            let mut chunk_len = 0usize;
            let mut chunks: Vec<(Vec<usize>, usize)> = Vec::new();
            for &i in &members {
                let Pending::Host(_) = self.params[i].data else {
                    continue;
                };
                let len = self.params[i].len.next_multiple_of(ARENA_ALIGN);
                if len as u64 * 4 > self.limit {
                    return Err(self.too_large(
                        format!("AdamW parameter `{}`", self.params[i].name),
                        len as u64 * 4,
                    ));
                }
                if (chunk_len + len) as u64 * 4 > self.limit {
                    chunks.push((std::mem::take(&mut chunk), chunk_len));
                    chunk_len = 0;
                }
                chunk.push(i);
                chunk_len += len;
            }
            if !chunk.is_empty() {
                chunks.push((chunk, chunk_len));
            }
            for (chunk, len) in chunks {
                let bytes = len as u64 * 4;
                let value = storage_buffer(&device, "adamw values", bytes);
                let grad = storage_buffer(&device, "adamw grads", bytes);
                let exp_avg = storage_buffer(&device, "adamw exp_avg", bytes);
                let exp_avg_sq = storage_buffer(&device, "adamw exp_avg_sq", bytes);
                state_bytes += 2 * exp_avg.size();
                let mut at = 0usize;
                for &i in &chunk {
                    let offset = (at * 4) as u64;
                    infos[i] =
                        Some(self.adam_info(i, &value, &grad, offset, &exp_avg, &exp_avg_sq));
                    at += self.params[i].len.next_multiple_of(ARENA_ALIGN);
                }
                let ops = AdamOperands {
                    scalars: &scalars,
                    grad: &grad,
                    param: &value,
                    exp_avg: &exp_avg,
                    exp_avg_sq: &exp_avg_sq,
                };
                dispatches.push(self.kernels.adamw(
                    &device,
                    AdamDims {
                        len: len as u32,
                        unit,
                        ..Default::default()
                    },
                    ops,
                ));
            }
            for &i in &members {
                let Pending::Buffers { value, grad } = &self.params[i].data else {
                    continue;
                };
                let len = self.params[i].len;
                let exp_avg = storage_buffer(&device, "adamw exp_avg", len as u64 * 4);
                let exp_avg_sq = storage_buffer(&device, "adamw exp_avg_sq", len as u64 * 4);
                state_bytes += 2 * exp_avg.size();
                infos[i] = Some(self.adam_info(i, value, grad, 0, &exp_avg, &exp_avg_sq));
                let ops = AdamOperands {
                    scalars: &scalars,
                    grad,
                    param: value,
                    exp_avg: &exp_avg,
                    exp_avg_sq: &exp_avg_sq,
                };
                dispatches.push(self.kernels.adamw(
                    &device,
                    AdamDims {
                        len: len as u32,
                        unit,
                        ..Default::default()
                    },
                    ops,
                ));
            }
        }

        let params: Vec<ParamInfo> = infos
            .into_iter()
            .map(|i| i.expect("every parameter is planned"))
            .collect();
        for (p, pending) in params.iter().zip(&mut self.params) {
            if let Pending::Host(values) = &pending.data {
                self.ctx.queue.write_buffer(
                    &p.value.buffer,
                    p.value.offset,
                    bytemuck::cast_slice(values),
                );
            }
        }
        let stats = StepStats {
            dispatches: dispatches.len(),
            compute_passes: 1,
            muon_shapes: {
                let mut shapes: Vec<_> =
                    batches.iter().map(|b| (b.group, b.rows, b.cols)).collect();
                shapes.sort_unstable();
                shapes.dedup();
                shapes.len()
            },
            muon_params: params
                .iter()
                .filter(|p| matches!(p.route, Resolved::Muon(_)))
                .count(),
            adam_params: params
                .iter()
                .filter(|p| matches!(p.route, Resolved::AdamW(_)))
                .count(),
            param_bytes: params.iter().map(|p| p.value.bytes()).sum(),
            state_bytes,
            workspace_bytes,
            ns_variant: Some(self.kernels.ns_variant()),
            ns_waves: waves.len(),
        };
        let index = params
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), i))
            .collect();
        // Compile every kernel now, so that no step pays for it.
        crate::kernels::warm_up(&self.ctx.device, &self.ctx.queue, &dispatches);
        Ok(Optimizer {
            ctx: self.ctx,
            settings: self.settings,
            params,
            index,
            units: units_kind,
            scalars,
            dispatches,
            step: 0,
            stats,
            tune_report: self.tune_report,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn info(
        &self,
        i: usize,
        value: &wgpu::Buffer,
        grad: &wgpu::Buffer,
        offset: u64,
        momentum: Option<&wgpu::Buffer>,
        slot: usize,
        rc: u32,
    ) -> ParamInfo {
        let p = &self.params[i];
        let range = |buffer: &wgpu::Buffer, offset: u64| BufferRange {
            buffer: buffer.clone(),
            offset,
            len: p.len,
        };
        ParamInfo {
            name: p.name.clone(),
            shape: p.shape.clone(),
            route: p.route,
            value: range(value, offset),
            grad: range(grad, offset),
            state: momentum
                .map(|m| vec![("momentum", range(m, (slot * rc as usize * 4) as u64))])
                .unwrap_or_default(),
            owned: matches!(p.data, Pending::Host(_)),
        }
    }

    fn adam_info(
        &self,
        i: usize,
        value: &wgpu::Buffer,
        grad: &wgpu::Buffer,
        offset: u64,
        exp_avg: &wgpu::Buffer,
        exp_avg_sq: &wgpu::Buffer,
    ) -> ParamInfo {
        let mut info = self.info(i, value, grad, offset, None, 0, 0);
        let range = |buffer: &wgpu::Buffer| BufferRange {
            buffer: buffer.clone(),
            offset,
            len: info.value.len,
        };
        info.state = vec![
            ("exp_avg", range(exp_avg)),
            ("exp_avg_sq", range(exp_avg_sq)),
        ];
        info
    }
}

#[derive(Clone, Copy, Debug)]
enum Unit {
    Muon { group: usize, scale: f64 },
    AdamW { group: usize },
}

/// Muon for the matrices, AdamW for the rest, on the GPU.
pub struct Optimizer {
    ctx: GpuContext,
    settings: Settings,
    params: Vec<ParamInfo>,
    index: HashMap<String, usize>,
    units: Vec<Unit>,
    scalars: wgpu::Buffer,
    dispatches: Vec<Dispatch>,
    step: u64,
    stats: StepStats,
    tune_report: Option<TuneReport>,
}

impl Optimizer {
    /// The GPU context.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// The current settings (learning rates and weight decays reflect any changes).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// Sets the number of steps taken (for resuming); bias corrections follow it.
    pub fn set_step_count(&mut self, step: u64) {
        self.step = step;
    }

    /// What one step records and how much memory the optimizer holds.
    pub fn stats(&self) -> &StepStats {
        &self.stats
    }

    /// How the Newton-Schulz kernel variant was chosen (`None` when the builder was given one).
    pub fn tune_report(&self) -> Option<&TuneReport> {
        self.tune_report.as_ref()
    }

    /// Every parameter, in registration order.
    pub fn params(&self) -> &[ParamInfo] {
        &self.params
    }

    /// One parameter by name.
    pub fn param(&self, name: &str) -> Result<&ParamInfo> {
        self.index
            .get(name)
            .map(|&i| &self.params[i])
            .ok_or_else(|| Error::UnknownParameter { name: name.into() })
    }

    /// Changes a group's learning rate; takes effect at the next recorded step, no rebuild.
    pub fn set_lr(&mut self, group: Group, lr: f64) -> Result<()> {
        self.set_hyper(group, "lr", lr, |m| &mut m.lr, |a| &mut a.lr)
    }

    /// Changes a group's weight decay; takes effect at the next recorded step, no rebuild.
    pub fn set_weight_decay(&mut self, group: Group, wd: f64) -> Result<()> {
        self.set_hyper(
            group,
            "weight_decay",
            wd,
            |m| &mut m.weight_decay,
            |a| &mut a.weight_decay,
        )
    }

    fn set_hyper(
        &mut self,
        group: Group,
        key: &str,
        value: f64,
        muon: impl Fn(&mut crate::config::MuonConfig) -> &mut f64,
        adam: impl Fn(&mut crate::config::AdamWConfig) -> &mut f64,
    ) -> Result<()> {
        if !value.is_finite() {
            return Err(Error::InvalidHyperparameter {
                key: key.into(),
                value: value.to_string(),
                reason: "must be finite".into(),
            });
        }
        let missing = |kind: &'static str, g: usize, available: usize| Error::UnknownGroup {
            name: format!("<{key}>"),
            kind,
            group: g,
            available,
        };
        match group {
            Group::Muon(g) => {
                let n = self.settings.muon.len();
                *muon(
                    self.settings
                        .muon
                        .get_mut(g)
                        .ok_or_else(|| missing("Muon", g, n))?,
                ) = value;
            }
            Group::AdamW(g) => {
                let n = self.settings.adam.len();
                *adam(
                    self.settings
                        .adam
                        .get_mut(g)
                        .ok_or_else(|| missing("AdamW", g, n))?,
                ) = value;
            }
        }
        Ok(())
    }

    /// The step scalars of step `t`, one block of 16 per unit.
    fn step_scalars(&self, t: u64) -> Vec<f32> {
        let mut out = vec![0f32; self.units.len().max(1) * UNIT_SCALARS];
        for (u, unit) in self.units.iter().enumerate() {
            let block = &mut out[u * UNIT_SCALARS..(u + 1) * UNIT_SCALARS];
            let values: Vec<f64> = match *unit {
                Unit::Muon { group, scale } => {
                    let cfg = &self.settings.muon[group];
                    let s = cfg.scalars(t);
                    let lr_eff = cfg.lr * scale;
                    vec![s.decay_m, s.decay_g, s.use_m, s.use_g, s.keep, lr_eff]
                }
                Unit::AdamW { group } => {
                    let s = self.settings.adam[group].scalars(t);
                    vec![
                        1.0 - s.beta1,
                        1.0 - s.beta2,
                        s.use_m,
                        s.use_g,
                        s.use_v,
                        s.eps,
                        s.eps_root,
                        s.keep,
                        s.lr_eff,
                    ]
                }
            };
            for (dst, v) in block.iter_mut().zip(values) {
                *dst = v as f32;
            }
        }
        out
    }

    /// Records one optimizer step into `encoder`: no submit, no readback. The gradients must be
    /// in the gradient buffers when the encoder runs. Several steps may be recorded before one submit.
    pub fn record_step(&mut self, encoder: &mut wgpu::CommandEncoder) -> &StepStats {
        self.step += 1;
        let scalars = self.step_scalars(self.step);
        // A fresh staging buffer per step keeps each recorded step's scalars its own.
        let staging = self
            .ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("step scalars staging"),
                contents: bytemuck::cast_slice(&scalars),
                usage: wgpu::BufferUsages::COPY_SRC,
            });
        encoder.copy_buffer_to_buffer(&staging, 0, &self.scalars, 0, staging.size());
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("muon-wgpu step"),
            timestamp_writes: None,
        });
        for d in &self.dispatches {
            d.record(&mut pass);
        }
        drop(pass);
        &self.stats
    }

    /// Records one step like [`Optimizer::record_step`], but each dispatch in a compute pass of
    /// its own that writes timestamps `2i` and `2i + 1` of `queries` (which needs
    /// `2 × dispatches` entries and the `TIMESTAMP_QUERY` feature). Returns the dispatch labels.
    /// For profiling: separate passes cost a little more than the one pass of a normal step.
    pub fn record_step_timed(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        queries: &wgpu::QuerySet,
    ) -> Vec<&'static str> {
        self.step += 1;
        let scalars = self.step_scalars(self.step);
        let staging = self
            .ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("step scalars staging"),
                contents: bytemuck::cast_slice(&scalars),
                usage: wgpu::BufferUsages::COPY_SRC,
            });
        encoder.copy_buffer_to_buffer(&staging, 0, &self.scalars, 0, staging.size());
        for (i, d) in self.dispatches.iter().enumerate() {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(d.label),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: queries,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            d.record(&mut pass);
        }
        self.dispatches.iter().map(|d| d.label).collect()
    }

    /// Records and submits one step. Returns without waiting for the GPU.
    pub fn step(&mut self) -> wgpu::SubmissionIndex {
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("muon-wgpu step"),
            });
        self.record_step(&mut encoder);
        self.ctx.queue.submit([encoder.finish()])
    }

    fn check_len(&self, name: &str, what: &str, values: &[f32]) -> Result<&ParamInfo> {
        let p = self.param(name)?;
        if values.len() != p.value.len {
            return Err(Error::LengthMismatch {
                name: name.into(),
                what: what.into(),
                shape: p.shape.clone(),
                expected: p.value.len,
                got: values.len(),
            });
        }
        Ok(p)
    }

    fn write(&self, p: &ParamInfo, range: &BufferRange, what: &str, values: &[f32]) -> Result<()> {
        if !range.buffer.usage().contains(wgpu::BufferUsages::COPY_DST) {
            return Err(Error::InvalidBuffer {
                name: p.name.clone(),
                what: what.into(),
                reason: "writing from the host needs COPY_DST usage".into(),
            });
        }
        self.ctx
            .queue
            .write_buffer(&range.buffer, range.offset, bytemuck::cast_slice(values));
        Ok(())
    }

    /// Uploads a gradient from the host (staged on the queue; used by the next submit).
    pub fn write_gradient(&self, name: &str, values: &[f32]) -> Result<()> {
        let p = self.check_len(name, "gradient", values)?;
        self.write(p, &p.grad, "gradient", values)
    }

    /// Overwrites a parameter's value from the host.
    pub fn write_parameter(&self, name: &str, values: &[f32]) -> Result<()> {
        let p = self.check_len(name, "value", values)?;
        self.write(p, &p.value, "value", values)
    }

    /// Reads a parameter's current value (waits for the GPU).
    pub async fn read_parameter(&self, name: &str) -> Result<Vec<f32>> {
        let p = self.param(name)?;
        self.readable(p, &p.value, "value")?;
        Ok(read_ranges(&self.ctx, std::slice::from_ref(&p.value))
            .await?
            .remove(0))
    }

    fn readable(&self, p: &ParamInfo, range: &BufferRange, what: &str) -> Result<()> {
        if range.buffer.usage().contains(wgpu::BufferUsages::COPY_SRC) {
            Ok(())
        } else {
            Err(Error::InvalidBuffer {
                name: p.name.clone(),
                what: what.into(),
                reason: "reading back needs COPY_SRC usage".into(),
            })
        }
    }

    /// Reads every parameter and its state in one readback: `(tensor name, shape, values)`
    /// with names `param/<name>` and `state/<name>/<momentum|exp_avg|exp_avg_sq>`.
    pub async fn read_all(&self) -> Result<Vec<(String, Vec<usize>, Vec<f32>)>> {
        let mut names = Vec::new();
        let mut ranges = Vec::new();
        for p in &self.params {
            self.readable(p, &p.value, "value")?;
            names.push((format!("param/{}", p.name), p.shape.clone()));
            ranges.push(p.value.clone());
            for (kind, range) in &p.state {
                names.push((format!("state/{}/{kind}", p.name), p.shape.clone()));
                ranges.push(range.clone());
            }
        }
        let values = read_ranges(&self.ctx, &ranges).await?;
        Ok(names
            .into_iter()
            .zip(values)
            .map(|((n, s), v)| (n, s, v))
            .collect())
    }

    /// Whether the optimizer owns this parameter's buffers (registered from host data).
    pub fn owns(&self, name: &str) -> Result<bool> {
        Ok(self.param(name)?.owned)
    }
}
