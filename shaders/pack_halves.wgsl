// The f16 copy of an f32 buffer that the f16 Newton-Schulz variants read their operands from:
// halves[i] holds values[4i .. 4i + 4], two per u32 (round to nearest even; the arithmetic
// stays f32, only the stored operands are rounded).

struct PackDims {
    len4: u32,          // vec4s to convert
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> dims: PackDims;
@group(0) @binding(1) var<storage, read> values: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> halves: array<vec2<u32>>;

// Invocations stride over the buffer beyond the (capped) grid.
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let width = groups.x * 256u;
    let stride = width * groups.y;
    for (var i = gid.y * width + gid.x; i < dims.len4; i += stride) {
        let v = values[i];
        halves[i] = vec2(pack2x16float(v.xy), pack2x16float(v.zw));
    }
}
