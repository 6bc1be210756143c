#import nn_loss_rows
// Mean squared error of outputs y against targets t (rows x cols), one invocation per row:
//   loss_r = sum_c (y - t)^2 / cols          (the mean over valid rows is PyTorch's MSELoss)
//   dy_r   = 2 (y - t) / (cols * valid)
//   correct_r = (first argmax of y_r == first argmax of t_r), for one-hot regression targets
// Rows at or past `valid` (padding of a short batch) get zero loss and zero gradient
// (nn_loss_rows.wgsl).

@group(0) @binding(1) var<storage, read> outputs: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if !sample_row(r) {
        return;
    }
    let base = r * dims.cols;
    let valid = batch[0];
    let scale = 2.0 / (f32(dims.cols) * f32(valid));
    var sum = 0.0;
    var best_y = 0u;
    var best_t = 0u;
    for (var c = 0u; c < dims.cols; c++) {
        let y = outputs[base + c];
        let t = targets[base + c];
        let d = y - t;
        sum = fma(d, d, sum);
        dinputs[base + c] = d * scale;
        if y > outputs[base + best_y] {
            best_y = c;
        }
        if t > targets[base + best_t] {
            best_t = c;
        }
    }
    row_stats[2u * r] = sum / f32(dims.cols);
    row_stats[2u * r + 1u] = select(0.0, 1.0, best_y == best_t);
}
