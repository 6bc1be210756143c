//! `mpirun -np N muon-wgpu bench …`: whole distributed steps timed on every rank, with the time
//! spent averaging gradients (the data-parallel all-reduce) and exchanging the updated matrices,
//! the bytes each rank moves per step, and the step time those bytes would cost over a network.
//!
//! Every shape is a Muon parameter with a random gradient (fixed seed, the same on every rank);
//! gradients are averaged every step, as in data-parallel training. A step is
//! [`DistributedOptimizer::step`](super::DistributedOptimizer::step): all-reduce, this rank's
//! share of the optimizer step, exchange; it waits for the GPU and for the other ranks.

use std::rc::Rc;
use std::time::Instant;

use crate::bench::{ns_gflop, shape_name, BenchOptions, Spread};
use crate::error::Result;
use crate::gpu::GpuContext;
use crate::nn::Rng;
use crate::optimizer::Source;
use crate::{Overrides, Route};

use super::{finish, Comm, DistributedBuilder};

/// Link speeds of the network estimate, in Gbit/s.
pub const LINKS_GBIT: [f64; 2] = [10.0, 100.0];

/// What rank 0 measured, medians over the timed steps, in milliseconds.
#[derive(Clone, Debug, Default)]
pub struct DistributedBenchReport {
    pub ranks: usize,
    pub adapter: String,
    pub shapes: String,
    pub params: u64,
    pub gflop: f64,
    pub steps: usize,
    pub warmup: usize,
    pub matrices_per_rank: Vec<usize>,
    pub imbalance: f64,
    pub step: Spread,
    pub compute: f64,
    pub all_reduce: f64,
    pub all_reduce_mpi: f64,
    pub exchange: f64,
    pub exchange_mpi: f64,
    /// Bytes a rank receives per step in the exchange (ring lower bound `(N−1)/N · M`).
    pub exchange_bytes: f64,
    /// Bytes a rank sends and receives per step in the gradient average (`2 · (N−1)/N · G`, a
    /// ring all-reduce; our reduce + broadcast moves up to `2G` through rank 0).
    pub all_reduce_bytes: f64,
}

impl DistributedBenchReport {
    /// The step time over links of `gbit` Gbit/s: the measured step without its MPI time, plus
    /// the bytes on the wire at that speed (bandwidth only: latency and congestion are not
    /// modelled; loopback MPI time also held the wait for the slowest rank).
    pub fn estimate_ms(&self, gbit: f64) -> f64 {
        let local = self.step.median - self.all_reduce_mpi - self.exchange_mpi;
        let wire = (self.exchange_bytes + self.all_reduce_bytes) * 8.0 / (gbit * 1e9) * 1e3;
        local.max(0.0) + wire
    }

    pub fn table(&self) -> String {
        let mib = |b: f64| b / (1 << 20) as f64;
        let mut out = String::new();
        let mut row = |k: &str, v: String| out.push_str(&format!("{k:<14} {v}\n"));
        row(
            "ranks",
            format!(
                "{} (Muon matrices per rank {:?}; Newton-Schulz load max/mean {:.2})",
                self.ranks, self.matrices_per_rank, self.imbalance
            ),
        );
        row("adapter", self.adapter.clone());
        row("shapes", self.shapes.clone());
        row(
            "params",
            format!(
                "{} ({:.1} GFLOP of Newton-Schulz per step in all)",
                self.params, self.gflop
            ),
        );
        row(
            "steps",
            format!(
                "{} timed after {} warm-up, gradients averaged every step",
                self.steps, self.warmup
            ),
        );
        row(
            "step time",
            format!(
                "{:.2} ms median (min {:.2}, max {:.2}), rank 0",
                self.step.median, self.step.min, self.step.max
            ),
        );
        row(
            "local step",
            format!("{:.2} ms (this rank's share, submit to idle)", self.compute),
        );
        row(
            "all-reduce",
            format!(
                "{:.2} ms, of which MPI {:.2} ms (readback, reduce + broadcast, upload)",
                self.all_reduce, self.all_reduce_mpi
            ),
        );
        row(
            "exchange",
            format!(
                "{:.2} ms, of which MPI {:.2} ms (readback, all-gather, upload)",
                self.exchange, self.exchange_mpi
            ),
        );
        row(
            "bytes/rank",
            format!(
                "exchange {:.2} MiB, all-reduce {:.2} MiB per step",
                mib(self.exchange_bytes),
                mib(self.all_reduce_bytes)
            ),
        );
        row(
            "network est.",
            LINKS_GBIT
                .iter()
                .map(|&g| format!("{:.1} ms/step at {g} Gbit/s", self.estimate_ms(g)))
                .collect::<Vec<_>>()
                .join(", "),
        );
        out
    }
}

