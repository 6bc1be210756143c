// Bias gradient: the column sums of dL/dz (rows x cols), written over the bias' gradient buffer:
//   db[c] = sum_r dz[r, c]
// One workgroup per 16 columns; its 16 rows of invocations stride the batch, then reduce.

struct BiasGradDims {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: BiasGradDims;
@group(0) @binding(1) var<storage, read> dz: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let c = wid.x * 16u + lid.x;
    var sum = 0.0;
    if c < dims.cols {
        for (var r = lid.y; r < dims.rows; r += 16u) {
            sum += dz[r * dims.cols + c];
        }
    }
    partial[lid.y * 16u + lid.x] = sum;
    workgroupBarrier();
    for (var width = 8u; width > 0u; width >>= 1u) {
        if lid.y < width {
            partial[lid.y * 16u + lid.x] += partial[(lid.y + width) * 16u + lid.x];
        }
        workgroupBarrier();
    }
    if lid.y == 0u && c < dims.cols {
        db[c] = partial[lid.x];
    }
}
