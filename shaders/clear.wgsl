// Zeros the first len4 vec4s of a buffer: the Newton-Schulz workspace before a wave when several
// waves share it, since each wave pads its matrices differently and the products need zero
// padding (the momentum kernel writes only a matrix's real entries).

struct ClearDims {
    len4: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> dims: ClearDims;
@group(0) @binding(1) var<storage, read_write> values: array<vec4<f32>>;

// Invocations stride over the buffer beyond the (capped) grid.
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let width = groups.x * 256u;
    let stride = width * groups.y;
    for (var i = gid.y * width + gid.x; i < dims.len4; i += stride) {
        values[i] = vec4<f32>();
    }
}
