//! Data-parallel training of an [`Mlp`] over MPI: every rank holds the whole network, trains on
//! its shard of every batch, and the [`DistributedOptimizer`] averages the gradients over the
//! ranks before each step (then each rank orthogonalizes its share of the Muon matrices and the
//! updated matrices are exchanged). With shards of equal size the averaged gradient is the
//! whole batch's mean gradient, so the run follows a one-process run on the whole batch up to
//! f32 summation order.

use std::ops::Range;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::nn::{Batch, LayerParams, Metrics, Mlp, MlpSpec, ParamRole, Plan};
use crate::settings::{Route, Settings};

use super::fingerprint::Fnv;
use super::{Comm, DistributedBuilder, DistributedOptimizer};

/// Rank `rank`'s rows of a batch of `rows` split over `world` ranks (contiguous, in rank order).
pub fn shard(rank: usize, world: usize, rows: usize) -> Range<usize> {
    let world = world.max(1);
    rank * rows / world..(rank + 1) * rows / world
}

/// An MLP trained data-parallel: the network on every rank, the optimizer distributed.
pub struct DataParallelTrainer {
    mlp: Mlp,
    optimizer: DistributedOptimizer,
    train: Plan,
}

impl DataParallelTrainer {
    /// Uploads `params` (every rank must pass the same: checked), registers the parameters with
    /// a distributed optimizer of `settings` routed by `route`, gradients averaged, and records
    /// the training plan for shards of up to `shard_rows` rows. Collective.
    pub fn new(
        ctx: &GpuContext,
        comm: Rc<Comm>,
        spec: MlpSpec,
        params: &[LayerParams],
        settings: Settings,
        route: impl Fn(&ParamRole) -> Route,
        shard_rows: usize,
    ) -> Result<Self> {
        let mlp = Mlp::new(ctx, spec, params)?;
        let mut builder = DistributedBuilder::new(ctx, settings, comm)?;
        mlp.register(builder.registry(), route)?;
        // The network's buffers are registered in place, so the starting values are checked here.
        let mut hash = Fnv::default();
        for p in params {
            hash.bytes(bytemuck::cast_slice(&p.weight))
                .bytes(bytemuck::cast_slice(&p.bias));
        }
        builder
            .agree_on(&format!("initial network {:016x}", hash.finish()))
            .average_gradients(true);
        let optimizer = builder.build()?;
        let train = mlp.plan(shard_rows, true, 4096)?;
        Ok(Self {
            mlp,
            optimizer,
            train,
        })
    }

    pub fn mlp(&self) -> &Mlp {
        &self.mlp
    }

    pub fn optimizer(&self) -> &DistributedOptimizer {
        &self.optimizer
    }

    pub fn optimizer_mut(&mut self) -> &mut DistributedOptimizer {
        &mut self.optimizer
    }

    /// One step on the whole `batch` of `rows` rows (every rank passes the same batch and keeps
    /// its [`shard`]): forward and backward on the shard, gradients averaged, the distributed
    /// optimizer step. The rows must split evenly over the ranks, so that the mean of the
    /// shards' mean gradients is the batch's. Collective; waits for the GPU.
    pub fn step(&mut self, batch: Batch<'_>, rows: usize) -> Result<()> {
        let comm = self.optimizer.comm();
        let (rank, world) = (comm.rank(), comm.size());
        if !rows.is_multiple_of(world) {
            return Err(Error::InvalidHyperparameter {
                key: "batch".into(),
                value: rows.to_string(),
                reason: format!("must be a multiple of the {world} ranks (equal shards)"),
            });
        }
        let spec = self.mlp.spec();
        let (features, classes) = (spec.inputs(), spec.outputs());
        let r = shard(rank, world, rows);
        let targets = match batch.targets {
            crate::nn::Targets::Labels(l) => crate::nn::Targets::Labels(&l[r.clone()]),
            crate::nn::Targets::Values(v) => {
                crate::nn::Targets::Values(&v[r.start * classes..r.end * classes])
            }
        };
        let mine = Batch {
            inputs: &batch.inputs[r.start * features..r.end * features],
            targets,
        };
        let ctx = self.mlp.context().clone();
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        self.train.record(&ctx, &mut encoder, &mine)?;
        ctx.queue.submit([encoder.finish()]);
        self.optimizer.step()
    }

    /// The training metrics of every batch since the last call, over the whole batch (every
    /// rank's shard): one entry per step, the same on every rank. Collective.
    pub async fn read_metrics(&mut self) -> Result<Vec<Metrics>> {
        let ctx = self.mlp.context().clone();
        let mine = self.train.read_history(&ctx).await?;
        let sums: Vec<f64> = (mine.iter())
            .flat_map(|m| {
                let n = m.samples as f64;
                [m.loss * n, m.accuracy * n, n]
            })
            .collect();
        let total = self.optimizer.comm().sum_to_all("the metrics", sums)?;
        Ok(total
            .chunks_exact(3)
            .map(|s| Metrics::from_sums(s[0], s[1], s[2].round() as usize))
            .collect())
    }

    /// Every layer's parameters on this rank (the same on every rank after a step).
    pub async fn read_params(&self) -> Result<Vec<LayerParams>> {
        self.mlp.read_params().await
    }
}

#[cfg(test)]
mod tests {
    use super::shard;

    #[test]
    fn shards_cover_the_batch_in_rank_order() {
        assert_eq!(shard(0, 2, 64), 0..32);
        assert_eq!(shard(1, 2, 64), 32..64);
        assert_eq!(shard(2, 3, 10), 6..10);
        assert_eq!(shard(0, 1, 7), 0..7);
    }
}
