#import workgroup_reduce
// Sums the per-row loss and correctness of one batch into one history entry, on one workgroup:
//   history[slot] = (sum of loss_r, sum of correct_r, valid, 0)   over rows r < valid
// The host reads the history back every few steps, so no step waits on a readback.

struct MetricsDims {
    capacity: u32,     // history entries
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> dims: MetricsDims;
// [valid rows, history slot]
@group(0) @binding(1) var<storage, read> batch: array<u32>;
@group(0) @binding(2) var<storage, read> row_stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> history: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
    let valid = batch[0];
    var loss = 0.0;
    var correct = 0.0;
    for (var r = lid; r < valid; r += 256u) {
        loss += row_stats[2u * r];
        correct += row_stats[2u * r + 1u];
    }
    let loss_sum = workgroup_sum(lid, loss);
    let correct_sum = workgroup_sum(lid, correct);
    if lid == 0u {
        history[batch[1] % dims.capacity] = vec4<f32>(loss_sum, correct_sum, f32(valid), 0.0);
    }
}
