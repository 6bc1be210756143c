// Split-K for the Newton-Schulz products: sums the partial products of one product's chunks of
// its inner dimension, in chunk order (so the result is the same every run), and applies the
// product's epilogue:  C = alpha * sum_c partial_c + beta * D + diag * I.
// Why: Mesa's llvmpipe (lavapipe, llvmpipe GL) stops an invocation's loops after 65535
// iterations in all, which silently cut the products' k loop of very long rows; the products
// of a long k therefore run one chunk of k per problem (src/kernels/ns.rs) into `partials`.

struct SplitSum {
    len4: u32,      // vec4s of one chunk's partials (count * rows * cols / 4)
    chunks: u32,
    mat: u32,       // elements per matrix of C in the partials (rows * cols)
    cols: u32,      // elements per row of C and D (a multiple of 4)
    c_base: u32,
    c_mat: u32,
    d_base: u32,
    d_mat: u32,
    use_d: u32,
    half: u32,      // 1: also write C's f16 copy (the f16 product variants read it)
    alpha: f32,
    beta: f32,
    diag: f32,
    base4: u32,     // vec4 offset of the first chunk's partials
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> s: SplitSum;
@group(0) @binding(1) var<storage, read> partials: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> addend: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> result: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> result_half: array<vec2<u32>>;

// One vec4 of C per invocation; its loop runs over the chunks only.
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.y * groups.x * 256u + gid.x;
    if i >= s.len4 {
        return;
    }
    var sum = vec4<f32>();
    for (var c = 0u; c < s.chunks; c++) {
        sum += partials[s.base4 + c * s.len4 + i];
    }
    let e = 4u * i;
    let matrix = e / s.mat;
    let at = e % s.mat;
    var v = s.alpha * sum;
    if s.use_d != 0u {
        v = fma(vec4(s.beta), addend[(s.d_base + matrix * s.d_mat + at) / 4u], v);
    }
    // The diagonal element of this row, if it is among these four columns.
    let row = at / s.cols;
    let col = at % s.cols;
    if row >= col && row < col + 4u {
        v[row - col] += s.diag;
    }
    let out = (s.c_base + matrix * s.c_mat + at) / 4u;
    result[out] = v;
    if s.half != 0u {
        result_half[out] = vec2(pack2x16float(v.xy), pack2x16float(v.zw));
    }
}
