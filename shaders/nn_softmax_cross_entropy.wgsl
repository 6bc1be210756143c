#import nn_loss_rows
// Softmax cross-entropy on logits (rows x cols) with integer labels, one invocation per row:
//   loss_r = logsumexp(z_r) - z_r[label_r]
//   dz_r   = (softmax(z_r) - onehot(label_r)) / valid     (the gradient of the mean over valid rows)
//   correct_r = (first argmax of z_r == label_r)
// Rows at or past `valid` (padding of a short batch) get zero loss and zero gradient
// (nn_loss_rows.wgsl).

@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if !sample_row(r) {
        return;
    }
    let base = r * dims.cols;
    let valid = batch[0];
    let label = labels[r];
    var best = 0u;
    var top = logits[base];
    for (var c = 1u; c < dims.cols; c++) {
        let v = logits[base + c];
        if v > top {
            top = v;
            best = c;
        }
    }
    var sum = 0.0;
    for (var c = 0u; c < dims.cols; c++) {
        sum += exp(logits[base + c] - top);
    }
    let scale = 1.0 / f32(valid);
    for (var c = 0u; c < dims.cols; c++) {
        let p = exp(logits[base + c] - top) / sum;
        dinputs[base + c] = (p - select(0.0, 1.0, c == label)) * scale;
    }
    var picked = 0.0;
    if label < dims.cols {
        picked = logits[base + label];
    }
    row_stats[2u * r] = top + log(sum) - picked;
    row_stats[2u * r + 1u] = select(0.0, 1.0, best == label);
}
