// Split-K for the model's products (nn_matmul.wgsl): sums the partial products of the chunks
// of k in chunk order, so the result is the same bit for bit every run, and adds the addend:
//   C = sum_z P_z (+ D, or ⊙ act'(D))
// One vec4 of C per invocation; its loop runs over the chunks only.

#import nn_activations

struct Dims {
    len: u32,       // vec4s of C (m * n / 4)
    splits: u32,
    use_d: u32,     // 1: + D; 2: ⊙ act'(D)
    activation: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> partials: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> addend: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> result: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let e = gid.y * groups.x * 256u + gid.x;
    if e >= dims.len {
        return;
    }
    var sum = vec4<f32>();
    for (var z = 0u; z < dims.splits; z++) {
        sum += partials[z * dims.len + e];
    }
    if dims.use_d == 1u {
        sum += addend[e];
    }
    if dims.use_d == 2u {
        let z = addend[e];
        for (var c = 0u; c < 4u; c++) {
            sum[c] *= activate_grad(dims.activation, z[c]);
        }
    }
    result[e] = sum;
}
