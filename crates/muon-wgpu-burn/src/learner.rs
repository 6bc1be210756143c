//! Using [`MuonWgpu`] from a `burn-train` `Learner`.
//!
//! burn 0.22.1's `Learner` holds a `ModuleOptimizer` and calls
//! `TrainStep::optimize(self, optim, lr_module, grads) -> Self` on the model after each training
//! step; that method is the hook. Install the optimizer once, then route the hook here:
//!
//! ```ignore
//! use burn::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
//! use burn::optim::{GradientsParams, ModuleOptimizer};
//! use burn::train::TrainStep;
//!
//! impl TrainStep for MyModel {
//!     // type Input, type Output, fn step: as usual
//!     fn optimize(self, _burn: &mut ModuleOptimizer, lr: ModuleLearningRate, grads: GradientsParams) -> Self {
//!         muon_wgpu_burn::learner::optimize(self, lr, grads)
//!     }
//! }
//!
//! muon_wgpu_burn::learner::install(MuonWgpuConfig::new().init(&model, &gpu)?);
//! // build the Learner as usual; its own optimizer (any, e.g. `SgdConfig::new().init()`) is unused
//! ```
//!
//! The hook cannot return an error: a failed step leaves the model's parameters unchanged
//! (the model is a cheap clone of shared handles) and keeps the error for [`take_error`]; check
//! it from a callback or after `fit`.

use std::sync::Mutex;

use burn::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::module::Module;
use burn::optim::GradientsParams;

use crate::error::Error;
use crate::optimizer::MuonWgpu;

static INSTALLED: Mutex<Option<MuonWgpu>> = Mutex::new(None);
static LAST_ERROR: Mutex<Option<Error>> = Mutex::new(None);

/// Makes `optim` the optimizer [`optimize`] steps with (replacing any installed before); returns
/// the one it replaces.
pub fn install(optim: MuonWgpu) -> Option<MuonWgpu> {
    lock(&INSTALLED).replace(optim)
}

/// Removes and returns the installed optimizer (to save its state with `to_record`).
pub fn uninstall() -> Option<MuonWgpu> {
    lock(&INSTALLED).take()
}

/// The body of `TrainStep::optimize`: one step of the installed optimizer with the base
/// learning rate of `lr` (the rate of the group matching every parameter; per-group rates of
/// a `ModuleLrScheduler` are not applied). Without an installed optimizer, or on a failed step,
/// returns the model unchanged and keeps the error for [`take_error`].
pub fn optimize<M: Module>(model: M, lr: ModuleLearningRate, grads: GradientsParams) -> M {
    let mut installed = lock(&INSTALLED);
    let Some(optim) = installed.as_mut() else {
        *lock(&LAST_ERROR) = Some(Error::ModelChanged {
            reason: "no optimizer installed: call muon_wgpu_burn::learner::install first".into(),
        });
        return model;
    };
    let unchanged = model.clone();
    match optim.step(lr.base(), model, grads) {
        Ok(updated) => updated,
        Err(e) => {
            *lock(&LAST_ERROR) = Some(e);
            unchanged
        }
    }
}

/// The error of the last failed [`optimize`], if any (and clears it).
pub fn take_error() -> Option<Error> {
    lock(&LAST_ERROR).take()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
