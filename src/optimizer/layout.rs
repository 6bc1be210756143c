//! Where everything of a step goes, computed once from the parameters' shapes and routes: pure
//! arithmetic, no GPU.
//!
//! - Muon: same-shape parameters of a group form a batch (one dispatch per kernel), split so
//!   each buffer fits one binding; batches form waves whose Newton-Schulz workspaces fit one
//!   binding; each batch gets a place in its wave's workspace, its `min × max` view padded to
//!   the kernel tile.
//! - AdamW: each group's host-owned parameters are packed into arenas of at most one binding.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::settings::{Group, Settings};

/// Arena slots start on 256-byte boundaries so callers can bind one parameter on its own.
pub const ARENA_ALIGN: usize = 64;

/// What the layout needs to know of a registered parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub len: usize,
    pub group: Group,
    /// Registered from host data (the optimizer owns its buffers), else the caller's buffers.
    pub hosted: bool,
}

/// Same-shape Muon parameters of one group, run by one dispatch per kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct MuonBatch {
    pub group: usize,
    pub rows: usize,
    pub cols: usize,
    /// The shape scale `s(rows, cols)` of the update (see [`crate::settings::AdjustLr`]).
    pub scale: f64,
    /// Parameter indices, host-owned first: those share one arena and one dispatch.
    pub members: Vec<usize>,
    pub hosted: usize,
    /// The Newton-Schulz view `(min, max)` of the matrix, padded to the kernel tile.
    pub padded: (usize, usize),
    /// Element offsets of the batch's `X` and square scratch in its wave's workspace.
    pub place: (u32, u32),
    /// Whether the batch runs the Gram form of Newton-Schulz.
    pub gram: bool,
    /// Matrices per parameter (batch slices of its dimension numbers; 1 for the usual view).
    pub slices: usize,
    /// The map of the general kernels (`momentum_nd`, `muon_update_nd`), when the group's
    /// options or the parameter's dimension numbers need them.
    pub map: Option<crate::settings::optax::MatrixMap>,
}

impl MuonBatch {
    /// Parameters in the batch.
    pub fn count(&self) -> usize {
        self.members.len()
    }

    /// Matrices in the batch: every slice of every parameter.
    pub fn matrices(&self) -> usize {
        self.members.len() * self.slices
    }

    /// Elements of one parameter.
    pub fn param_len(&self) -> usize {
        self.rows * self.cols * self.slices
    }

    /// Elements between host-owned matrices in the batch's arena.
    pub fn arena_stride(&self) -> usize {
        self.param_len().next_multiple_of(ARENA_ALIGN)
    }

    /// Elements of `X` (all matrices, padded) and of the square scratch the batch uses.
    pub fn workspace_len(&self) -> (usize, usize) {
        let (m, n) = self.padded;
        (self.matrices() * m * n, self.matrices() * m * m)
    }
}

/// Batches whose Newton-Schulz products share dispatches and the workspace.
#[derive(Clone, Debug, PartialEq)]
pub struct Wave {
    pub batches: Vec<usize>,
    /// Elements of `X` the wave uses (a multiple of 4: padded views).
    pub x_len: usize,
}

/// Host-owned AdamW parameters packed into one set of buffers: `(parameter, element offset)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Arena {
    pub members: Vec<(usize, usize)>,
    pub len: usize,
}

/// One AdamW group: its arenas, then the parameters in the caller's buffers.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct AdamGroup {
    pub arenas: Vec<Arena>,
    pub external: Vec<usize>,
}

/// The whole layout of a step.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub batches: Vec<MuonBatch>,
    pub waves: Vec<Wave>,
    /// Elements of the workspace's `X` buffers and of each square buffer (the largest wave's).
    pub x_len: usize,
    pub square_len: usize,
    /// Whether any batch runs the Gram form (it needs four more square buffers).
    pub gram: bool,
    pub adam: Vec<AdamGroup>,
}

/// Whether a `rows × cols` matrix can run the Gram form of Newton-Schulz: when its view is at
/// least twice as wide as tall, where it does less than two thirds of the work of the usual form.
pub fn suits_gram_iteration(rows: usize, cols: usize) -> bool {
    rows.max(cols) >= 2 * rows.min(cols)
}

/// The Newton-Schulz view of a `rows × cols` matrix (`min × max`), padded to the tile.
pub fn padded_view(rows: usize, cols: usize, tile: u32) -> (usize, usize) {
    let tile = tile as usize;
    (
        rows.min(cols).next_multiple_of(tile),
        rows.max(cols).next_multiple_of(tile),
    )
}

/// The limits a layout must respect.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Newton-Schulz kernel tile: padded dimensions are multiples of it.
    pub tile: u32,
    /// Bytes of one binding (and one buffer).
    pub binding: u64,
    /// Whether wide matrices may run the Gram form.
    pub gram_form: bool,
}

