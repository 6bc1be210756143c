//! One wgpu device for burn and for us: burn creates it (cubecl asks for every feature and limit
//! it needs, which a device we created might lack), we share its device and queue.

use burn::tensor::Device;
use burn::tensor::wgpu::{WgpuOptions, WgpuSetup};
use muon_wgpu::GpuContext;

use crate::error::{Error, Result};

/// burn's wgpu [`Device`] and the same wgpu device as a muon-wgpu [`GpuContext`].
///
/// # Error handlers
///
/// wgpu keeps one uncaptured-error handler and one device-lost callback per device. cubecl
/// installs its own (`PoisonWatch`) when burn starts the runtime; [`GpuContext::from_device`]
/// then replaces both with muon-wgpu's (`DeviceHealth`). What each side sees afterwards:
///
/// * muon-wgpu records every uncaptured error and the loss of the device; the next
///   [`MuonWgpu::step`](crate::MuonWgpu::step) returns [`Error::DeviceLost`] or
///   [`Error::Core`] (`Gpu`) instead of panicking.
/// * cubecl still sees the validation and internal errors of its own submits through its error
///   scopes (`push_error_scope`), which do not go through the handler; it no longer sees an
///   uncaptured error (which its handler turned into a panic) nor marks the device poisoned when
///   it is lost: burn's next operation on a lost device fails inside wgpu instead. Check
///   [`BurnWgpu::check`] in a training loop to stop at the first step after a loss.
#[derive(Clone)]
pub struct BurnWgpu {
    /// The burn device: create the model and the batches on it (or its `.autodiff()`).
    pub device: Device,
    /// The same device and queue, for muon-wgpu.
    pub context: GpuContext,
}

impl BurnWgpu {
    /// Starts burn's wgpu runtime with its default options and shares it.
    ///
    /// Errors: [`Error::WgpuInit`] when no adapter is found, or when the runtime was already
    /// started (by `init` or by a tensor created on `Device::default()`): then use
    /// [`BurnWgpu::from_setup`] with the setup of that first initialization.
    pub fn init() -> Result<Self> {
        Self::init_with(Device::wgpu_options())
    }

    /// Starts burn's wgpu runtime with these options (graphics API, memory, tasks) and shares it.
    pub fn init_with(options: WgpuOptions) -> Result<Self> {
        let (device, setup) = options
            .init_with_setup()
            .map_err(|e| Error::WgpuInit(format!("{e:?}")))?;
        Ok(Self::from_setup(device, &setup))
    }

    /// Shares a runtime the caller started with `Device::wgpu_options().init_with_setup()`.
    pub fn from_setup(device: Device, setup: &WgpuSetup) -> Self {
        let info = setup.adapter.get_info();
        let context = GpuContext::from_device(setup.device.clone(), setup.queue.clone(), info);
        Self { device, context }
    }

    /// [`Error::DeviceLost`] once the device is lost, or the first GPU error recorded since the
    /// last check.
    pub fn check(&self) -> Result<()> {
        Ok(self.context.health().check()?)
    }

    /// The adapter, in a line (`name (backend)`).
    pub fn describe(&self) -> String {
        self.context.describe()
    }
}