/// Runs the bench on every rank; the report on rank 0 (`None` elsewhere). Collective.
pub fn run(opts: &BenchOptions, comm: Rc<Comm>) -> Result<Option<DistributedBenchReport>> {
    let ctx = pollster::block_on(GpuContext::new(opts.backend))?;
    let settings = opts.preset.settings(&Overrides {
        ns_steps: Some(opts.ns_steps),
        ..Default::default()
    })?;
    let mut builder = DistributedBuilder::new(&ctx, settings, comm.clone())?;
    if let Some(v) = opts.ns_variant {
        builder.ns_variant(v);
    }
    builder.gram_form(opts.gram_form).average_gradients(true);
    let mut rng = Rng::new(0);
    let mut data = |len: usize, scale: f64| -> Vec<f32> {
        (0..len)
            .map(|_| (rng.uniform(-scale, scale)) as f32)
            .collect()
    };
    let lens: Vec<usize> = (opts.shapes.iter()).map(|s| s.iter().product()).collect();
    for (i, (shape, &len)) in opts.shapes.iter().zip(&lens).enumerate() {
        let init = data(len, 0.02);
        builder.add(&format!("p{i}"), shape, Source::Host(&init), Route::Muon(0))?;
    }
    let mut opt = builder.build()?;
    let grads: Vec<Vec<f32>> = lens.iter().map(|&len| data(len, 1.0)).collect();
    let mut steps = Vec::new();
    let mut parts = Vec::new();
    for k in 0..opts.warmup + opts.steps {
        for (i, g) in grads.iter().enumerate() {
            opt.write_gradient(&format!("p{i}"), g)?;
        }
        let start = Instant::now();
        opt.step()?;
        if k >= opts.warmup {
            steps.push(start.elapsed().as_secs_f64() * 1e3);
            parts.push(opt.times());
        }
    }
    if comm.rank() != 0 {
        return Ok(None);
    }
    let median = |f: &dyn Fn(&super::StepTimes) -> std::time::Duration| {
        Spread::of(
            &parts
                .iter()
                .map(|t| f(t).as_secs_f64() * 1e3)
                .collect::<Vec<_>>(),
        )
        .median
    };
    let n = comm.size() as f64;
    let bytes: f64 = lens.iter().sum::<usize>() as f64 * 4.0;
    let a = opt.assignment();
    let mut shapes: Vec<String> = Vec::new();
    for s in &opts.shapes {
        let name = shape_name(s);
        if !shapes.contains(&name) {
            shapes.push(name);
        }
    }
    Ok(Some(DistributedBenchReport {
        ranks: comm.size(),
        adapter: ctx.describe(),
        shapes: format!("{} matrices: {}", opts.shapes.len(), shapes.join(", ")),
        params: lens.iter().sum::<usize>() as u64,
        gflop: ns_gflop(&opts.shapes, opts.ns_steps),
        steps: opts.steps,
        warmup: opts.warmup,
        matrices_per_rank: (0..comm.size()).map(|r| a.share(r).len()).collect(),
        imbalance: a.imbalance(),
        step: Spread::of(&steps),
        compute: median(&|t| t.compute),
        all_reduce: median(&|t| t.all_reduce),
        all_reduce_mpi: median(&|t| t.all_reduce_mpi),
        exchange: median(&|t| t.exchange),
        exchange_mpi: median(&|t| t.exchange_mpi),
        exchange_bytes: bytes * (n - 1.0) / n,
        all_reduce_bytes: 2.0 * bytes * (n - 1.0) / n,
    }))
}

/// The `bench` command under an MPI launcher: rank 0 prints the table.
pub fn run_command(opts: &BenchOptions) -> Result<()> {
    let comm = Rc::new(Comm::init()?);
    let result = run(opts, comm.clone()).map(|report| {
        if let Some(r) = report {
            print!("{}", r.table());
        }
    });
    finish(&comm, result);
    Ok(())
}
