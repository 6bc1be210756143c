//! `--profile`: the GPU time of every kernel of one training step, from timestamp queries.

use muon_wgpu::nn::gpt::{GptTrainer, TokenBatchRef};
use muon_wgpu::nn::text::TokenBatch;
use muon_wgpu::GpuContext;

/// GPU time per kernel label over one timed training step: `(label, launches, ms)`.
pub fn step(
    ctx: &GpuContext,
    trainer: &mut GptTrainer,
    batch: &TokenBatch,
) -> Result<Vec<(String, usize, f64)>, String> {
    muon_wgpu::bench::needs_timestamps(ctx)?;
    let model = trainer.train_plan().ops().len();
    let optimizer = trainer.optimizer().stats().dispatches;
    let query_set = |n: usize| {
        ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("gpt profile"),
            ty: wgpu::QueryType::Timestamp,
            count: 2 * n as u32,
        })
    };
    let (model_queries, optimizer_queries) = (query_set(model), query_set(optimizer));
    let buffer = |n: usize, usage| {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("gpt profile"),
            size: 16 * n as u64,
            usage,
            mapped_at_creation: false,
        })
    };
    let resolve = wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC;
    let read = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
    // The optimizer's timestamps start at the next resolve alignment (256 bytes) after the model's.
    let second = (16 * model as u64).next_multiple_of(wgpu::QUERY_RESOLVE_BUFFER_ALIGNMENT);
    let total = second as usize / 16 + optimizer;
    let (resolved, readable) = (buffer(total, resolve), buffer(total, read));
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    let (model_labels, optimizer_labels) = trainer
        .record_step_timed(
            &mut encoder,
            TokenBatchRef {
                inputs: &batch.inputs,
                targets: &batch.targets,
            },
            &model_queries,
            &optimizer_queries,
        )
        .map_err(|e| e.to_string())?;
    encoder.resolve_query_set(&model_queries, 0..2 * model as u32, &resolved, 0);
    encoder.resolve_query_set(
        &optimizer_queries,
        0..2 * optimizer as u32,
        &resolved,
        second,
    );
    encoder.copy_buffer_to_buffer(&resolved, 0, &readable, 0, 16 * total as u64);
    ctx.queue.submit([encoder.finish()]);
    readable.slice(..).map_async(wgpu::MapMode::Read, |_| {});
    ctx.wait_idle();
    let labels = model_labels
        .iter()
        .map(|l| format!("model {l}"))
        .chain(optimizer_labels.iter().map(|l| format!("optimizer {l}")));
    let starts = (0..model).chain((0..optimizer).map(|i| second as usize / 16 + i));
    let mut out = muon_wgpu::bench::kernel_times(ctx, &readable, labels.zip(starts))?;
    out.sort_by(|a, b| b.2.total_cmp(&a.2));
    Ok(out)
}
