//! How a command under mpirun ends and prints: every report is one line written at once, and
//! an error the ranks share is printed once.

use crate::error::{Error, Result};

use super::Comm;

/// Ends a command under mpirun: returns on success; on an error, reports it and ends this
/// process. An error every rank reached together ([`Error::Distributed`]) is printed once, by
/// rank 0, and no rank leaves before rank 0 has printed it (a barrier, with the collectives'
/// deadline), because `mpirun` ends the whole job when the first rank exits. Any other error is
/// this rank's alone: it is printed and ends the job (`MPI_Abort`), since the other ranks would
/// otherwise wait for this one.
pub fn finish(comm: &Comm, result: Result<()>) {
    let Err(e) = result else { return };
    let line = match e {
        Error::Distributed { .. } | Error::MpiCall { .. } | Error::CollectiveTimeout { .. } => {
            format!("error: {e}")
        }
        _ => format!("error: MPI rank {} of {}: {e}", comm.rank(), comm.size()),
    };
    if matches!(e, Error::Distributed { .. }) {
        if comm.rank() == 0 {
            say(&line);
        }
        if comm.barrier("the error report").is_ok() {
            comm.exit(1);
        }
        // Not every rank reached it after all: report it here too.
        if comm.rank() == 0 {
            comm.abort(1);
        }
    }
    say(&line);
    comm.abort(1)
}

/// Prints `line` to stderr in one write, so that the lines of ranks printing at once (all
/// forwarded by `mpirun` to one stream) never interleave within a line.
pub fn say(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}
