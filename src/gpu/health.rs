//! GPU errors as typed errors, never panics.
//!
//! wgpu's default handler panics on any error no scope captured. [`DeviceHealth::watch`]
//! replaces it with one that records the error, and records device loss; the crate's next call
//! on that device returns it ([`DeviceHealth::check`]). Natively, [`scoped`] also wraps a call
//! in error scopes so that its own errors are returned by that very call (on the web a scope
//! resolves only later, so there the next call reports them).

use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// What went wrong on one device outside an error scope.
#[derive(Debug, Default)]
pub struct DeviceHealth {
    state: Mutex<Recorded>,
}

#[derive(Debug, Default)]
struct Recorded {
    /// Why the device was lost; sticky: a lost device stays lost.
    lost: Option<String>,
    /// The first uncaptured error since the last report, and how many followed it.
    error: Option<String>,
    more: u64,
}

impl DeviceHealth {
    /// Installs the recording handlers on `device` (replacing any uncaptured-error handler
    /// and device-lost callback it had).
    pub fn watch(device: &wgpu::Device) -> Arc<Self> {
        let health = Arc::new(Self::default());
        let h = health.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            h.record_error(e.to_string())
        }));
        let h = health.clone();
        device.set_device_lost_callback(move |reason, message| {
            h.record_lost(format!("{reason:?}: {message}"));
        });
        health
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record_error(&self, message: String) {
        let mut s = self.lock();
        if s.error.is_none() {
            s.error = Some(message);
        } else {
            s.more += 1;
        }
    }

    fn record_lost(&self, reason: String) {
        self.lock().lost.get_or_insert(reason);
    }

    /// Whether the device was lost.
    pub fn is_lost(&self) -> bool {
        self.lock().lost.is_some()
    }

    /// `Err(DeviceLost)` once the device is lost (every call after); else the first
    /// uncaptured error recorded since the last check (reported once), else `Ok`.
    pub fn check(&self) -> Result<()> {
        let mut s = self.lock();
        if let Some(reason) = &s.lost {
            return Err(Error::DeviceLost {
                reason: reason.clone(),
            });
        }
        if let Some(message) = s.error.take() {
            let more = std::mem::take(&mut s.more);
            let message = if more > 0 {
                format!("{message} (and {more} more)")
            } else {
                message
            };
            return Err(Error::Gpu {
                operation: "an earlier call on this device".into(),
                message,
            });
        }
        Ok(())
    }
}

/// Runs `f` after checking the device's health, with its GPU errors captured (natively) by
/// error scopes and returned as [`Error::Gpu`] naming `operation`; device loss during `f` is
/// [`Error::DeviceLost`]. (`GpuContext::scoped` passes its own device and health.)
pub fn scoped<T>(
    device: &wgpu::Device,
    health: &DeviceHealth,
    operation: &str,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    health.check()?;
    #[cfg(not(target_arch = "wasm32"))]
    {
        use futures::FutureExt;
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
        let out = f();
        // Natively a popped scope is resolved at once.
        let errors = [internal.pop(), validation.pop(), oom.pop()]
            .into_iter()
            .filter_map(|pop| pop.now_or_never().flatten())
            .collect::<Vec<_>>();
        health.check()?;
        let out = out?;
        if let Some(e) = errors.first() {
            if health.is_lost() {
                health.check()?;
            }
            return Err(Error::Gpu {
                operation: operation.into(),
                message: e.to_string(),
            });
        }
        Ok(out)
    }
    #[cfg(target_arch = "wasm32")]
    {
        // A scope resolves only later on the web: the handler records, the next call reports.
        let _ = (operation, device);
        let out = f()?;
        health.check()?;
        Ok(out)
    }
}
