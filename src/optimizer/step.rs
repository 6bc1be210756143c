//! A step at run time: the step scalars of step `t`, written once, then the recorded launches
//! replayed in one compute pass.

use wgpu::util::DeviceExt;

use crate::error::Result;
use crate::keras_options;
use crate::kernels::{AdamStep, Dispatch, MuonStep};

use super::{muon, Optimizer, StepStats};

impl Optimizer {
    /// The step scalars of step `t`: one [`MuonStep`] per Muon batch, one [`AdamStep`] per
    /// AdamW group, as the bytes of one staging buffer (Muon first).
    /// Every learning rate is multiplied by `eta`, the schedule's factor ([`crate::schedule`]).
    fn step_scalars(&self, t: u64, eta: f64) -> (Vec<u8>, u64) {
        let mut muon: Vec<MuonStep> = (self.batches.iter())
            .map(|b| muon::step_scalars(&self.settings.muon[b.group], b, t, eta))
            .collect();
        let mut adam: Vec<AdamStep> = (self.settings.adam.iter())
            .map(|cfg| {
                AdamStep::from(keras_options::adam_scalars_at_rate(
                    cfg,
                    cfg.scalars(t),
                    eta,
                ))
            })
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

    /// Counts a call to `step` and writes its scalars into `encoder`; whether it is an update
    /// (not, between the updates of gradient accumulation). On error nothing changes.
    fn begin_step(&mut self, encoder: &mut wgpu::CommandEncoder) -> Result<bool> {
        let options = &self.settings.options;
        let k = self.extras.calls;
        let update = options.is_update(k);
        if update {
            let eta = options.rate_factor(k)?;
            self.step += 1;
            self.write_step_scalars(encoder, self.step, eta);
        }
        let options = &self.settings.options;
        self.extras
            .write_ema_step(&self.ctx.device, encoder, options, k);
        self.extras.calls += 1;
        Ok(update)
    }

    /// The launches of a call: the whole step, or only the accumulation between updates.
    fn launches(&self, update: bool) -> &[Dispatch] {
        if update {
            &self.dispatches
        } else {
            &self.extras.accumulate_only
        }
    }

    /// Records one optimizer step into `encoder`: no submit, no readback. The gradients must be
    /// in the gradient buffers when the encoder runs. Several steps may be recorded before one submit.
    ///
    /// # Panics
    /// When a learning-rate schedule yields a non-finite rate; [`Optimizer::try_record_step`]
    /// returns that error instead.
    pub fn record_step(&mut self, encoder: &mut wgpu::CommandEncoder) -> &StepStats {
        if let Err(e) = self.try_record_step(encoder) {
            panic!("{e}");
        }
        &self.stats
    }

    /// [`Optimizer::record_step`], with a schedule's non-finite rate as an error (naming
    /// `lr_schedule`) that records nothing.
    pub fn try_record_step(&mut self, encoder: &mut wgpu::CommandEncoder) -> Result<&StepStats> {
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
    ) -> Vec<&'static str> {
        let update = self.begin_step(encoder).unwrap_or_else(|e| panic!("{e}"));
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
        self.launches(update).iter().map(|d| d.label).collect()
    }

    /// Records and submits one step. Returns without waiting for the GPU.
    ///
    /// # Panics
    /// When a learning-rate schedule yields a non-finite rate; [`Optimizer::try_step`] returns
    /// that error instead.
    pub fn step(&mut self) -> wgpu::SubmissionIndex {
        self.try_step().unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Optimizer::step`], with a schedule's non-finite rate as an error (naming `lr_schedule`)
    /// that submits nothing and changes nothing.
    pub fn try_step(&mut self) -> Result<wgpu::SubmissionIndex> {
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("muon-wgpu step"),
            });
        self.try_record_step(&mut encoder)?;
        Ok(self.ctx.queue.submit([encoder.finish()]))
    }
}
