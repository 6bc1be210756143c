//! The MPI collectives the distributed optimizer uses, each with a deadline.
//!
//! Every collective is started non-blocking (`MPI_Iallgatherv`, `MPI_Igatherv`, `MPI_Ireduce`,
//! `MPI_Ibcast`, `MPI_Ibarrier`) and completed by an `MPI_Test` loop (one helper,
//! `collective`), so a collective that never completes (a rank that left, hung, or runs another
//! program) becomes [`Error::CollectiveTimeout`] on every rank still waiting, instead of a hang. A timed-out collective cannot be cancelled: its buffers
//! are leaked to MPI, and the caller should end the job ([`Comm::abort`]).
//!
//! The raw calls are used rather than rsmpi's scoped requests because a request dropped
//! unfinished makes rsmpi abort the process, which is exactly the case a timeout must report.

use std::os::raw::c_int;
use std::time::{Duration, Instant};

use mpi::datatype::Equivalence;
use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::Communicator;

use crate::error::{Error, Result};

/// Environment variable: seconds a collective may take before it is an error (default 120).
pub const TIMEOUT_ENV: &str = "MUON_WGPU_MPI_TIMEOUT";

/// Whether this process was started by an MPI launcher (`mpirun`, `srun`, `mpiexec`).
pub fn launched_by_mpi() -> bool {
    [
        "OMPI_COMM_WORLD_SIZE",
        "PMI_SIZE",
        "PMIX_RANK",
        "MPI_LOCALNRANKS",
    ]
    .iter()
    .any(|k| std::env::var_os(k).is_some())
}

/// `MPI_COMM_WORLD` of this process, with a deadline for every collective.
pub struct Comm {
    world: mpi::topology::SimpleCommunicator,
    rank: usize,
    size: usize,
    timeout: std::cell::Cell<Duration>,
    // Dropping the universe finalizes MPI: it goes last.
    _universe: mpi::environment::Universe,
}

impl Comm {
    /// Initializes MPI (once per process). Errors come back as values, not MPI's default abort.
    pub fn init() -> Result<Self> {
        let universe = mpi::initialize().ok_or_else(|| Error::MpiCall {
            rank: 0,
            world: 0,
            what: "MPI_Init".into(),
            reason: "MPI is already initialized in this process (one Comm per process)".into(),
        })?;
        let world = universe.world();
        // SAFETY: a valid communicator and a predefined error handler.
        unsafe { ffi::MPI_Comm_set_errhandler(world.as_raw(), ffi::RSMPI_ERRORS_RETURN) };
        let timeout = match std::env::var(TIMEOUT_ENV) {
            Ok(v) => v
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| Error::InvalidHyperparameter {
                    key: TIMEOUT_ENV.into(),
                    value: v.clone(),
                    reason: "must be a positive number of seconds".into(),
                })?,
            Err(_) => Duration::from_secs(120),
        };
        Ok(Self {
            rank: world.rank() as usize,
            size: world.size() as usize,
            world,
            timeout: std::cell::Cell::new(timeout),
            _universe: universe,
        })
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// How long a collective may take.
    pub fn timeout(&self) -> Duration {
        self.timeout.get()
    }

    /// Changes how long a collective may take from now on (every rank should agree).
    pub fn set_timeout(&self, timeout: Duration) {
        self.timeout.set(timeout);
    }

    /// An error that every rank reaches together, from what they all share (e.g. disagreeing
    /// settings, seen in the table every rank gathered): [`finish`](super::finish)
    /// prints it once, from rank 0.
    pub fn error(&self, reason: String) -> Error {
        Error::Distributed {
            rank: self.rank,
            world: self.size,
            reason,
        }
    }

    /// Ends every rank of the job (`MPI_Abort`), for errors the other ranks cannot know of.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }

    /// Ends this process with `code` after finalizing MPI, as every rank does together (each
    /// must call it, as `MPI_Finalize` waits for all of them).
    pub fn exit(&self, code: i32) -> ! {
        // SAFETY: no request is active on the ways here (a timed-out one leads to `abort`).
        unsafe { ffi::MPI_Finalize() };
        std::process::exit(code)
    }

    /// An MPI call that failed on this rank alone (the others may not know of it).
    fn failed(&self, what: &str, reason: String) -> Error {
        Error::MpiCall {
            rank: self.rank,
            world: self.size,
            what: what.into(),
            reason,
        }
    }

    fn check(&self, what: &str, code: c_int) -> Result<()> {
        if code == 0 {
            Ok(())
        } else {
            Err(self.failed(what, format!("MPI error code {code}")))
        }
    }

    /// The one way a collective runs here: `start` begins it non-blocking on `MPI_COMM_WORLD`
    /// (an `MPI_I…` call that fills the request it is given) with pointers into `keep`'s heap
    /// buffers, which MPI may read and write until the request completes; then the request is
    /// tested until it is done or the deadline passes. `keep` comes back on completion and is
    /// leaked on a timeout (MPI may still write into it). Moving `keep` moves no heap buffer, so
    /// `Vec`s are what it should hold.
    fn collective<K>(
        &self,
        what: &str,
        mut keep: K,
        start: impl FnOnce(&mut K, ffi::MPI_Comm, *mut ffi::MPI_Request) -> c_int,
    ) -> Result<K> {
        let mut request = std::mem::MaybeUninit::<ffi::MPI_Request>::uninit();
        let code = start(&mut keep, self.world.as_raw(), request.as_mut_ptr());
        self.check(what, code)?;
        // SAFETY: a collective that started has filled its request.
        let mut request = unsafe { request.assume_init() };
        let begun = Instant::now();
        loop {
            let mut done: c_int = 0;
            // SAFETY: an active request from this communicator; the status is ignored.
            let code = unsafe { ffi::MPI_Test(&mut request, &mut done, ffi::RSMPI_STATUS_IGNORE) };
            self.check(what, code)?;
            if done != 0 {
                return Ok(keep);
            }
            if begun.elapsed() > self.timeout.get() {
                std::mem::forget(keep);
                return Err(Error::CollectiveTimeout {
                    rank: self.rank,
                    world: self.size,
                    what: what.into(),
                    seconds: self.timeout.get().as_secs_f64(),
                });
            }
            // Open MPI moves a large message fragment by fragment inside MPI calls only (no
            // progress thread): test again at once, as its own blocking calls poll, but let
            // other processes (a CPU adapter's threads) run first.
            std::thread::yield_now();
        }
    }

