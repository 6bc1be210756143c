// Mean squared error of outputs y against targets t (rows x cols), one invocation per row:
//   loss_r = sum_c (y - t)^2 / cols          (the mean over valid rows is PyTorch's MSELoss)
//   dy_r   = 2 (y - t) / (cols * valid)
//   correct_r = (first argmax of y_r == first argmax of t_r), for one-hot regression targets
// Rows at or past `valid` (padding of a short batch) get zero loss and zero gradient.

struct LossDims {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: LossDims;
@group(0) @binding(1) var<storage, read> outputs: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
// [valid rows, history slot]
@group(0) @binding(3) var<storage, read> batch: array<u32>;
@group(0) @binding(4) var<storage, read_write> doutputs: array<f32>;
// [loss, correct] per row
@group(0) @binding(5) var<storage, read_write> row_stats: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if r >= dims.rows {
        return;
    }
    let base = r * dims.cols;
    let valid = batch[0];
    if r >= valid {
        for (var c = 0u; c < dims.cols; c++) {
            doutputs[base + c] = 0.0;
        }
        row_stats[2u * r] = 0.0;
        row_stats[2u * r + 1u] = 0.0;
        return;
    }
    let scale = 2.0 / (f32(dims.cols) * f32(valid));
    var sum = 0.0;
    var best_y = 0u;
    var best_t = 0u;
    for (var c = 0u; c < dims.cols; c++) {
        let y = outputs[base + c];
        let t = targets[base + c];
        let d = y - t;
        sum = fma(d, d, sum);
        doutputs[base + c] = d * scale;
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
