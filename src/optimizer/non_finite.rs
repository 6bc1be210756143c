//! The non-finite policy: what a NaN or Inf in a gradient does to a step.
//!
//! - [`NonFinitePolicy::Propagate`] (the default, as `torch.optim`): the step runs; the NaN
//!   reaches the parameter and its state.
//! - [`NonFinitePolicy::SkipStep`] (as `torch.amp.GradScaler`): a NaN or Inf in any gradient
//!   skips the whole step for every parameter, and the step count does not advance. It is
//!   decided on the GPU within the step's submit, with no readback:
//!
//! ```text
//! control[0] ← 0                                   (before the compute pass)
//! scan     control[0] ← 1 if any gradient value is NaN or ±Inf       (per gradient buffer)
//! select   skipped: step scalars ← identity (W, m, v unchanged), control[2] += 1
//!          else:    step scalars ← table[control[1]] (step t_sync + control[1] + 1), control[1] += 1
//! zero     skipped: gradients ← 0 (so that `0·NaN` reaches no state)  (per gradient buffer)
//! ```
//!
//! The host writes the table of step scalars for the next [`WINDOW`] step numbers, and reads
//! the control words back (a wait for the GPU) only when that many steps went by without a
//! readback, or when asked ([`Optimizer::skipped_steps`], [`Optimizer::read_all`],
//! [`Optimizer::save_state`]).

use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::gpu::readback::{read_ranges, BufferRange};
use crate::kernels::{Dispatch, GradPass, GradRange, SelectOperands};

use super::buffers::StepBuffers;
use super::{Optimizer, Recorder};

pub use crate::settings::NonFinitePolicy;

/// Step numbers the host provides step scalars for ahead of the GPU (see the module doc).
pub const WINDOW: u32 = if cfg!(target_arch = "wasm32") {
    1024
} else {
    64
};

/// The host's view of the GPU's step count.
#[derive(Debug, Default)]
pub(super) struct Counts {
    /// Steps applied when the host last read the control words.
    pub t_sync: u64,
    /// Steps recorded since (applied or skipped).
    pub recorded: u64,
    /// Steps skipped in all, as of that read.
    pub skipped: u64,
    /// The table no longer matches the settings or the step count.
    pub table_dirty: bool,
}

/// The buffers of the skip_step policy.
pub(super) struct SkipStep {
    /// `[flag, applied since the last read, skipped in all, overflow]`, u32 each.
    control: wgpu::Buffer,
    muon_table: wgpu::Buffer,
    adam_table: wgpu::Buffer,
    pub counts: Mutex<Counts>,
}

