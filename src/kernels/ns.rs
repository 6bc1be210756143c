//! The three products of a Newton-Schulz iteration, for every matrix of every shape at once:
//!
//! ```text
//! A = X·Xᵀ            symmetric: only the tiles on or above the diagonal, mirrored
//! B = c·A·Aᵀ + b·A    symmetric (A is), fused axpby epilogue: A·A = A·Aᵀ
//! X' = B·X + a·X      fused axpby epilogue
//! ```
//!
//! Two kernel families share one problem table ([`NsProblem`]): `ns_lanes.wgsl` for CPU adapters
//! (no workgroup memory, a large register block per invocation, rows shared with
//! `subgroupBroadcast`) and `ns_tiled.wgsl` for GPUs (workgroup-memory tiling). Which one runs,
//! and with which tile, is an [`NsVariant`], chosen per adapter by [`crate::kernels::tune`].
//! Every dimension is padded to the variant's tile by the planner, so the kernels never check
//! bounds.

use super::{Dispatch, Kernels};

// Both are compiled with `ns_problems.wgsl` (the problem table, the tile lookup) in front.
pub(super) const LANES_SOURCE: &str = concat!(
    include_str!("../../shaders/ns_problems.wgsl"),
    include_str!("../../shaders/ns_lanes.wgsl")
);
pub(super) const TILED_SOURCE: &str = concat!(
    include_str!("../../shaders/ns_problems.wgsl"),
    include_str!("../../shaders/ns_tiled.wgsl")
);

/// How the Newton-Schulz products run on an adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NsVariant {
    /// `ns_lanes.wgsl`: 8 invocations per workgroup, a `rows × 8` block of C each, tile
    /// `rows × rows`; `broadcast` shares L's rows with `subgroupBroadcast` (needs subgroups of
    /// at least 8 invocations), otherwise every invocation loads them.
    Lanes { rows: u32, broadcast: bool },
    /// `ns_tiled.wgsl`: `wg × wg` invocations, tile `4·wg`, `bk` deep stages in workgroup memory.
    Tiled { wg: u32, bk: u32 },
}

impl NsVariant {
    /// Side of the square tile of C one workgroup computes; dimensions are padded to it.
    pub fn tile(self) -> u32 {
        match self {
            Self::Lanes { rows, .. } => rows,
            Self::Tiled { wg, .. } => 4 * wg,
        }
    }

    /// Whether the variant needs the `SUBGROUP` feature.
    pub fn needs_subgroups(self) -> bool {
        matches!(
            self,
            Self::Lanes {
                broadcast: true,
                ..
            }
        )
    }

    /// A short stable name (`lanes64-broadcast`, `tiled16x16`), used by the tuning cache.
    pub fn name(self) -> String {
        match self {
            Self::Lanes { rows, broadcast } => {
                format!("lanes{rows}{}", if broadcast { "-broadcast" } else { "" })
            }
            Self::Tiled { wg, bk } => format!("tiled{wg}x{bk}"),
        }
    }

    /// Every variant the crate ships.
    pub const ALL: [NsVariant; 6] = [
        Self::Lanes {
            rows: 64,
            broadcast: true,
        },
        Self::Lanes {
            rows: 32,
            broadcast: true,
        },
        Self::Lanes {
            rows: 32,
            broadcast: false,
        },
        Self::Tiled { wg: 16, bk: 16 },
        Self::Tiled { wg: 16, bk: 8 },
        Self::Tiled { wg: 8, bk: 16 },
    ];

    /// Whether the device can run this variant.
    pub fn supported(self, device: &wgpu::Device) -> bool {
        let limits = device.limits();
        match self {
            Self::Lanes { broadcast, .. } => {
                !broadcast
                    || (device.features().contains(wgpu::Features::SUBGROUP)
                        && device.adapter_info().subgroup_min_size >= 8)
            }
            Self::Tiled { wg, .. } => {
                wg * wg <= limits.max_compute_invocations_per_workgroup
                    && wg <= limits.max_compute_workgroup_size_x
                    && wg <= limits.max_compute_workgroup_size_y
                    && limits.max_compute_workgroup_storage_size >= 16384
            }
        }
    }
}

