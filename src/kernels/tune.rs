//! Choosing the Newton-Schulz kernel variant for an adapter.
//!
//! CPU drivers and GPUs want opposite kernels (see [`NsVariant`]), and within a kind the best
//! tile depends on the device. On first use the optimizer times a few candidates for the
//! adapter's kind on a small product, checks each result, and keeps the fastest; the choice is
//! remembered in memory and (natively) in a small text file under the user's cache directory,
//! keyed by adapter, driver, backend and crate version, so later runs compile only the winner.
//!
//! Environment: `MUON_WGPU_NS_KERNEL=<variant name>` forces a variant (no tuning);
//! `MUON_WGPU_TUNE_CACHE=<file>` moves the cache file, `MUON_WGPU_TUNE_CACHE=off` disables it.
//! On the web nothing is timed (no blocking waits there): the usual best for the adapter's kind
//! is used unless [`remember`] was told otherwise.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::ns::NsVariant;

/// Environment variable forcing a Newton-Schulz variant by name.
pub const KERNEL_ENV: &str = "MUON_WGPU_NS_KERNEL";
/// Environment variable naming the tuning cache file (`off` disables it).
pub const CACHE_ENV: &str = "MUON_WGPU_TUNE_CACHE";

fn memory() -> &'static Mutex<HashMap<String, NsVariant>> {
    static MEMORY: OnceLock<Mutex<HashMap<String, NsVariant>>> = OnceLock::new();
    MEMORY.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The cache key of an adapter: name, ids, driver, backend and crate version.
pub fn adapter_key(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{}|{:x}:{:x}|{} {}|{:?}|{:?}|muon-wgpu {}",
        info.name,
        info.vendor,
        info.device,
        info.driver,
        info.driver_info,
        info.backend,
        info.device_type,
        env!("CARGO_PKG_VERSION")
    )
    .replace(['\t', '\n'], " ")
}

/// The variants worth timing on this device, most likely winner first.
pub fn candidates(device: &wgpu::Device) -> Vec<NsVariant> {
    let cpu = device.adapter_info().device_type == wgpu::DeviceType::Cpu;
    let order: &[NsVariant] = if cpu {
        // Cheapest to compile first: a CPU driver takes about a second for the 32-row tiles
        // but tens of seconds for the 64-row ones (15-25% faster afterwards), and a cold pass
        // stops at the budget, so first use stays quick; force `lanes64-broadcast` for long runs.
        &[
            NsVariant::Lanes {
                rows: 32,
                broadcast: true,
                half: false,
            },
            NsVariant::Lanes {
                rows: 32,
                broadcast: false,
                half: false,
            },
            NsVariant::Lanes {
                rows: 64,
                broadcast: true,
                half: false,
            },
        ]
    } else {
        &[
            NsVariant::Tiled { wg: 16, bk: 16 },
            NsVariant::Tiled { wg: 16, bk: 8 },
            NsVariant::Tiled { wg: 8, bk: 16 },
        ]
    };
    order
        .iter()
        .copied()
        .filter(|v| v.supported(device))
        .collect()
}

/// The usual best for the device's kind, without timing anything.
pub fn default_variant(device: &wgpu::Device) -> NsVariant {
    candidates(device)
        .into_iter()
        .next()
        .unwrap_or(NsVariant::Tiled { wg: 8, bk: 16 })
}

fn forced(device: &wgpu::Device) -> Option<NsVariant> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let name = std::env::var(KERNEL_ENV).ok()?;
        match name.parse::<NsVariant>() {
            Ok(v) if v.supported(device) => Some(v),
            _ => None,
        }
    }
    #[cfg(target_arch = "wasm32")]
    {
        let _ = device;
        None
    }
}

/// The variant remembered for this device's adapter (forced, in memory or on disk), if any.
pub fn remembered(device: &wgpu::Device) -> Option<NsVariant> {
    if let Some(v) = forced(device) {
        return Some(v);
    }
    let key = adapter_key(&device.adapter_info());
    if let Some(&v) = memory().lock().ok()?.get(&key) {
        return Some(v);
    }
    let v = disk::load(&key).filter(|v| v.supported(device))?;
    memory().lock().ok()?.insert(key, v);
    Some(v)
}

/// [`remembered`], else [`default_variant`].
pub fn remembered_or_default(device: &wgpu::Device) -> NsVariant {
    remembered(device).unwrap_or_else(|| default_variant(device))
}

/// Remembers `variant` for this device's adapter (in memory, and natively on disk).
pub fn remember(device: &wgpu::Device, variant: NsVariant) {
    let key = adapter_key(&device.adapter_info());
    if let Ok(mut m) = memory().lock() {
        m.insert(key.clone(), variant);
    }
    disk::store(&key, variant);
}

