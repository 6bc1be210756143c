// The model's matrix products (the GPT's and the MLP's linear layers), one chunk of k per wid.z:
//   C = op(L)·op(R) (+ D)             (splits = 1: written over C)
//   P_z = op(L)[:, chunk z]·op(R)[chunk z, :]   (splits > 1: partials, summed by nn_split_k_sum)
// op(L) = L (stored m x k) or L^T (TRANSPOSE_L, stored k x m);
// op(R) = R (stored k x n) or R^T (TRANSPOSE_R, stored n x k).
// Why it looks like this: a CPU driver (lavapipe, llvmpipe, SwiftShader) runs 8 invocations as
// one SIMD register and turns every buffer load into a loop over the lanes, so loads per fma
// decide the speed; and a GPU needs many workgroups. So no workgroup memory and no barriers:
// each invocation keeps a 4 x 4 block of C in a mat4x4, loads 4 vec4s of each operand per 4
// steps of k (whichever way each is stored) and adds their 4 x 4 product: 8 loads per 64 fma.
// A workgroup of 8 x 8 invocations covers a 32 x 32 tile; split-K (wid.z) gives the skinny
// products (weight gradients, k = tokens) enough workgroups.
// The host keeps every dimension a vec4 load runs along a multiple of 4 (k when an operand is
// stored k-contiguous, m for TRANSPOSE_L, n without TRANSPOSE_R).

override TRANSPOSE_L: bool = false;
override TRANSPOSE_R: bool = false;

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    chunk: u32,     // k per split, a multiple of 4
    splits: u32,
    use_d: u32,     // 1: add D (splits = 1 only)
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> left: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> right: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> addend: array<f32>;
@group(0) @binding(4) var<storage, read_write> result: array<f32>;

// Columns t of op(L)'s block: rows i0..i0+3, k kk..kk+3 (zero past m or past `end`).
fn left_block(i0: u32, kk: u32, end: u32) -> mat4x4<f32> {
    var v: array<vec4<f32>, 4>;
    for (var t = 0u; t < 4u; t++) {
        if TRANSPOSE_L {
            // Column t of the block: L[kk + t, i0..i0+3].
            if kk + t < end && i0 < dims.m {
                v[t] = left[((kk + t) * dims.m + i0) / 4u];
            }
        } else {
            // Row t of the block: L[i0 + t, kk..kk+3].
            if i0 + t < dims.m {
                v[t] = left[((i0 + t) * dims.k + kk) / 4u];
            }
        }
    }
    let block = mat4x4(v[0], v[1], v[2], v[3]);
    if TRANSPOSE_L {
        return block;
    }
    return transpose(block);
}

// Columns j of op(R)'s block: k kk..kk+3, columns j0..j0+3.
fn right_block(j0: u32, kk: u32, end: u32) -> mat4x4<f32> {
    var v: array<vec4<f32>, 4>;
    for (var t = 0u; t < 4u; t++) {
        if TRANSPOSE_R {
            // Column t of the block: R[j0 + t, kk..kk+3].
            if j0 + t < dims.n {
                v[t] = right[((j0 + t) * dims.k + kk) / 4u];
            }
        } else {
            // Row t of the block: R[kk + t, j0..j0+3].
            if kk + t < end && j0 < dims.n {
                v[t] = right[((kk + t) * dims.n + j0) / 4u];
            }
        }
    }
    let block = mat4x4(v[0], v[1], v[2], v[3]);
    if TRANSPOSE_R {
        return block;
    }
    return transpose(block);
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i0 = 4u * gid.y;
    let j0 = 4u * gid.x;
    let start = gid.z * dims.chunk;
    let end = min(start + dims.chunk, dims.k);
    // acc[j][i] = C[i0 + i, j0 + j]
    var acc = mat4x4<f32>();
    for (var kk = start; kk < end; kk += 4u) {
        acc += left_block(i0, kk, end) * right_block(j0, kk, end);
    }
    let base = gid.z * dims.m * dims.n;
    for (var j = 0u; j < 4u; j++) {
        for (var i = 0u; i < 4u; i++) {
            let row = i0 + i;
            let col = j0 + j;
            if row < dims.m && col < dims.n {
                let at = row * dims.n + col;
                var v = acc[j][i];
                if dims.use_d != 0u {
                    v += addend[at];
                }
                result[base + at] = v;
            }
        }
    }
}