fn table_buffer(device: &wgpu::Device, label: &str, bytes: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(16),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

impl SkipStep {
    /// The control words and the step tables, for step buffers of these sizes.
    pub(super) fn allocate(device: &wgpu::Device, steps: &StepBuffers) -> Self {
        let control = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("non-finite control"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let window = WINDOW as u64;
        Self {
            control,
            muon_table: table_buffer(device, "muon step table", window * steps.muon.size()),
            adam_table: table_buffer(device, "adamw step table", window * steps.adam.size()),
            counts: Mutex::new(Counts {
                table_dirty: true,
                ..Counts::default()
            }),
        }
    }
}

/// Under skip_step, the launches that run first in every step: scan (one per gradient
/// buffer), select, zero (one per gradient buffer). None under `propagate`.
pub(super) fn record(r: &Recorder<'_>, out: &mut Vec<Dispatch>) {
    let Some(skip) = r.skip else { return };
    let (device, kernels) = (r.device, r.kernels);
    // The gradient ranges, by buffer (arenas hold many).
    let mut by_buffer: Vec<(&wgpu::Buffer, Vec<GradRange>)> = Vec::new();
    for p in &r.buffers.params {
        let range = GradRange {
            offset: (p.grad.offset / 4) as u32,
            len: p.grad.len as u32,
            _pad: [0; 2],
        };
        match by_buffer.iter_mut().find(|(b, _)| **b == p.grad.buffer) {
            Some((_, ranges)) => ranges.push(range),
            None => by_buffer.push((&p.grad.buffer, vec![range])),
        }
    }
    let control = &skip.control;
    for (grad, ranges) in &by_buffer {
        out.push(kernels.non_finite_pass(device, GradPass::Scan, ranges, grad, control));
    }
    let steps = &r.buffers.steps;
    let ops = SelectOperands {
        control,
        muon_table: &skip.muon_table,
        adam_table: &skip.adam_table,
        muon_steps: &steps.muon,
        adam_steps: &steps.adam,
    };
    out.push(kernels.non_finite_select(device, WINDOW, ops));
    for (grad, ranges) in &by_buffer {
        out.push(kernels.non_finite_pass(device, GradPass::Zero, ranges, grad, control));
    }
}

impl SkipStep {
    pub(super) fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Optimizer {
    /// The non-finite policy this optimizer was built with (its settings' `non_finite`).
    pub fn non_finite_policy(&self) -> NonFinitePolicy {
        self.settings.non_finite
    }

    /// The skip_step policy's control words on the GPU, `[flag, applied since the host's last
    /// read, skipped in all, overflow]` (u32 each; `None` under `propagate`): copy them in your
    /// own encoder to read the skipped-steps count without waiting for the queue.
    pub fn skip_control(&self) -> Option<&wgpu::Buffer> {
        self.skip.as_ref().map(|s| &s.control)
    }

    /// Steps skipped for a NaN or Inf gradient so far (0 under `propagate`). Waits for the
    /// GPU; brings [`Optimizer::step_count`] up to date.
    pub async fn skipped_steps(&self) -> Result<u64> {
        self.sync_skips().await?;
        Ok(self.skip.as_ref().map_or(0, |s| s.counts().skipped))
    }

    /// Reads the control words (waiting for the GPU), takes the applied and skipped steps
    /// into the host's count, and restarts the table from there. A no-op under `propagate`.
    pub(super) async fn sync_skips(&self) -> Result<()> {
        let Some(skip) = &self.skip else {
            return Ok(());
        };
        self.ctx.health().check()?;
        let range = BufferRange {
            buffer: skip.control.clone(),
            offset: 0,
            len: 4,
        };
        let words: Vec<u32> = read_ranges(&self.ctx, &[range]).await?[0]
            .iter()
            .map(|w| w.to_bits())
            .collect();
        {
            let mut c = skip.counts();
            c.t_sync += words[1] as u64;
            c.skipped = words[2] as u64;
            c.recorded = 0;
            c.table_dirty = true;
        }
        // Applied-since and overflow restart at 0; the skipped count stays.
        let queue = &self.ctx.queue;
        queue.write_buffer(&skip.control, 4, bytemuck::bytes_of(&0u32));
        queue.write_buffer(&skip.control, 12, bytemuck::bytes_of(&0u32));
        // The table is rewritten by the next step (it is dirty), with that call's rate.
        if words[3] != 0 {
            return Err(Error::Gpu {
                operation: "step (skip_step policy)".into(),
                message: format!(
                    "more than {WINDOW} steps were recorded without a submit in between; the \
                     steps beyond were not applied"
                ),
            });
        }
        Ok(())
    }

    /// Writes the step scalars of steps `t_sync + 1 ..= t_sync + WINDOW` into the tables, every
    /// learning rate times `eta` (the schedule's factor of this call).
    pub(super) fn write_step_table(&self, eta: f64) {
        let Some(skip) = &self.skip else { return };
        let t_sync = {
            let mut c = skip.counts();
            c.table_dirty = false;
            c.t_sync
        };
        let mut muon = Vec::new();
        let mut adam = Vec::new();
        for row in 0..WINDOW as u64 {
            let (bytes, split) = self.step_scalars(t_sync + row + 1, eta);
            muon.extend_from_slice(&bytes[..split as usize]);
            adam.extend_from_slice(&bytes[split as usize..]);
        }
        self.ctx.queue.write_buffer(&skip.muon_table, 0, &muon);
        self.ctx.queue.write_buffer(&skip.adam_table, 0, &adam);
    }

    /// Before recording a step under skip_step: the table brought up to date, and the flag
    /// cleared in `encoder`'s order.
    pub(super) fn begin_skip_step(&self, encoder: &mut wgpu::CommandEncoder, eta: f64) {
        let Some(skip) = &self.skip else { return };
        let dirty = skip.counts().table_dirty;
        // A schedule's rate changes every call: the table follows it.
        if dirty || self.settings.keras.schedule.is_some() {
            self.write_step_table(eta);
        }
        encoder.clear_buffer(&skip.control, 0, Some(4));
        skip.counts().recorded += 1;
    }

    /// Whether the GPU may run past the table before the next step (skip_step only).
    pub(super) fn skip_window_full(&self) -> bool {
        self.skip
            .as_ref()
            .is_some_and(|s| s.counts().recorded >= WINDOW as u64)
    }
}