impl Layout {
    /// Lays out these parameters, routed and validated by the builder.
    pub fn new(params: &[ParamSpec], settings: &Settings, limits: Limits) -> Result<Self> {
        let mut batches = muon_batches(params, settings, limits)?;
        let waves = waves(&mut batches, limits.binding);
        let x_len = waves.iter().map(|w| w.x_len).max().unwrap_or(0);
        let square_len = waves
            .iter()
            .map(|w| {
                w.batches
                    .iter()
                    .map(|&b| batches[b].workspace_len().1)
                    .sum()
            })
            .max()
            .unwrap_or(0);
        let adam = (0..settings.adam.len())
            .map(|g| adam_group(params, g, limits.binding))
            .collect::<Result<_>>()?;
        Ok(Self {
            gram: batches.iter().any(|b| b.gram),
            batches,
            waves,
            x_len,
            square_len,
            adam,
        })
    }
}

fn too_large(what: String, bytes: u64, limit: u64) -> Error {
    Error::TooLarge { what, bytes, limit }
}

/// Same-shape Muon parameters of one group, split so every buffer (padded workspace included)
/// fits one binding.
fn muon_batches(
    params: &[ParamSpec],
    settings: &Settings,
    limits: Limits,
) -> Result<Vec<MuonBatch>> {
    let mut batches: Vec<MuonBatch> = Vec::new();
    type Key = (
        usize,
        usize,
        usize,
        u64,
        Option<crate::settings::optax::MatrixMap>,
    );
    let mut open: HashMap<Key, usize> = HashMap::new();
    for (i, p) in params.iter().enumerate() {
        let Group::Muon(group) = p.group else {
            continue;
        };
        let cfg = &settings.muon[group];
        let map = cfg.matrix_map(&p.name, &p.shape)?;
        let (rows, cols) = (map.rows, map.cols);
        let slices = map.slices;
        let padded = padded_view(rows, cols, limits.tile);
        let slot = (p
            .len
            .next_multiple_of(ARENA_ALIGN)
            .max(slices * padded.0 * padded.1)
            * 4) as u64;
        if slot > limits.binding {
            return Err(too_large(
                format!("Muon parameter `{}`", p.name),
                slot,
                limits.binding,
            ));
        }
        let max_count = (limits.binding / slot) as usize;
        // Same view but another shape scale (KellerJordan's conv rule) cannot share a batch.
        let scale = cfg.shape_scale_of(&map);
        let general = cfg.needs_general_kernels(&map).then_some(map);
        let key = (group, rows, cols, scale.to_bits(), general.clone());
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
                    hosted: 0,
                    padded,
                    place: (0, 0),
                    gram: limits.gram_form && suits_gram_iteration(rows, cols),
                    slices,
                    map: general,
                });
            }
        }
    }
    for b in &mut batches {
        b.members.sort_by_key(|&i| !params[i].hosted);
        b.hosted = b.members.iter().filter(|&&i| params[i].hosted).count();
    }
    Ok(batches)
}

/// Batches grouped into waves whose workspaces fit one binding each (every product of a
/// Newton-Schulz iteration is one dispatch per wave, whatever the number of shapes), and each
/// batch's place in its wave's workspace. Waves run one after another and share the buffers.
fn waves(batches: &mut [MuonBatch], binding: u64) -> Vec<Wave> {
    let mut waves: Vec<Wave> = Vec::new();
    let (mut x_len, mut a_len) = (0u64, 0u64);
    for (i, b) in batches.iter_mut().enumerate() {
        let (x, a) = b.workspace_len();
        let (x, a) = (x as u64, a as u64);
        let fits = (x_len + x) * 4 <= binding && (a_len + a) * 4 <= binding;
        if waves.is_empty() || !fits {
            waves.push(Wave {
                batches: Vec::new(),
                x_len: 0,
            });
            (x_len, a_len) = (0, 0);
        }
        b.place = (x_len as u32, a_len as u32);
        x_len += x;
        a_len += a;
        if let Some(w) = waves.last_mut() {
            w.batches.push(i);
            w.x_len = x_len as usize;
        }
    }
    waves
}

/// The arenas and external parameters of AdamW group `group`.
fn adam_group(params: &[ParamSpec], group: usize, binding: u64) -> Result<AdamGroup> {
    let mut out = AdamGroup::default();
    let mut arena = Arena {
        members: Vec::new(),
        len: 0,
    };
    for (i, p) in params.iter().enumerate() {
        if p.group != Group::AdamW(group) {
            continue;
        }
        if !p.hosted {
            out.external.push(i);
            continue;
        }
        let len = p.len.next_multiple_of(ARENA_ALIGN);
        if len as u64 * 4 > binding {
            return Err(too_large(
                format!("AdamW parameter `{}`", p.name),
                len as u64 * 4,
                binding,
            ));
        }
        if (arena.len + len) as u64 * 4 > binding {
            let full = std::mem::replace(
                &mut arena,
                Arena {
                    members: Vec::new(),
                    len: 0,
                },
            );
            out.arenas.push(full);
        }
        arena.members.push((i, arena.len));
        arena.len += len;
    }
    if !arena.members.is_empty() {
        out.arenas.push(arena);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