    /// `MPI_Barrier`, with the deadline: returns once every rank has reached it.
    pub fn barrier(&self, what: &str) -> Result<()> {
        // SAFETY: no buffers.
        self.collective(what, (), |_, comm, request| unsafe {
            ffi::MPI_Ibarrier(comm, request)
        })
    }

    /// `MPI_Allgatherv`: rank `r` sends `send` (`counts[r]` elements); every rank receives all of
    /// them, rank 0's first.
    pub fn all_gather_varcount<T: Equivalence + Copy + Default>(
        &self,
        what: &str,
        send: Vec<T>,
        counts: &[usize],
    ) -> Result<Vec<T>> {
        self.gather_to(None, what, send, counts)
    }

    /// Every rank's `send` (all the same length) gathered on every rank, rank 0's first.
    pub fn all_gather<T: Equivalence + Copy + Default>(
        &self,
        what: &str,
        send: Vec<T>,
    ) -> Result<Vec<T>> {
        let counts = vec![send.len(); self.size];
        self.all_gather_varcount(what, send, &counts)
    }

    /// `MPI_Gatherv` to rank 0: the concatenation there, an empty vector elsewhere.
    pub fn gather_varcount<T: Equivalence + Copy + Default>(
        &self,
        what: &str,
        send: Vec<T>,
        counts: &[usize],
    ) -> Result<Vec<T>> {
        self.gather_to(Some(0), what, send, counts)
    }

    /// `MPI_Gatherv` to `root`, or `MPI_Allgatherv` when there is none.
    fn gather_to<T: Equivalence + Copy + Default>(
        &self,
        root: Option<usize>,
        what: &str,
        send: Vec<T>,
        counts: &[usize],
    ) -> Result<Vec<T>> {
        let (counts, displs, total) = self.partition(what, counts, send.len())?;
        let receives = root.is_none_or(|r| r == self.rank);
        let recv = vec![T::default(); if receives { total } else { 0 }];
        let dtype = T::equivalent_datatype().as_raw();
        let keep = (send, recv, counts, displs);
        // SAFETY: every pointer is into `keep`, which `collective` keeps alive; the receive
        // arguments of a gather matter at its root only.
        let (_, recv, _, _) = self.collective(
            what,
            keep,
            |(send, recv, counts, displs), comm, request| unsafe {
                let (s, n, r) = (
                    send.as_ptr().cast(),
                    send.len() as c_int,
                    recv.as_mut_ptr().cast(),
                );
                let (c, d) = (counts.as_ptr(), displs.as_ptr());
                match root {
                    None => ffi::MPI_Iallgatherv(s, n, dtype, r, c, d, dtype, comm, request),
                    Some(root) => {
                        ffi::MPI_Igatherv(s, n, dtype, r, c, d, dtype, root as c_int, comm, request)
                    }
                }
            },
        )?;
        Ok(recv)
    }

    /// The element-wise sum over ranks of `data`, the same bits on every rank: `MPI_Reduce` to
    /// rank 0, then `MPI_Bcast` of its result. (An all-reduce may add in a different order on
    /// different ranks, and ranks whose gradients differ in the last bit drift apart.)
    pub fn sum_to_all<T: Equivalence + Copy + Default>(
        &self,
        what: &str,
        data: Vec<T>,
    ) -> Result<Vec<T>> {
        let n = data.len() as c_int;
        let dtype = T::equivalent_datatype().as_raw();
        let sum = vec![T::default(); data.len()];
        // SAFETY: as in `gather_to`.
        let (_, sum) = self.collective(what, (data, sum), |(data, sum), comm, request| unsafe {
            let (d, s) = (data.as_ptr().cast(), sum.as_mut_ptr().cast());
            ffi::MPI_Ireduce(d, s, n, dtype, ffi::RSMPI_SUM, 0, comm, request)
        })?;
        // SAFETY: as above.
        self.collective(what, sum, |sum, comm, request| unsafe {
            ffi::MPI_Ibcast(sum.as_mut_ptr().cast(), n, dtype, 0, comm, request)
        })
    }

    /// Counts and displacements as MPI wants them; checks this rank's own count.
    fn partition(
        &self,
        what: &str,
        counts: &[usize],
        mine: usize,
    ) -> Result<(Vec<c_int>, Vec<c_int>, usize)> {
        if counts.len() != self.size || counts[self.rank] != mine {
            return Err(self.failed(
                what,
                format!(
                    "this rank sends {mine} elements, but the plan says {counts:?} for {} ranks",
                    self.size
                ),
            ));
        }
        let total: usize = counts.iter().sum();
        if total > c_int::MAX as usize {
            let reason = format!("{total} elements exceed one MPI message");
            return Err(self.failed(what, reason));
        }
        let mut displs = Vec::with_capacity(counts.len());
        let mut at = 0;
        for &c in counts {
            displs.push(at as c_int);
            at += c;
        }
        Ok((counts.iter().map(|&c| c as c_int).collect(), displs, total))
    }
}
