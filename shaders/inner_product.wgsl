#import workgroup_reduce
// optax's adaptive scale: <U, O> = sum of U * O over a whole parameter (all its slices, which
// lie one after another in the workspace; the padding is zero in O). One workgroup per parameter.

struct InnerDims {
    len: u32,    // workspace elements of one parameter (slices * padded matrix)
    count: u32,  // parameters
    base: u32,   // workspace offset of the first
    out: u32,    // index of its result
}

@group(0) @binding(0) var<uniform> dims: InnerDims;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> o: array<f32>;
@group(0) @binding(3) var<storage, read_write> inner: array<f32>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let k = wid.x + wid.y * groups.x;
    if k >= dims.count {
        return;
    }
    let base = dims.base + k * dims.len;
    var sum = 0.0;
    for (var e = lid; e < dims.len; e += 256u) {
        sum = fma(u[base + e], o[base + e], sum);
    }
    let total = workgroup_sum(lid, sum);
    if lid == 0u {
        inner[dims.out + k] = total;
    }
}
