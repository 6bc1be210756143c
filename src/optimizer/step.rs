//! A step at run time: the step scalars of step `t`, written once, then the recorded launches
//! replayed in one compute pass.

use wgpu::util::DeviceExt;

use crate::error::Result;
use crate::kernels::{AdamStep, Dispatch, MuonStep};

use super::{muon, Optimizer, StepStats};

impl Optimizer {
    /// The step scalars of step `t`: one [`MuonStep`] per Muon batch, one [`AdamStep`] per
    /// AdamW group, as the bytes of one staging buffer (Muon first).
    /// Every learning rate is multiplied by `eta`, the schedule's factor ([`crate::settings::schedule`]).
    pub(super) fn step_scalars(&self, t: u64, eta: f64) -> (Vec<u8>, u64) {
        let mut muon: Vec<MuonStep> = (self.batches.iter())
            .map(|b| muon::step_scalars(&self.settings.muon[b.group], b, t, eta))
            .collect();
        let mut adam: Vec<AdamStep> = (self.settings.adam.iter())
            .map(|cfg| AdamStep::from(cfg.scalars_at_rate(t, eta)))
            .collect();
        // The buffers hold at least one of each (a binding is never empty).
        muon.resize(muon.len().max(1), MuonStep::default());
        adam.resize(adam.len().max(1), AdamStep::default());
        let mut bytes = bytemuck::cast_slice::<_, u8>(&muon).to_vec();
        let split = bytes.len() as u64;
        bytes.extend_from_slice(bytemuck::cast_slice(&adam));
        (bytes, split)
    }

    /// Copies step `t`'s scalars into the step buffers, in `encoder`'s order.
    fn write_step_scalars(&self, encoder: &mut wgpu::CommandEncoder, t: u64, eta: f64) {
        let (bytes, split) = self.step_scalars(t, eta);
        // A fresh staging buffer per step keeps each recorded step's scalars its own.
        let staging = self
            .ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("step scalars staging"),
                contents: &bytes,
                usage: wgpu::BufferUsages::COPY_SRC,
            });
        encoder.copy_buffer_to_buffer(&staging, 0, &self.steps.muon, 0, split);
        let rest = bytes.len() as u64 - split;
        encoder.copy_buffer_to_buffer(&staging, split, &self.steps.adam, 0, rest);
    }

    /// Counts a call to `step` and puts its scalars in place, in `encoder`'s order; whether it
    /// is an update (not, between the updates of gradient accumulation). On error nothing
    /// changes.
    fn begin_step(&mut self, encoder: &mut wgpu::CommandEncoder) -> Result<bool> {
        let keras = &self.settings.keras;
        let k = self.extras.calls;
        let update = keras.is_update(k);
        if update {
            let eta = keras.rate_factor(k)?;
            // Saturating: 2⁶⁴ steps are never reached, and the scalars stay finite for any count.
            self.step = self.step.saturating_add(1);
            match self.skip {
                Some(_) => self.begin_skip_step(encoder, eta),
                None => self.write_step_scalars(encoder, self.step, eta),
            }
        }
        let keras = &self.settings.keras;
        self.extras
            .write_ema_step(&self.ctx.device, encoder, keras, k);
        self.extras.calls += 1;
        Ok(update)
    }

    /// The launches of a call: the whole step, or only the accumulation between updates.
    fn launches(&self, update: bool) -> &[Dispatch] {
        if update {
            &self.dispatches
        } else {
            &self.accumulate_only
        }
    }

    /// Records one optimizer step into `encoder`: no submit, no readback. The gradients must be
    /// in the gradient buffers when the encoder runs. Several steps may be recorded before one submit.
    ///
    /// Under the `skip_step` policy the GPU chooses the step scalars (see
    /// [`NonFinitePolicy`](super::NonFinitePolicy)); record at most
    /// [`SKIP_STEP_WINDOW`](super::SKIP_STEP_WINDOW) steps between two submits there.
    ///
    /// Errors, recording nothing: a learning-rate schedule that yields a non-finite rate
    /// (naming `lr_schedule`).
    pub fn record_step(&mut self, encoder: &mut wgpu::CommandEncoder) -> Result<&StepStats> {
        let update = self.begin_step(encoder)?;
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("muon-wgpu step"),
            timestamp_writes: None,
        });
        for d in self.launches(update) {
            d.record(&mut pass);
        }
        drop(pass);
        Ok(&self.stats)
    }

    /// Records one step like [`Optimizer::record_step`], but each dispatch in a compute pass of
    /// its own that writes timestamps `2i` and `2i + 1` of `queries` (which needs
    /// `2 × dispatches` entries and the `TIMESTAMP_QUERY` feature). Returns the dispatch labels.
    /// For profiling: separate passes cost a little more than the one pass of a normal step.
    pub fn record_step_timed(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        queries: &wgpu::QuerySet,
    ) -> Result<Vec<&'static str>> {
        let update = self.begin_step(encoder)?;
        for (i, d) in self.launches(update).iter().enumerate() {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(d.label),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: queries,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            d.record(&mut pass);
        }
        Ok(self.launches(update).iter().map(|d| d.label).collect())
    }

    /// Records and submits one step. Returns without waiting for the GPU.
    ///
    /// Errors, with nothing submitted: a parameter whose gradient the host wrote before the
    /// last step but not since ([`Error::StaleGradient`](crate::Error::StaleGradient), unless
    /// [`Optimizer::allow_stale_gradients`]); a lost device or an earlier GPU error. A GPU
    /// error of this step's own submit is returned too (natively; on the web by the next
    /// call). Under `skip_step`, once every [`SKIP_STEP_WINDOW`](super::SKIP_STEP_WINDOW)
    /// steps without a readback this waits for the GPU to read the step count back (on the
    /// web it returns an error asking for `skippedSteps()` instead).
    pub fn step(&mut self) -> Result<wgpu::SubmissionIndex> {
        self.ctx.health().check()?;
        self.check_fresh_gradients()?;
        if self.skip_window_full() {
            #[cfg(not(target_arch = "wasm32"))]
            futures::executor::block_on(self.sync_skips())?;
            #[cfg(target_arch = "wasm32")]
            return Err(crate::Error::Gpu {
                operation: "step (skip_step policy)".into(),
                message: format!(
                    "{} steps without a readback: await skippedSteps() first",
                    super::SKIP_STEP_WINDOW
                ),
            });
        }
        let ctx = self.ctx.clone();
        let (before, calls) = (self.step, self.extras.calls);
        let result = ctx.scoped("step", || {
            let mut encoder = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("muon-wgpu step"),
                });
            self.record_step(&mut encoder)?;
            Ok(ctx.queue.submit([encoder.finish()]))
        });
        match &result {
            Ok(_) => self.mark_gradients_used(),
            Err(_) => {
                let recorded = self.step != before;
                self.step = before;
                self.extras.calls = calls;
                if let (true, Some(skip)) = (recorded, &self.skip) {
                    let mut c = skip.counts();
                    c.recorded = c.recorded.saturating_sub(1);
                }
            }
        }
        result
    }
}