impl std::str::FromStr for NsVariant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // Any lanes tile that is a multiple of 32 up to 128, for experiments.
        let lanes = s.trim().strip_prefix("lanes").and_then(|rest| {
            let (rows, broadcast) = match rest.strip_suffix("-broadcast") {
                Some(r) => (r, true),
                None => (rest, false),
            };
            let rows: u32 = rows.parse().ok()?;
            (rows > 0 && rows <= 128 && rows.is_multiple_of(32))
                .then_some(NsVariant::Lanes { rows, broadcast })
        });
        if let Some(v) = lanes {
            return Ok(v);
        }
        NsVariant::ALL
            .into_iter()
            .find(|v| v.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<String> = NsVariant::ALL.iter().map(|v| v.name()).collect();
                format!(
                    "unknown Newton-Schulz kernel `{}` (one of: {})",
                    s.trim(),
                    names.join(", ")
                )
            })
    }
}

impl std::fmt::Display for NsVariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// One row of the problem table: `count` same-shape products, element offsets and strides in
/// the four bound buffers (all multiples of 4, dimensions multiples of the tile).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NsProblem {
    pub tiles_begin: u32,
    pub tiles_end: u32,
    pub tiles_per_matrix: u32,
    pub tiles_across: u32,
    pub k: u32,
    pub c_row: u32,
    pub use_d: u32,
    pub diag: f32,
    pub l_base: u32,
    pub l_row: u32,
    pub l_mat: u32,
    pub r_base: u32,
    pub r_row: u32,
    pub r_mat: u32,
    pub d_base: u32,
    pub d_mat: u32,
    pub c_base: u32,
    pub c_mat: u32,
    pub alpha: f32,
    pub beta: f32,
    pub _pad1: [u32; 2],
}

/// Where one operand's matrices live in its buffer: element `(i, j)` of matrix `b` is at
/// `base + b·mat + i·row + j`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Strided {
    pub base: u32,
    pub row: u32,
    pub mat: u32,
}

/// One batched product `C = α·L·op(R) + β·D` over `count` matrices, `C` being `rows × cols`
/// (both multiples of the variant's tile) with rows `cols` elements apart.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NsProduct {
    pub rows: u32,
    pub cols: u32,
    pub k: u32,
    pub count: u32,
    /// `L`, `rows × k`.
    pub left: Strided,
    /// Symmetric products: `R` stored `cols × k` (`op(R) = Rᵀ`); otherwise `k × cols`.
    pub right: Strided,
    /// `D`, laid out like `C` (`row` is ignored); `None` when β is 0.
    pub addend: Option<Strided>,
    pub result: Strided,
    pub alpha: f32,
    pub beta: f32,
    /// Added to the diagonal of `C` (symmetric products only): `a·I` of `aI + bA + cA²`.
    pub diag: f32,
}

/// The buffers of one product dispatch.
pub struct NsOperands<'a> {
    pub left: &'a wgpu::Buffer,
    pub right: &'a wgpu::Buffer,
    pub addend: &'a wgpu::Buffer,
    pub result: &'a wgpu::Buffer,
}

/// The table of a dispatch and its number of workgroups (tiles).
pub fn problem_table(products: &[NsProduct], symmetric: bool, tile: u32) -> (Vec<NsProblem>, u32) {
    let mut table = Vec::with_capacity(products.len());
    let mut begin = 0u32;
    for p in products {
        assert!(
            p.rows % tile == 0 && p.cols % tile == 0 && p.k % 4 == 0,
            "Newton-Schulz products take dimensions padded to the tile ({tile}): {p:?}"
        );
        let (across, per_matrix) = if symmetric {
            let side = p.rows / tile;
            (side, side * (side + 1) / 2)
        } else {
            (p.cols / tile, (p.rows / tile) * (p.cols / tile))
        };
        let tiles = per_matrix * p.count;
        let d = p.addend.unwrap_or_default();
        table.push(NsProblem {
            tiles_begin: begin,
            tiles_end: begin + tiles,
            tiles_per_matrix: per_matrix,
            tiles_across: across,
            k: p.k,
            c_row: p.cols,
            use_d: p.addend.is_some() as u32,
            diag: p.diag,
            l_base: p.left.base,
            l_row: p.left.row,
            l_mat: p.left.mat,
            r_base: p.right.base,
            r_row: p.right.row,
            r_mat: p.right.mat,
            d_base: d.base,
            d_mat: d.mat,
            c_base: p.result.base,
            c_mat: p.result.mat,
            alpha: p.alpha,
            beta: p.beta,
            ..Default::default()
        });
        begin += tiles;
    }
    (table, begin)
}

