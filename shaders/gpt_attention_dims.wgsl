// Imported by gpt_attention*.wgsl: the shape of a causal multi-head attention call and where its
// values live. qkv is rows x 3C (q, k, v side by side; head h is columns h d .. (h+1) d of each),
// y and dy are rows x C, p and ds are (sequence, head, i, j) of positions x positions.

struct AttentionDims {
    sequences: u32,
    positions: u32,
    width: u32,       // C
    heads: u32,
    head_size: u32,   // d = C / heads
    scale: f32,       // 1 / sqrt(d)
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: AttentionDims;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;

// Index in qkv of part (0 q, 1 k, 2 v) of head h at row n, element 0.
fn qkv_at(part: u32, n: u32, h: u32) -> u32 {
    return n * 3u * dims.width + part * dims.width + h * dims.head_size;
}

// Index in y or dy of head h at row n, element 0.
fn row_at(n: u32, h: u32) -> u32 {
    return n * dims.width + h * dims.head_size;
}

// The (sequence, head, position) an invocation handles, or false past the end.
fn task(gid: vec3<u32>, groups: vec3<u32>) -> vec4<u32> {
    let idx = gid.y * groups.x * 64u + gid.x;
    let i = idx % dims.positions;
    let sh = idx / dims.positions;
    return vec4<u32>(sh / dims.heads, sh % dims.heads, i, select(0u, 1u, sh < dims.sequences * dims.heads));
}
