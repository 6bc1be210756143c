//! Shared test helpers: one context per adapter found, random data, readback, comparisons.
#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard, OnceLock};

use muon_wgpu::GpuContext;
use wgpu::util::DeviceExt;

/// wgpu's GL backend dislikes concurrent contexts; GL tests take this lock.
fn gl_lock() -> &'static Mutex<()> {
    static LOCK: OnceLock<Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| Mutex::new(()))
}

/// A context with the lock its backend needs held for as long as it lives.
pub struct Adapter {
    pub ctx: GpuContext,
    _guard: Option<MutexGuard<'static, ()>>,
}

/// Every adapter present (lavapipe Vulkan and llvmpipe GL here), each with its own device.
/// `MUON_WGPU_TEST_BACKENDS` (e.g. `vulkan`) narrows the set. Panics if none exists, so a
/// machine without adapters fails loudly instead of passing silently.
pub fn adapters() -> Vec<Adapter> {
    let filter = std::env::var("MUON_WGPU_TEST_BACKENDS").unwrap_or_default();
    let mut out = Vec::new();
    let adapters = pollster::block_on(muon_wgpu::gpu::list_adapters(muon_wgpu::BackendChoice::Any))
        .expect("listing adapters");
    let mut seen = Vec::new();
    for adapter in adapters {
        let info = adapter.get_info();
        let backend = format!("{:?}", info.backend).to_lowercase();
        if !filter.is_empty() && !filter.split(',').any(|f| f.trim() == backend) {
            continue;
        }
        // One per (name, backend): some drivers list the same device twice.
        if seen.contains(&(info.name.clone(), info.backend)) {
            continue;
        }
        seen.push((info.name.clone(), info.backend));
        let guard = (info.backend == wgpu::Backend::Gl)
            .then(|| gl_lock().lock().unwrap_or_else(|e| e.into_inner()));
        let ctx = pollster::block_on(GpuContext::from_adapter(adapter)).expect("creating a device");
        out.push(Adapter { ctx, _guard: guard });
    }
    assert!(
        !out.is_empty(),
        "no GPU adapter found: install mesa-vulkan-drivers or run scripts/test.sh"
    );
    out
}

/// Whether the adapter is wgpu's GL backend (kept to small workloads: one GL submit must stay short).
pub fn is_gl(ctx: &GpuContext) -> bool {
    ctx.info.backend == wgpu::Backend::Gl
}

/// Deterministic uniform values in [-1, 1) (the library's generator, [`muon_wgpu::bench::random`]).
pub fn random(seed: u64, len: usize) -> Vec<f32> {
    muon_wgpu::bench::random::uniform(seed, len)
}

pub fn to_f64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// A storage buffer holding `data` (at least 16 bytes).
pub fn buffer(ctx: &GpuContext, data: &[f32]) -> wgpu::Buffer {
    let mut bytes: Vec<u8> = bytemuck::cast_slice(data).to_vec();
    bytes.resize(bytes.len().max(16), 0);
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("test"),
            contents: &bytes,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
        })
}

/// Reads `len` floats from the start of `buffer`.
pub fn read(ctx: &GpuContext, buffer: &wgpu::Buffer, len: usize) -> Vec<f32> {
    let range = muon_wgpu::BufferRange {
        buffer: buffer.clone(),
        offset: 0,
        len,
    };
    pollster::block_on(muon_wgpu::gpu::readback::read_ranges(ctx, &[range]))
        .expect("readback")
        .remove(0)
}

/// Runs dispatches in one pass and waits.
pub fn run(ctx: &GpuContext, dispatches: &[muon_wgpu::kernels::Dispatch]) {
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        for d in dispatches {
            d.record(&mut pass);
        }
    }
    ctx.queue.submit([encoder.finish()]);
    ctx.wait_idle();
}

/// Largest absolute difference.
pub fn max_abs_diff(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "length");
    got.iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w).abs())
        .fold(0.0, f64::max)
}

pub fn max_abs(x: &[f64]) -> f64 {
    x.iter().fold(0.0, |a, &b| a.max(b.abs()))
}

/// `max|got - want| / max|want - initial|`: the error relative to how far the step moved.
pub fn relative_to_update(got: &[f32], want: &[f64], initial: &[f32]) -> f64 {
    let moved = want
        .iter()
        .zip(initial)
        .map(|(&w, &i)| (w - i as f64).abs())
        .fold(0.0, f64::max);
    max_abs_diff(got, want) / moved.max(1e-30)
}