/// What choosing a variant did: each candidate timed (seconds for the test products; `None`:
/// wrong result), the choice, whether it came from the cache, and the wall time spent.
#[derive(Clone, Debug)]
pub struct TuneReport {
    pub timings: Vec<(NsVariant, Option<f64>)>,
    pub chosen: NsVariant,
    pub from_cache: bool,
    pub seconds: f64,
}

/// Time a tuning pass may spend before it stops trying further candidates (the first one is
/// always tried: its pipelines are the ones the plan then uses).
pub const TUNE_BUDGET_SECONDS: f64 = 1.0;

/// The kernels for `ctx`'s adapter: the remembered variant, or (natively) the one a tuning pass
/// finds, then remembered. On the web: [`remembered_or_default`], untimed.
pub fn choose(ctx: &crate::GpuContext) -> (super::Kernels, TuneReport) {
    if let Some(chosen) = remembered(&ctx.device) {
        let report = TuneReport {
            timings: Vec::new(),
            chosen,
            from_cache: true,
            seconds: 0.0,
        };
        return (super::Kernels::with_variant(&ctx.device, chosen), report);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let before = super::pipeline_time();
        let (kernels, report) = tune(ctx, TUNE_BUDGET_SECONDS);
        // Tuning counts as pipeline time (its own compiles are counted already).
        let compiling = (super::pipeline_time() - before).as_secs_f64();
        super::warm_up::count(std::time::Duration::from_secs_f64(
            (report.seconds - compiling).max(0.0),
        ));
        remember(&ctx.device, report.chosen);
        (kernels, report)
    }
    #[cfg(target_arch = "wasm32")]
    {
        let chosen = default_variant(&ctx.device);
        let report = TuneReport {
            timings: Vec::new(),
            chosen,
            from_cache: false,
            seconds: 0.0,
        };
        (super::Kernels::with_variant(&ctx.device, chosen), report)
    }
}

