//! `--distributed`: the race's Muon + AdamW run, data-parallel under `mpirun` (`--features mpi`),
//! then repeated by rank 0 alone on whole batches to compare the losses.

use muon_wgpu::nn::{MlpSpec, Split};
#[cfg(not(feature = "mpi"))]
use muon_wgpu::Error;
use muon_wgpu::GpuContext;
#[cfg(feature = "mpi")]
use {
    super::default_rates,
    muon_wgpu::nn::{self, Batch, Targets, Trainer},
    std::time::{Duration, Instant},
};

use super::Args;

/// `--distributed`: data-parallel Muon + AdamW on every rank of `mpirun` (see `src/distributed`).
#[cfg(feature = "mpi")]
pub fn run(ctx: &GpuContext, spec: &MlpSpec, data: &Split, args: &Args) -> muon_wgpu::Result<()> {
    use muon_wgpu::distributed::{data_parallel::DataParallelTrainer, Comm};
    let comm = std::rc::Rc::new(Comm::init()?);
    let (rank, world) = (comm.rank(), comm.size());
    let mut rates = default_rates(args.task).0;
    rates.muon = args.rates.muon_lr.or(rates.muon);
    rates.adam = args.rates.aux_lr.unwrap_or(rates.adam);
    let params = nn::init_params(spec, args.seed);
    let mut trainer = DataParallelTrainer::new(
        ctx,
        comm.clone(),
        spec.clone(),
        &params,
        rates.settings()?,
        nn::muon_for_hidden,
        args.batch.div_ceil(world),
    )?;
    if rank == 0 {
        let a = trainer.optimizer().assignment();
        println!(
            "{world} ranks, {} each ({}); Muon matrices per rank {:?}, Newton-Schulz load max/mean {:.2}",
            args.batch / world,
            rates.describe(),
            (0..world).map(|r| a.share(r).len()).collect::<Vec<_>>(),
            a.imbalance()
        );
    }
    let mut batches = nn::data::Batches::new(data.train.len(), args.batch, args.seed)?;
    let all: Vec<_> = (0..args.steps)
        .map(|_| data.train.gather(batches.next_indices()))
        .collect();
    let (mut losses, mut exchange, mut all_reduce) = (Vec::new(), Duration::ZERO, Duration::ZERO);
    let start = Instant::now();
    for (step, (inputs, labels)) in all.iter().enumerate() {
        let batch = Batch {
            inputs,
            targets: Targets::Labels(labels),
        };
        trainer.step(batch, labels.len())?;
        let times = trainer.optimizer().times();
        exchange += times.exchange;
        all_reduce += times.all_reduce;
        if (step + 1) % args.eval_every == 0 || step + 1 == args.steps {
            let metrics = pollster::block_on(trainer.read_metrics())?;
            losses.extend(metrics.iter().map(|m| m.loss));
            if rank == 0 {
                println!(
                    "step {:>4}  train loss {:.4}",
                    step + 1,
                    losses[losses.len() - 1]
                );
            }
        }
    }
    let wall = start.elapsed();
    if rank != 0 {
        return Ok(());
    }
    let per_step = |d: Duration| d.as_secs_f64() * 1e3 / args.steps as f64;
    println!(
        "rank 0: {:.1} ms/step, of which gradient all-reduce {:.2} ms and parameter exchange {:.2} ms",
        per_step(wall),
        per_step(all_reduce),
        per_step(exchange)
    );
    // The same run in this process alone, on whole batches.
    let options = nn::TrainerOptions {
        batch_size: args.batch,
        ..Default::default()
    };
    let mut one = Trainer::new(
        ctx,
        spec.clone(),
        &params,
        rates.settings()?,
        nn::muon_for_hidden,
        options,
    )?;
    let mut single = Vec::new();
    for (step, (inputs, labels)) in all.iter().enumerate() {
        one.step(Batch {
            inputs,
            targets: Targets::Labels(labels),
        })?;
        // The trainer keeps the last 4096 steps' metrics: read well before they wrap.
        if (step + 1) % 1000 == 0 {
            single.extend(
                pollster::block_on(one.read_metrics())?
                    .iter()
                    .map(|m| m.loss),
            );
        }
    }
    single.extend(
        pollster::block_on(one.read_metrics())?
            .iter()
            .map(|m| m.loss),
    );
    let relative: Vec<f64> = (losses.iter().zip(&single))
        .map(|(a, b)| (a - b).abs() / b.abs())
        .collect();
    let agree = relative.iter().take_while(|&&r| r <= 1e-4).count();
    println!(
        "one process on whole batches: final train loss {:.4} against {:.4}; losses within 1e-4 \
         relative for the first {agree} of {} steps (worst there {:.1e}), worst over all {:.1e} \
         (f32 rounding differences grow through training)",
        single[single.len() - 1],
        losses[losses.len() - 1],
        single.len(),
        relative[..agree].iter().cloned().fold(0.0, f64::max),
        relative.iter().cloned().fold(0.0, f64::max),
    );
    Ok(())
}

#[cfg(not(feature = "mpi"))]
pub fn run(_: &GpuContext, _: &MlpSpec, _: &Split, _: &Args) -> muon_wgpu::Result<()> {
    Err(Error::InvalidHyperparameter {
        key: "distributed".into(),
        value: "true".into(),
        reason: "this build has no MPI: build with `--features mpi` and run under mpirun".into(),
    })
}
