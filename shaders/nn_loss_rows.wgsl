// Imported by the per-row loss kernels (nn_mean_squared_error.wgsl, nn_softmax_cross_entropy.wgsl):
// their dims, the batch's valid rows, the gradient they write, the per-row statistics, and the
// rows they skip.

struct LossDims {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: LossDims;
// [valid rows, history slot]
@group(0) @binding(3) var<storage, read> batch: array<u32>;
// The loss's gradient with respect to the kernel's inputs (outputs or logits), rows x cols.
@group(0) @binding(4) var<storage, read_write> dinputs: array<f32>;
// [loss, correct] per row
@group(0) @binding(5) var<storage, read_write> row_stats: array<f32>;

// Whether row `r` holds a sample: not past the rows, and before `valid` (a short batch's
// padding rows get zero loss and zero gradient here).
fn sample_row(r: u32) -> bool {
    if r >= dims.rows {
        return false;
    }
    if r < batch[0] {
        return true;
    }
    for (var c = 0u; c < dims.cols; c++) {
        dinputs[r * dims.cols + c] = 0.0;
    }
    row_stats[2u * r] = 0.0;
    row_stats[2u * r + 1u] = 0.0;
    return false;
}