/// Times the candidates, most likely winner first, on a Gram product and a `B·X` product of a
/// 512 × 1024 matrix, checking a few entries of each result against the host, until `budget`
/// seconds are spent; keeps the fastest correct one. On a CPU driver compiling a candidate
/// takes seconds the first time, so there a cold pass usually tries only the first.
#[cfg(not(target_arch = "wasm32"))]
pub fn tune(ctx: &crate::GpuContext, budget: f64) -> (super::Kernels, TuneReport) {
    let start = std::time::Instant::now();
    let candidates = candidates(&ctx.device);
    let (m, n) = (512u32, 1024u32);
    let x: Vec<f32> = (0..m * n)
        .map(|i| ((i.wrapping_mul(2654435761) >> 8) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let mut timings = Vec::new();
    let mut best: Option<(f64, super::Kernels)> = None;
    for (i, &variant) in candidates.iter().enumerate() {
        if i > 0 && (candidates.len() == 1 || start.elapsed().as_secs_f64() > budget) {
            break;
        }
        let kernels = super::Kernels::with_variant(&ctx.device, variant);
        let time = time_variant(ctx, &kernels, &x, m, n);
        timings.push((variant, time));
        if let Some(t) = time {
            if best.as_ref().is_none_or(|(b, _)| t < *b) {
                best = Some((t, kernels));
            }
        }
    }
    let kernels = best
        .map(|(_, k)| k)
        .unwrap_or_else(|| super::Kernels::with_variant(&ctx.device, default_variant(&ctx.device)));
    let report = TuneReport {
        timings,
        chosen: kernels.ns_variant(),
        from_cache: false,
        seconds: start.elapsed().as_secs_f64(),
    };
    (kernels, report)
}

/// The two test products on `x` (`m × n`): the Gram `G = X·Xᵀ / n` into `gram`, then
/// `O = G·X + ½·X` into `out`.
#[cfg(not(target_arch = "wasm32"))]
fn test_products(
    device: &wgpu::Device,
    kernels: &super::Kernels,
    [x, gram, out]: [&wgpu::Buffer; 3],
    m: u32,
    n: u32,
) -> Vec<super::Dispatch> {
    use super::ns::{NsOperands, NsProduct, Strided};
    let whole = |row| Strided {
        base: 0,
        row,
        mat: 0,
    };
    let gram_product = NsProduct {
        rows: m,
        cols: m,
        k: n,
        count: 1,
        left: whole(n),
        right: whole(n),
        addend: None,
        result: whole(m),
        alpha: 1.0 / n as f32,
        beta: 0.0,
        diag: 0.0,
    };
    let apply_product = NsProduct {
        rows: m,
        cols: n,
        k: m,
        count: 1,
        left: whole(m),
        right: whole(n),
        addend: Some(whole(n)),
        result: whole(n),
        alpha: 1.0,
        beta: 0.5,
        diag: 0.0,
    };
    let operands = |left, result| NsOperands {
        left,
        right: x,
        addend: x,
        result,
        halves: None,
    };
    [
        kernels.ns_products(device, true, &[gram_product], operands(x, gram)),
        kernels.ns_products(device, false, &[apply_product], operands(gram, out)),
    ]
    .concat()
}

/// Whether a few entries of both test products (`gram`: `m × m`, `out`: `m × n`) match the host's
/// f64 products within `1e-4 · (1 + |want|)`.
#[cfg(not(target_arch = "wasm32"))]
fn products_are_right(x: &[f32], gram: &[f32], out: &[f32], m: usize, n: usize) -> bool {
    let close = |got: f32, want: f64| (got as f64 - want).abs() <= 1e-4 * (1.0 + want.abs());
    let g = |i: usize, j: usize| {
        (0..n)
            .map(|k| x[i * n + k] as f64 * x[j * n + k] as f64)
            .sum::<f64>()
            / n as f64
    };
    let gram_right = [(0, 0), (3, 200), (200, 3), (m - 1, m - 1), (37, 129)]
        .iter()
        .all(|&(i, j)| close(gram[i * m + j], g(i, j)));
    let apply = |i: usize, j: usize| {
        (0..m)
            .map(|k| gram[i * m + k] as f64 * x[k * n + j] as f64)
            .sum::<f64>()
            + 0.5 * x[i * n + j] as f64
    };
    let apply_right = [(0, 0), (5, n - 1), (m - 1, 300), (100, 64)]
        .iter()
        .all(|&(i, j)| close(out[i * n + j], apply(i, j)));
    gram_right && apply_right
}

/// Seconds for one Gram and one apply product (best of three), or `None` if a result is wrong.
#[cfg(not(target_arch = "wasm32"))]
fn time_variant(
    ctx: &crate::GpuContext,
    kernels: &super::Kernels,
    x: &[f32],
    m: u32,
    n: u32,
) -> Option<f64> {
    use wgpu::util::DeviceExt;

    let device = &ctx.device;
    let storage = |label: &str, data: &[f32]| {
        device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(data),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        })
    };
    let xb = storage("tune x", x);
    let gram = storage("tune gram", &vec![0.0; (m * m) as usize]);
    let out = storage("tune out", &vec![0.0; (m * n) as usize]);
    let dispatches = test_products(device, kernels, [&xb, &gram, &out], m, n);
    let run = || {
        let start = std::time::Instant::now();
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for d in &dispatches {
                d.record(&mut pass);
            }
        }
        ctx.queue.submit([encoder.finish()]);
        ctx.wait_idle();
        start.elapsed().as_secs_f64()
    };
    run();
    let best = (0..3).map(|_| run()).fold(f64::MAX, f64::min);
    let range = |b: &wgpu::Buffer, len: u32| crate::BufferRange {
        buffer: b.clone(),
        offset: 0,
        len: len as usize,
    };
    let got = pollster::block_on(crate::gpu::readback::read_ranges(
        ctx,
        &[range(&gram, m * m), range(&out, m * n)],
    ))
    .ok()?;
    products_are_right(x, &got[0], &got[1], m as usize, n as usize).then_some(best)
}

#[cfg(not(target_arch = "wasm32"))]
mod disk {
    use super::{NsVariant, CACHE_ENV};
    use std::path::PathBuf;

    /// `$MUON_WGPU_TUNE_CACHE`, else the platform's user cache directory ([`dirs::cache_dir`]:
    /// `$XDG_CACHE_HOME` or `~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on
    /// Windows).
    fn path() -> Option<PathBuf> {
        if let Ok(p) = std::env::var(CACHE_ENV) {
            return (p != "off" && !p.is_empty()).then(|| PathBuf::from(p));
        }
        Some(dirs::cache_dir()?.join("muon-wgpu").join("ns-kernels.tsv"))
    }

    fn entries() -> Vec<(String, String)> {
        let Some(text) = path().and_then(|p| std::fs::read_to_string(p).ok()) else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub fn load(key: &str) -> Option<NsVariant> {
        entries()
            .into_iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.parse().ok())
    }

    /// Best effort: a cache that cannot be written only costs a tuning pass next time.
    pub fn store(key: &str, variant: NsVariant) {
        let Some(path) = path() else { return };
        let mut lines: Vec<(String, String)> =
            entries().into_iter().filter(|(k, _)| k != key).collect();
        lines.push((key.to_string(), variant.name()));
        let text: String = lines.iter().map(|(k, v)| format!("{k}\t{v}\n")).collect();
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // Atomic, so that concurrent runs never read half a cache.
        let _ = crate::io::atomic_file::write(&path, text.as_bytes());
    }
}

#[cfg(target_arch = "wasm32")]
mod disk {
    use super::NsVariant;
    pub fn load(_key: &str) -> Option<NsVariant> {
        None
    }
    pub fn store(_key: &str, _variant: NsVariant) {}
}
