//! `mpirun -np N muon-wgpu replay CASE -o OUT`: a replay case ([`crate::io::replay`]) on N ranks;
//! rank 0 writes the output, which equals one process's.

use std::rc::Rc;

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::io::replay::Case;
use crate::io::tensors::Tensor;
use crate::optimizer::Source;

use super::{finish, say, Comm, DistributedBuilder};

/// Replays `case` on every rank of `comm`: every parameter and state tensor after the last step
/// on rank 0 (`None` on the others). Collective.
pub async fn run_case(
    case: &Case,
    ctx: &GpuContext,
    comm: Rc<Comm>,
) -> Result<Option<Vec<Tensor>>> {
    let mut builder = DistributedBuilder::new(ctx, case.settings()?, comm)?;
    for (name, shape, values) in &case.params {
        builder.add(name, shape, Source::Host(values), case.route(name))?;
    }
    let mut opt = builder.build()?;
    for grads in case.grads.iter().take(case.steps) {
        for (name, _, _) in &case.params {
            opt.write_gradient(name, &grads[name])?;
        }
        opt.step()?;
    }
    opt.read_all().await
}

/// The `replay` command under an MPI launcher: every rank replays, rank 0 writes `output`.
/// An error is reported and ends the job ([`finish`]).
pub fn run_command(
    path: &std::path::Path,
    overrides: &[(String, String)],
    backend: &str,
    output: &std::path::Path,
) -> Result<()> {
    let comm = Rc::new(Comm::init()?);
    let result = (|| {
        let case = Case::read(path, overrides)?;
        let ctx = pollster::block_on(GpuContext::new(backend.parse()?))?;
        let tensors = pollster::block_on(run_case(&case, &ctx, comm.clone()))?;
        if let Some(tensors) = tensors {
            crate::io::tensors::write_file(output, &tensors, case.output_metadata(&ctx))?;
            say(&format!(
                "replayed {} steps of {} parameters ({} preset) on {} ranks, rank 0 on {} -> {}",
                case.steps,
                case.params.len(),
                case.preset,
                comm.size(),
                ctx.describe(),
                output.display()
            ));
        }
        Ok(())
    })();
    finish(&comm, result);
    Ok(())
}
