//! The GPU context of an example, and its exit status.

use std::process::ExitCode;

use muon_wgpu::{BackendChoice, Error, GpuContext};

/// The context of `MUON_WGPU_BACKEND` (else any backend); where none can be made, the error and
/// how to get an adapter on stderr, and exit status 2.
pub fn context() -> Result<GpuContext, ExitCode> {
    match pollster::block_on(GpuContext::new(BackendChoice::Env)) {
        Ok(ctx) => Ok(ctx),
        Err(e @ (Error::NoAdapter { .. } | Error::RequestDevice { .. })) => {
            eprintln!("error: {e}");
            eprintln!(
                "This example trains on a GPU through wgpu and found none it can use. On Linux, \
                 install Mesa: `apt-get install mesa-vulkan-drivers` (Vulkan, lavapipe on a CPU) or \
                 `apt-get install libegl1 libgl1-mesa-dri` (OpenGL, llvmpipe); then check with \
                 `cargo run --bin muon-wgpu -- info`. MUON_WGPU_BACKEND=vulkan|gl|metal|dx12 picks \
                 a backend."
            );
            if let Ok(backend) = std::env::var(muon_wgpu::gpu::BACKEND_ENV) {
                eprintln!(
                    "{} is set to `{backend}`: unset it to try every backend.",
                    muon_wgpu::gpu::BACKEND_ENV
                );
            }
            Err(ExitCode::from(2))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// An example's `main`: its flags, a GPU context, then `run` on both; an error goes to stderr.
pub fn main<A: clap::Parser>(run: fn(&GpuContext, &A) -> muon_wgpu::Result<()>) -> ExitCode {
    let args = A::parse();
    match context() {
        Ok(ctx) => exit(run(&ctx, &args)),
        Err(code) => code,
    }
}

/// Success, or the error on stderr and a failure status.
pub fn exit(result: muon_wgpu::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Refuses zero steps or a zero evaluation interval.
pub fn check_steps(steps: usize, eval_every: usize) -> muon_wgpu::Result<()> {
    if eval_every == 0 || steps == 0 {
        return Err(Error::InvalidHyperparameter {
            key: "steps / eval-every".into(),
            value: format!("{steps} / {eval_every}"),
            reason: "must be positive".into(),
        });
    }
    Ok(())
}
