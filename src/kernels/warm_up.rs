//! Compiling pipelines before anything is timed, and counting what that costs.
//!
//! CPU drivers compile lazily: Mesa's llvmpipe and lavapipe JIT a kernel at its first dispatch,
//! not in `create_compute_pipeline` (0.02 s to create a product kernel, then up to seconds at its
//! first dispatch), and a kernel dispatched with all-zero sizes was seen to leave about a second of
//! compiling to the first real step. Left alone, that cost lands in the first training step.
//! [`warm_up`] therefore runs every distinct pipeline of a list of launches once, on one
//! workgroup, with its real uniform or table (so the same code paths run) but small zeroed dummy
//! buffers for everything else: nothing the optimizer or model owns is read or written (wgpu
//! bounds every access, so the real sizes only index into the dummies). wgpu's GL backend is the
//! exception that bounds nothing; there the uniform or table is zeroed too, so no work is done.
//!
//! [`pipeline_time`] is the process's total time spent creating pipelines and warming them up
//! (the `pipeline_ms` of `muon-wgpu bench` and the training example's "pipelines").

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::Dispatch;

static PIPELINE_NANOS: AtomicU64 = AtomicU64::new(0);

/// Adds `elapsed` to [`pipeline_time`].
pub(crate) fn count(elapsed: Duration) {
    PIPELINE_NANOS.fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
}

/// Time this process has spent creating pipelines, compiling them by [`warm_up`] and tuning, on
/// every device (a running total: read it before and after the work of interest).
pub fn pipeline_time() -> Duration {
    Duration::from_nanos(PIPELINE_NANOS.load(Ordering::Relaxed))
}

/// Runs every distinct pipeline among `dispatches` once (see the module doc) and waits, so that
/// the driver has compiled them all. Returns each one's label and first-dispatch (compile) time,
/// in order: where cold-start time goes. A no-op on the web, where the browser compiles at
/// creation and a blocking wait is impossible.
pub fn warm_up<'a>(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    dispatches: impl IntoIterator<Item = &'a Dispatch>,
) -> Vec<(&'static str, Duration)> {
    #[cfg(target_arch = "wasm32")]
    {
        let _ = (device, queue, dispatches);
        Vec::new()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::collections::HashSet;
        /// Bytes of each dummy buffer.
        const DUMMY_BYTES: u64 = 4096;

        let start = std::time::Instant::now();
        // Hashes the pipeline's identity, which never changes (clippy sees the handle's inner
        // mutability).
        #[allow(clippy::mutable_key_type)]
        let mut seen = HashSet::new();
        let distinct: Vec<&Dispatch> = dispatches
            .into_iter()
            .filter(|d| seen.insert(d.pipeline.clone()))
            .collect();
        if distinct.is_empty() {
            return Vec::new();
        }
        // One dummy per binding: a buffer bound twice, once writable, is a usage conflict.
        let slots = distinct.iter().map(|d| d.buffers.len()).max().unwrap_or(0);
        let dummies: Vec<wgpu::Buffer> = (0..slots)
            .map(|_| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("warm-up dummy"),
                    size: DUMMY_BYTES,
                    usage: wgpu::BufferUsages::STORAGE,
                    mapped_at_creation: false,
                })
            })
            .collect();
        // wgpu's GL backend does not bound buffer accesses (wgpu issue 6151): there the real sizes
        // could index past the small dummies, so GL gets all-zero sizes instead, which do no
        // work at all. Every other backend bounds every access.
        let bounded = device.adapter_info().backend != wgpu::Backend::Gl;
        let zeros = |usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("warm-up zero sizes"),
                size: DUMMY_BYTES,
                usage,
                mapped_at_creation: false,
            })
        };
        // (uniform, table), only where needed.
        let zero_sizes = (!bounded).then(|| {
            (
                zeros(wgpu::BufferUsages::UNIFORM),
                zeros(wgpu::BufferUsages::STORAGE),
            )
        });
        let mut times = Vec::with_capacity(distinct.len());
        // One submit per pipeline: each compile is timed on its own, and wgpu's GL backend never
        // holds its context for long (it gives up on a submit holding it over ~6 s).
        for d in distinct {
            let t = std::time::Instant::now();
            let first = match &zero_sizes {
                None => &d.first,
                Some((uniform, _)) if d.first.usage().contains(wgpu::BufferUsages::UNIFORM) => {
                    uniform
                }
                Some((_, table)) => table,
            };
            let entries: Vec<wgpu::BindGroupEntry> = std::iter::once(first)
                .chain(&dummies[..d.buffers.len()])
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: b.as_entire_binding(),
                })
                .collect();
            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("warm-up"),
                layout: &d.pipeline.get_bind_group_layout(0),
                entries: &entries,
            });
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("warm-up"),
            });
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                pass.set_pipeline(&d.pipeline);
                pass.set_bind_group(0, &bind_group, &[]);
                pass.dispatch_workgroups(1, 1, 1);
            }
            queue.submit([encoder.finish()]);
            let _ = device.poll(wgpu::PollType::wait_indefinitely());
            times.push((d.label, t.elapsed()));
        }
        count(start.elapsed());
        times
    }
}