/// A grid of `total` workgroups, each side within `max`; kernels skip indices past `total`.
pub fn tile_grid(total: u32, max: u32) -> [u32; 3] {
    let total = total.max(1);
    let x = total.min(max);
    [x, total.div_ceil(x), 1]
}

impl Kernels {
    /// The variant the Newton-Schulz products of this [`Kernels`] use.
    pub fn ns_variant(&self) -> NsVariant {
        self.inner.variant
    }

    /// One dispatch computing every product in `products` (symmetric: `L·Rᵀ` on upper tiles,
    /// mirrored; otherwise `L·R`), with the fused `α·(…) + β·D` epilogue.
    pub fn ns_products(
        &self,
        device: &wgpu::Device,
        symmetric: bool,
        products: &[NsProduct],
        ops: NsOperands<'_>,
    ) -> Dispatch {
        let variant = self.ns_variant();
        let (table, tiles) = problem_table(products, symmetric, variant.tile());
        let table = if table.is_empty() {
            vec![NsProblem::default()]
        } else {
            table
        };
        Dispatch::with_table(
            device,
            if symmetric {
                "ns symmetric products"
            } else {
                "ns products"
            },
            &self.ns_pipeline(device, symmetric),
            bytemuck::cast_slice(&table),
            &[ops.left, ops.right, ops.addend, ops.result],
            tile_grid(tiles, self.inner.max_workgroups),
        )
    }

    fn ns_pipeline(&self, device: &wgpu::Device, symmetric: bool) -> wgpu::ComputePipeline {
        let slot = &self.inner.ns[symmetric as usize];
        slot.get_or_init(|| ns_pipeline(device, self.ns_variant(), symmetric))
            .clone()
    }
}

/// Compiles one product pipeline of a variant.
pub fn ns_pipeline(
    device: &wgpu::Device,
    variant: NsVariant,
    symmetric: bool,
) -> wgpu::ComputePipeline {
    let sym = if symmetric { 1.0 } else { 0.0 };
    match variant {
        NsVariant::Lanes { rows, broadcast } => {
            let source = lanes_source(rows, broadcast);
            super::pipeline(
                device,
                "ns_lanes",
                &source,
                &[("SYMMETRIC", sym), ("TILE", rows as f64)],
            )
        }
        NsVariant::Tiled { wg, bk } => super::pipeline(
            device,
            "ns_tiled",
            TILED_SOURCE,
            &[("SYMMETRIC", sym), ("WG", wg as f64), ("BK", bk as f64)],
        ),
    }
}

