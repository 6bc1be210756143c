// The model's matrix products (the GPT's and the MLP's linear layers), one chunk of k per wid.z:
//   C = op(L)·op(R) (+ D, or ⊙ act'(D))   (splits = 1: written over C)
//   P_z = op(L)[:, chunk z]·op(R)[chunk z, :]   (splits > 1: partials, summed by nn_split_k_sum)
// op(L) = L (stored m x k) or L^T (TRANSPOSE_L, stored k x m);
// op(R) = R (stored k x n) or R^T (TRANSPOSE_R, stored n x k).
// Why it looks like this: a CPU driver (lavapipe, llvmpipe, SwiftShader) runs 8 invocations as
// one SIMD register and turns every buffer load into a loop over the lanes, so loads per fma
// decide the speed; and a GPU needs many workgroups. So no workgroup memory and no barriers:
// each invocation keeps ROW_BLOCKS x COL_BLOCKS blocks of 4 x 4 of C in mat4x4s, loads 4 vec4s
// of each operand's block per 4 steps of k (whichever way it is stored), no bounds branch
// around a load (clamped, then zeroed), and adds the blocks' products: 4 (R + C) loads per
// 64 R C fma. GPUs take 1 x 1 blocks in 8 x 8 workgroups (32 x 32 tiles, many workgroups); CPU
// drivers 4 x 2 blocks in workgroups of 8 (16 x 64 tiles, 16 fma per load instead of 8).
// Split-K (wid.z) gives the skinny products (weight gradients, k = tokens) enough workgroups.
// The host keeps every dimension a vec4 load or store runs along a multiple of 4 (n; k when an
// operand is stored k-contiguous; m for TRANSPOSE_L).

#import nn_activations

override TRANSPOSE_L: bool = false;
override TRANSPOSE_R: bool = false;
// Blocks of 4 x 4 per invocation (ROW_BLOCKS * COL_BLOCKS <= 16) and the workgroup's shape.
override ROW_BLOCKS: u32 = 1u;
override COL_BLOCKS: u32 = 1u;
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;
const MAX_BLOCKS: u32 = 16u;

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    chunk: u32,     // k per split, a multiple of 4
    splits: u32,
    use_d: u32,     // 1: add D; 2: times act'(D), the layer's pre-activation (splits = 1 only)
    activation: u32, // nn_activations.wgsl's code, for use_d = 2
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> left: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> right: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> addend: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> result: array<vec4<f32>>;

// op(L)'s block: rows i0..i0+3, k kk..kk+3 (zero past m or past `end`), column t = k kk + t.
fn left_block(i0: u32, kk: u32, end: u32) -> mat4x4<f32> {
    var v: array<vec4<f32>, 4>;
    for (var t = 0u; t < 4u; t++) {
        if TRANSPOSE_L {
            // Column t of the block: L[kk + t, i0..i0+3].
            let at = (min(kk + t, end - 1u) * dims.m + min(i0, dims.m - 4u)) / 4u;
            v[t] = select(vec4<f32>(), left[at], kk + t < end && i0 < dims.m);
        } else {
            // Row t of the block: L[i0 + t, kk..kk+3].
            let at = (min(i0 + t, dims.m - 1u) * dims.k + kk) / 4u;
            v[t] = select(vec4<f32>(), left[at], i0 + t < dims.m);
        }
    }
    let block = mat4x4(v[0], v[1], v[2], v[3]);
    if TRANSPOSE_L {
        return block;
    }
    return transpose(block);
}

// op(R)'s block: k kk..kk+3, columns j0..j0+3, column t = column j0 + t.
fn right_block(j0: u32, kk: u32, end: u32) -> mat4x4<f32> {
    var v: array<vec4<f32>, 4>;
    for (var t = 0u; t < 4u; t++) {
        if TRANSPOSE_R {
            // Column t of the block: R[j0 + t, kk..kk+3].
            let at = (min(j0 + t, dims.n - 1u) * dims.k + kk) / 4u;
            v[t] = select(vec4<f32>(), right[at], j0 + t < dims.n);
        } else {
            // Row t of the block: R[kk + t, j0..j0+3].
            let at = (min(kk + t, end - 1u) * dims.n + min(j0, dims.n - 4u)) / 4u;
            v[t] = select(vec4<f32>(), right[at], kk + t < end && j0 < dims.n);
        }
    }
    let block = mat4x4(v[0], v[1], v[2], v[3]);
    if TRANSPOSE_R {
        return block;
    }
    return transpose(block);
}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = 4u * ROW_BLOCKS * gid.y;
    let col0 = 4u * COL_BLOCKS * gid.x;
    let start = gid.z * dims.chunk;
    let end = min(start + dims.chunk, dims.k);
    // acc[b][j][i] = C[row0 + 4 (b / COL_BLOCKS) + i, col0 + 4 (b % COL_BLOCKS) + j]
    var acc: array<mat4x4<f32>, MAX_BLOCKS>;
    for (var kk = start; kk < end; kk += 4u) {
        var rights: array<mat4x4<f32>, MAX_BLOCKS>;
        for (var c = 0u; c < COL_BLOCKS; c++) {
            rights[c] = right_block(col0 + 4u * c, kk, end);
        }
        for (var r = 0u; r < ROW_BLOCKS; r++) {
            let block = left_block(row0 + 4u * r, kk, end);
            for (var c = 0u; c < COL_BLOCKS; c++) {
                acc[r * COL_BLOCKS + c] += block * rights[c];
            }
        }
    }
    // Rows of C as vec4s: row i of block b is column i of its transpose.
    let base = gid.z * dims.m * dims.n;
    for (var b = 0u; b < ROW_BLOCKS * COL_BLOCKS; b++) {
        let rows = transpose(acc[b]);
        let col = col0 + 4u * (b % COL_BLOCKS);
        for (var i = 0u; i < 4u; i++) {
            let row = row0 + 4u * (b / COL_BLOCKS) + i;
            if row < dims.m && col < dims.n {
                let at = (row * dims.n + col) / 4u;
                result[base / 4u + at] = epilogue(rows[i], at, dims.use_d, dims.activation);
            }
        }
    }
}

// C's vec4 at `at` after the epilogue: + D (mode 1) or ⊙ act'(D) (mode 2, a fused activation
// backward: the input gradient of a layer times its activation's derivative).
fn epilogue(v: vec4<f32>, at: u32, mode: u32, activation: u32) -> vec4<f32> {
    if mode == 1u {
        return v + addend[at];
    }
    if mode == 2u {
        let z = addend[at];
        return v * vec4(
            activate_grad(activation, z.x),
            activate_grad(activation, z.y),
            activate_grad(activation, z.z),
            activate_grad(activation, z.w),
        );
    }
    return v;
}
