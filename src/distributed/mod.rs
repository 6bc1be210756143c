//! Muon across processes and machines over MPI (`--features mpi`), as KellerJordan's
//! distributed `Muon` / `MuonWithAuxAdam`, plus data-parallel gradient averaging.
//!
//! # Algorithm
//!
//! Every rank registers the same parameters ([`DistributedBuilder`], the same checks and routing
//! as [`OptimizerBuilder`](crate::OptimizerBuilder)). At build:
//!
//! 1. the ranks compare a [`fingerprint`] of their settings, parameters and starting values, and
//!    all fail together, naming what differs, when one disagrees;
//! 2. rank 0 picks the Newton-Schulz kernel as one process would; the others use the same;
//! 3. the optimizer's own [`Layout`](crate::optimizer::layout::Layout) of every parameter is
//!    computed on every rank, and [`assign`] gives each Muon matrix an owner: largest
//!    Newton-Schulz cost first, each to the least-loaded rank (KellerJordan's round robin when
//!    the matrices are equal);
//! 4. each rank builds an ordinary [`Optimizer`](crate::Optimizer) over the matrices it owns
//!    (momentum lives only there, as in KellerJordan's code) and every AdamW parameter.
//!
//! A step ([`DistributedOptimizer::step`]), on every rank:
//! ```text
//! [average]  G ← (Σ_ranks G) / world       one readback, MPI reduce + broadcast, one upload
//! step       this rank's Muon matrices and every AdamW parameter, one submit
//! exchange   W_owned → all ranks            one readback, MPI all-gather, one upload
//! ```
//! so every rank ends each step holding every parameter, bit for bit what one process computes
//! (the same kernels on the same kind of adapter; the Muon kernels treat each matrix alone).
//!
//! # Faults
//!
//! Every collective runs non-blocking with a deadline ([`comm`]): a rank that stops taking part
//! becomes [`Error::CollectiveTimeout`](crate::Error::CollectiveTimeout) on the ranks waiting for
//! it. Disagreeing ranks, and options the ranks cannot share, fail at build with
//! [`Error::Distributed`](crate::Error::Distributed) on every rank, and a command prints it once,
//! from rank 0 ([`finish`]). A rank that dies is seen by `mpirun` itself, which ends the job.

pub mod assign;
pub mod fingerprint;

#[cfg(all(feature = "mpi", not(target_arch = "wasm32")))]
mod agreement;
#[cfg(all(feature = "mpi", not(target_arch = "wasm32")))]
pub mod bench;
#[cfg(all(feature = "mpi", not(target_arch = "wasm32")))]
pub mod comm;
#[cfg(all(feature = "mpi", not(target_arch = "wasm32")))]
pub mod data_parallel;
#[cfg(all(feature = "mpi", not(target_arch = "wasm32")))]
mod optimizer;
#[cfg(all(feature = "mpi", not(target_arch = "wasm32")))]
pub mod replay;
#[cfg(all(feature = "mpi", not(target_arch = "wasm32")))]
mod report;

pub use assign::Assignment;
#[cfg(all(feature = "mpi", not(target_arch = "wasm32")))]
pub use comm::{launched_by_mpi, Comm};
#[cfg(all(feature = "mpi", not(target_arch = "wasm32")))]
pub use optimizer::{DistributedBuilder, DistributedOptimizer, Entry, StepTimes};
#[cfg(all(feature = "mpi", not(target_arch = "wasm32")))]
pub use report::{finish, say};