/// `ns_lanes.wgsl` with its generated regions unrolled for a `rows × rows` tile: each of the 8
/// invocations owns `rows` rows and `rows / 8` columns of C, as `rows / 32` vec4 chunks at
/// columns `4·(lane + 8·q)`.
pub fn lanes_source(rows: u32, broadcast: bool) -> String {
    assert!(rows.is_multiple_of(32), "lanes tiles are multiples of 32");
    let chunks = rows / 32;
    let rows = rows as usize;
    let chunks = chunks as usize;
    let mut setup = String::new();
    let mut body = String::new();
    let mut epilogue = String::new();
    let line = |s: &mut String, indent: usize, text: &str| {
        s.push_str(&" ".repeat(indent));
        s.push_str(text);
        s.push('\n');
    };
    for i in 0..rows {
        for q in 0..chunks {
            line(&mut setup, 4, &format!("var c{i}_{q} = vec4<f32>();"));
        }
    }
    // Row i is loaded by lane i % 8 as its row-load i / 8 (broadcast), or by every lane.
    let loads = if broadcast { rows.div_ceil(8) } else { rows };
    for r in 0..loads {
        let row = if broadcast {
            format!("row0 + {}u + lane", 8 * r)
        } else {
            format!("row0 + {r}u")
        };
        line(
            &mut setup,
            4,
            &format!("let pa{r} = (lbase + ({row}) * p.l_row) / 4u;"),
        );
    }
    for q in 0..chunks {
        for c in 0..4 {
            line(
                &mut setup,
                4,
                &format!(
                    "let pb{q}_{c} = (rbase + (col0 + 4u * (lane + {}u) + {c}u) * p.r_row) / 4u;",
                    8 * q
                ),
            );
        }
        line(
            &mut setup,
            4,
            &format!(
                "let pn{q} = (rbase + col0 + 4u * (lane + {}u)) / 4u;",
                8 * q
            ),
        );
    }
    for r in 0..loads {
        line(&mut body, 8, &format!("let a{r} = left[pa{r} + k];"));
    }
    const LANE: [&str; 4] = ["x", "y", "z", "w"];
    for q in 0..chunks {
        for kk in 0..4 {
            line(&mut body, 8, &format!("var b{q}_{kk}: vec4<f32>;"));
        }
    }
    line(&mut body, 8, "if SYMMETRIC {");
    for q in 0..chunks {
        for c in 0..4 {
            line(
                &mut body,
                12,
                &format!("let r{q}_{c} = right[pb{q}_{c} + k];"),
            );
        }
        for (kk, comp) in LANE.iter().enumerate() {
            line(
                &mut body,
                12,
                &format!(
                    "b{q}_{kk} = vec4(r{q}_0.{comp}, r{q}_1.{comp}, r{q}_2.{comp}, r{q}_3.{comp});"
                ),
            );
        }
    }
    line(&mut body, 8, "} else {");
    for q in 0..chunks {
        for kk in 0..4 {
            line(
                &mut body,
                12,
                &format!("b{q}_{kk} = right[pn{q} + (4u * k + {kk}u) * r_row4];"),
            );
        }
    }
    line(&mut body, 8, "}");
    // Row by row: the four k of the step, then each accumulator's four fmas back to back.
    for i in 0..rows {
        line(&mut body, 8, "{");
        for (kk, comp) in LANE.iter().enumerate() {
            let value = if broadcast {
                format!("subgroupBroadcast(a{}.{comp}, {}u)", i / 8, i % 8)
            } else {
                format!("a{i}.{comp}")
            };
            line(&mut body, 12, &format!("let v{kk} = vec4({value});"));
        }
        for q in 0..chunks {
            line(
                &mut body,
                12,
                &format!(
                    "c{i}_{q} = fma(v3, b{q}_3, fma(v2, b{q}_2, fma(v1, b{q}_1, fma(v0, b{q}_0, c{i}_{q}))));"
                ),
            );
        }
        line(&mut body, 8, "}");
    }
    for i in (0..rows).step_by(4) {
        for q in 0..chunks {
            line(
                &mut epilogue,
                4,
                &format!(
                    "store4(p, cbase, dbase, row0 + {i}u, col0 + 4u * (lane + {}u), c{i}_{q}, c{}_{q}, c{}_{q}, c{}_{q}, tile.mirror);",
                    8 * q,
                    i + 1,
                    i + 2,
                    i + 3
                ),
            );
        }
    }
    let mut source = replace_region(LANES_SOURCE, "setup", &setup);
    source = replace_region(&source, "body", &body);
    source = replace_region(&source, "epilogue", &epilogue);
    source
}

/// Replaces the lines between `// generate <name>` and the next `// end` with `text`.
fn replace_region(source: &str, name: &str, text: &str) -> String {
    let marker = format!("// generate {name}\n");
    let start = source
        .find(&marker)
        .unwrap_or_else(|| panic!("ns_lanes.wgsl lacks region {name}"))
        + marker.len();
    let end = start
        + source[start..]
            .find("// end\n")
            .unwrap_or_else(|| panic!("ns_lanes.wgsl region {name} is not closed"));
    // Keep the indentation of the `// end` line.
    let end = source[..end].rfind('\n').map_or(end, |i| i + 1);
    format!("{}{}{}", &source[..start], text, &source[end..])
}
