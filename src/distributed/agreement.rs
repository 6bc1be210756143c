//! What the ranks settle together when the distributed optimizer is built: that they agree
//! (fingerprints), which options they cannot share, and rank 0's kernel choice. Every error here
//! is reached by every rank at once ([`Error::Distributed`]).

use crate::error::{Error, Result};
use crate::kernels::NsVariant;
use crate::settings::{NonFinitePolicy, Settings};

use super::comm::Comm;
use super::fingerprint::{first_difference, Fingerprint};

/// Every rank's fingerprint against this rank's: an error naming the first part and rank that
/// differ (every rank sees the same table, so every rank fails together).
pub(super) fn agree(comm: &Comm, ours: &Fingerprint) -> Result<()> {
    let all = comm.all_gather("the settings check", ours.to_vec())?;
    for (rank, theirs) in all.chunks(ours.len()).enumerate() {
        let theirs: Fingerprint = theirs
            .try_into()
            .expect("chunks of the fingerprint's length");
        let first: Fingerprint = all[..ours.len()].try_into().expect("rank 0's part");
        if let Some(part) = first_difference(&first, &theirs) {
            return Err(comm.error(format!(
                "ranks disagree on the {part}: rank {rank} differs from rank 0 \
                 (every rank must register the same parameters with the same settings and data)"
            )));
        }
    }
    Ok(())
}

/// Refuses the options that need every gradient or every parameter on one rank: each rank here
/// holds only its share of the Muon matrices, so they would silently differ from one process.
/// Called once the ranks agree on the settings, so the error is every rank's
/// ([`Error::Distributed`]).
pub(super) fn refuse_unshared(comm: &Comm, settings: &Settings) -> Result<()> {
    let keras = &settings.keras;
    let (key, value, why) = if matches!(
        keras.clip,
        Some(crate::settings::keras::Clip::GlobalNorm(_))
    ) {
        ("global_clipnorm", "set", MATRICES)
    } else if keras.ema.is_some() {
        ("use_ema", "set", MATRICES)
    } else if settings.non_finite == NonFinitePolicy::SkipStep {
        let why = "each rank sees only its share of the gradients";
        ("non_finite", "skip_step", why)
    } else {
        return Ok(());
    };
    let refused = Error::InvalidHyperparameter {
        key: key.into(),
        value: value.into(),
        reason: format!("not supported by the distributed optimizer yet ({why})"),
    };
    Err(comm.error(refused.to_string()))
}

const MATRICES: &str = "each rank holds only its share of the Muon matrices";

/// Rank 0's kernel variant name, sent to every rank (padded to a fixed width).
pub(super) fn rank0_variant(comm: &Comm, mine: String) -> Result<NsVariant> {
    const WIDTH: usize = 64;
    let mut bytes = mine.into_bytes();
    bytes.resize(WIDTH, 0);
    let all = comm.all_gather("the kernel choice", bytes)?;
    let name: String = (all[..WIDTH].iter())
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    name.parse()
        .map_err(|e: String| comm.error(format!("rank 0's kernel `{name}`: {e}")))
}
