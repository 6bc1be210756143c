//! Instance, adapter and device: where the optimizer runs.

pub mod health;
pub mod readback;

use crate::error::{Error, Result};

/// Environment variable that picks the backend when the caller asks for [`BackendChoice::Env`].
pub const BACKEND_ENV: &str = "MUON_WGPU_BACKEND";

/// Which graphics API to run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    Vulkan,
    Gl,
    Metal,
    Dx12,
    /// The browser's WebGPU (wasm only).
    WebGpu,
    /// Every backend compiled in; the best adapter wins.
    Any,
    /// Read [`BACKEND_ENV`] (`vulkan|gl|metal|dx12|webgpu|any`), `any` when unset.
    Env,
}

impl std::str::FromStr for BackendChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "vulkan" | "vk" => Ok(Self::Vulkan),
            "gl" | "gles" | "opengl" => Ok(Self::Gl),
            "metal" | "mtl" => Ok(Self::Metal),
            "dx12" | "d3d12" => Ok(Self::Dx12),
            "webgpu" | "browser" => Ok(Self::WebGpu),
            "any" | "" => Ok(Self::Any),
            "env" => Ok(Self::Env),
            other => Err(Error::UnknownBackend(other.to_string())),
        }
    }
}

impl BackendChoice {
    /// The wgpu backends this choice enables, reading the environment for [`BackendChoice::Env`].
    pub fn backends(self) -> Result<wgpu::Backends> {
        Ok(match self {
            Self::Vulkan => wgpu::Backends::VULKAN,
            Self::Gl => wgpu::Backends::GL,
            Self::Metal => wgpu::Backends::METAL,
            Self::Dx12 => wgpu::Backends::DX12,
            Self::WebGpu => wgpu::Backends::BROWSER_WEBGPU,
            Self::Any => wgpu::Backends::all(),
            Self::Env => match std::env::var(BACKEND_ENV) {
                Ok(v) => v.parse::<BackendChoice>()?.backends()?,
                Err(_) => wgpu::Backends::all(),
            },
        })
    }
}

/// A device and queue with what we know of the adapter behind them.
#[derive(Clone, Debug)]
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    /// Uncaptured errors and device loss, recorded instead of panicking.
    health: std::sync::Arc<health::DeviceHealth>,
}

fn instance_for(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

/// Higher is better: real GPUs before software rasterizers, Vulkan before GL.
fn adapter_rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 1,
        wgpu::DeviceType::Other => 0,
    };
    let api = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 2,
        wgpu::Backend::BrowserWebGpu => 2,
        wgpu::Backend::Gl => 1,
        wgpu::Backend::Noop => 0,
    };
    (kind, api)
}

/// Every adapter the chosen backends expose (native only; the browser has one).
pub async fn list_adapters(choice: BackendChoice) -> Result<Vec<wgpu::Adapter>> {
    let backends = choice.backends()?;
    let instance = instance_for(backends);
    let mut adapters = instance.enumerate_adapters(backends).await;
    adapters.retain(|a| a.get_info().backend != wgpu::Backend::Noop);
    Ok(adapters)
}

impl GpuContext {
    /// Creates a context on the best adapter of `choice`.
    pub async fn new(choice: BackendChoice) -> Result<Self> {
        let backends = choice.backends()?;
        let adapter = Self::best_adapter(backends).await.ok_or_else(|| Error::NoAdapter {
            backend: format!("{backends:?}"),
            reason: "no adapter was found; on Linux install a Vulkan driver (apt-get install mesa-vulkan-drivers) or use the GL backend".into(),
        })?;
        Self::from_adapter(adapter).await
    }

    async fn best_adapter(backends: wgpu::Backends) -> Option<wgpu::Adapter> {
        let instance = instance_for(backends);
        let mut adapters = instance.enumerate_adapters(backends).await;
        adapters.retain(|a| a.get_info().backend != wgpu::Backend::Noop);
        adapters.sort_by_key(|a| std::cmp::Reverse(adapter_rank(&a.get_info())));
        if let Some(best) = adapters.into_iter().next() {
            return Some(best);
        }
        // The browser lists no adapters up front; ask for one.
        instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .ok()
    }

    /// Creates a device on `adapter`, asking for every limit it offers (large storage
    /// bindings and buffers) and the optional features the kernels can use.
    pub async fn from_adapter(adapter: wgpu::Adapter) -> Result<Self> {
        let limits = adapter.limits();
        Self::from_adapter_with_limits(adapter, limits).await
    }

    /// Like [`GpuContext::from_adapter`] with these limits (for example smaller ones, to
    /// check how the crate behaves on a device that offers less).
    pub async fn from_adapter_with_limits(
        adapter: wgpu::Adapter,
        required_limits: wgpu::Limits,
    ) -> Result<Self> {
        let info = adapter.get_info();
        // Timestamp queries let `muon-wgpu bench --profile` time each kernel.
        let wanted =
            wgpu::Features::SUBGROUP | wgpu::Features::SHADER_F16 | wgpu::Features::TIMESTAMP_QUERY;
        let required_features = adapter.features() & wanted;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("muon-wgpu"),
                required_features,
                required_limits,
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::RequestDevice {
                adapter: info.name.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self::from_device(device, queue, info))
    }

    /// Wraps a device and queue the caller already has. Installs the crate's uncaptured-error
    /// handler and device-lost callback on it ([`crate::gpu::health`]), replacing the
    /// device's own: GPU errors then reach the caller as typed errors, never as panics.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue, info: wgpu::AdapterInfo) -> Self {
        let health = health::DeviceHealth::watch(&device);
        Self {
            device,
            queue,
            info,
            health,
        }
    }

    /// Runs `f` with this device's GPU errors captured as typed errors naming `operation`
    /// (see [`health::scoped`]).
    pub fn scoped<T>(&self, operation: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        health::scoped(&self.device, self.health(), operation, f)
    }

    /// What went wrong on the device outside an error scope (see [`crate::gpu::health`]).
    pub fn health(&self) -> &health::DeviceHealth {
        &self.health
    }

    /// The device's limits.
    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }

    /// A one-line description: adapter name and backend.
    pub fn describe(&self) -> String {
        format!("{} ({:?})", self.info.name, self.info.backend)
    }

    /// Blocks (natively) until the queue is idle; a no-op on the web, where the browser drives the GPU.
    pub fn wait_idle(&self) {
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
        }
    }
}

/// A storage buffer of at least `bytes` (16 at least, a multiple of 4), copyable both ways.
pub fn storage_buffer(device: &wgpu::Device, label: &str, bytes: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(16).next_multiple_of(4),
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}
