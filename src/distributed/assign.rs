//! Which rank orthogonalizes which Muon matrix: pure arithmetic on the optimizer's
//! [`Layout`](crate::optimizer::layout::Layout), no MPI.
//!
//! KellerJordan's `MuonWithAuxAdam` sorts the Muon parameters by size, largest first, and in each
//! group of `world_size` consecutive parameters rank `r` takes parameter `base + r` (round robin).
//! We assign the same way but size-balanced: matrices are taken largest Newton-Schulz cost first
//! (ties in layout order: batch by batch, members in order) and each goes to the rank with the
//! least cost so far (lowest rank on ties). When all matrices cost the same this is exactly
//! KellerJordan's round robin; when they differ it is the longest-processing-time rule, whose most
//! loaded rank carries at most `4/3` of the optimum (Graham 1969), where round robin can be off
//! by the ratio of the largest to the smallest matrix. Same-shape matrices stay batched on each
//! rank (one dispatch per kernel for a rank's share of a shape).

use crate::optimizer::layout::{Layout, ParamSpec};
use crate::settings::Group;

/// Newton-Schulz floating-point operations of one iteration on a `rows × cols` matrix, the
/// textbook way for its `m × n` view (`m ≤ n`): `A = XXᵀ` (`2m²n`), `A²` (`2m³`), `B·X` (`2m²n`).
pub fn ns_cost(rows: usize, cols: usize) -> f64 {
    let (m, n) = (rows.min(cols) as f64, rows.max(cols) as f64);
    4.0 * m * m * n + 2.0 * m * m * m
}

/// The owner of every Muon matrix, and what each rank carries.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    /// Per registered parameter: `Some(rank)` for a Muon matrix, `None` for AdamW (every rank
    /// updates AdamW parameters itself).
    pub owner: Vec<Option<usize>>,
    /// Newton-Schulz cost of each rank's share ([`ns_cost`] summed).
    pub load: Vec<f64>,
    /// Elements of each rank's share: what it sends in the exchange.
    pub elements: Vec<usize>,
}

impl Assignment {
    /// Spreads the layout's Muon matrices over `world` ranks (see the module documentation).
    pub fn new(params: &[ParamSpec], layout: &Layout, world: usize) -> Self {
        let world = world.max(1);
        let mut matrices: Vec<(f64, usize)> = Vec::new();
        for b in &layout.batches {
            let cost = ns_cost(b.rows, b.cols);
            matrices.extend(b.members.iter().map(|&i| (cost, i)));
        }
        // Stable: equal costs keep layout order.
        matrices.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut owner = vec![None; params.len()];
        let mut load = vec![0.0f64; world];
        let mut elements = vec![0; world];
        for (cost, i) in matrices {
            let rank = (0..world)
                .min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b)))
                .unwrap_or(0);
            owner[i] = Some(rank);
            load[rank] += cost;
            elements[rank] += params[i].len;
        }
        debug_assert!(params
            .iter()
            .zip(&owner)
            .all(|(p, o)| o.is_some() == matches!(p.group, Group::Muon(_))));
        Self {
            owner,
            load,
            elements,
        }
    }

    /// Ranks in the assignment.
    pub fn world(&self) -> usize {
        self.load.len()
    }

    /// The Muon parameters rank `rank` owns, in registration order.
    pub fn share(&self, rank: usize) -> Vec<usize> {
        (self.owner.iter().enumerate())
            .filter(|(_, o)| **o == Some(rank))
            .map(|(i, _)| i)
            .collect()
    }

    /// The most loaded rank's cost over the mean (1 is perfect balance; 0 without Muon).
    pub fn imbalance(&self) -> f64 {
        let total: f64 = self.load.iter().sum();
        if total == 0.0 {
            return 0.0;
        }
        let max = self.load.iter().cloned().fold(0.0, f64::max);
        max / (total / self.world() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizer::layout::Limits;
    use crate::settings::presets::{Overrides, Preset};

    fn layout(shapes: &[&[usize]]) -> (Vec<ParamSpec>, Layout) {
        let settings = Preset::Torch.settings(&Overrides::default()).unwrap();
        let specs: Vec<ParamSpec> = (shapes.iter().enumerate())
            .map(|(i, s)| ParamSpec {
                name: format!("p{i}"),
                shape: s.to_vec(),
                len: s.iter().product(),
                group: if s.len() == 2 {
                    Group::Muon(0)
                } else {
                    Group::AdamW(0)
                },
                hosted: true,
            })
            .collect();
        let limits = Limits {
            tile: 4,
            binding: 1 << 27,
            gram_form: true,
        };
        let layout = Layout::new(&specs, &settings, limits).unwrap();
        (specs, layout)
    }

    #[test]
    fn equal_matrices_go_round_robin_as_keller_jordan_assigns_them() {
        let (specs, l) = layout(&[&[8, 8], &[8, 8], &[8], &[8, 8], &[8, 8], &[8, 8]]);
        let a = Assignment::new(&specs, &l, 2);
        assert_eq!(
            a.owner,
            vec![Some(0), Some(1), None, Some(0), Some(1), Some(0)]
        );
        assert_eq!(a.share(0), vec![0, 3, 5]);
        assert_eq!(a.elements, vec![192, 128]);
        assert!((a.imbalance() - 1.2).abs() < 1e-12);
    }

    #[test]
    fn largest_first_balances_mixed_sizes() {
        // One 64×64 costs as much as eight 32×32: round robin in size order would give rank 0
        // the large one and half the small ones.
        let mut shapes: Vec<&[usize]> = vec![&[64, 64]];
        shapes.extend(std::iter::repeat_n(&[32usize, 32][..], 8));
        let (specs, l) = layout(&shapes);
        let a = Assignment::new(&specs, &l, 2);
        assert_eq!(a.share(0), vec![0]);
        assert_eq!(a.share(1).len(), 8);
        assert!((a.imbalance() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn more_ranks_than_matrices_leaves_ranks_idle() {
        let (specs, l) = layout(&[&[4, 6], &[3]]);
        let a = Assignment::new(&specs, &l, 3);
        assert_eq!(a.owner, vec![Some(0), None]);
        assert_eq!(a.share(1), Vec::<usize>::new());
        assert_eq!(a.elements, vec![24, 0, 0]);
        assert!((a.imbalance() - 3.0).abs() < 1e-12);
    }
}
