//! A step at run time: the step scalars of step `t`, written once, then the recorded launches
//! replayed in one compute pass.

use wgpu::util::DeviceExt;

use crate::kernels::{AdamStep, MuonStep};

use super::{muon, Optimizer, StepStats};

impl Optimizer {
    /// The step scalars of step `t`: one [`MuonStep`] per Muon batch, one [`AdamStep`] per
    /// AdamW group, as the bytes of one staging buffer (Muon first).
    fn step_scalars(&self, t: u64) -> (Vec<u8>, u64) {
        let mut muon: Vec<MuonStep> = (self.batches.iter())
            .map(|b| muon::step_scalars(&self.settings.muon[b.group], b, t))
            .collect();
        let mut adam: Vec<AdamStep> = (self.settings.adam.iter())
            .map(|cfg| AdamStep::from(cfg.scalars(t)))
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
    fn write_step_scalars(&self, encoder: &mut wgpu::CommandEncoder, t: u64) {
        let (bytes, split) = self.step_scalars(t);
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

    /// Records one optimizer step into `encoder`: no submit, no readback. The gradients must be
    /// in the gradient buffers when the encoder runs. Several steps may be recorded before one submit.
    pub fn record_step(&mut self, encoder: &mut wgpu::CommandEncoder) -> &StepStats {
        self.step += 1;
        self.write_step_scalars(encoder, self.step);
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("muon-wgpu step"),
            timestamp_writes: None,
        });
        for d in &self.dispatches {
            d.record(&mut pass);
        }
        drop(pass);
        &self.stats
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
        self.step += 1;
        self.write_step_scalars(encoder, self.step);
        for (i, d) in self.dispatches.iter().enumerate() {
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
        self.dispatches.iter().map(|d| d.label).collect()
    }

    /// Records and submits one step. Returns without waiting for the GPU.
    pub fn step(&mut self) -> wgpu::SubmissionIndex {
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("muon-wgpu step"),
            });
        self.record_step(&mut encoder);
        self.ctx.queue.submit([encoder.finish()])
    }
}
