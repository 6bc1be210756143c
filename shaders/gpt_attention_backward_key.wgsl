#import gpt_attention_backward_bindings
// Backward of gpt_attention.wgsl, second pass, one invocation per (sequence, head, key j), after
// the query pass wrote ds:
//   dk_j = sum_{i >= j} ds_ij q_i / sqrt(d)      dv_j = sum_{i >= j} p_ij dy_i

@group(0) @binding(4) var<storage, read> dscores: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let job = task(gid, groups);
    if job.w == 0u {
        return;
    }
    let s = job.x;
    let h = job.y;
    let j = job.z;
    let t = dims.positions;
    let row = s * t + j;
    let head = (s * dims.heads + h) * t;
    let k = qkv_at(1u, row, h);
    let v = qkv_at(2u, row, h);
    for (var e = 0u; e < dims.head_size; e++) {
        var dk = 0.0;
        var dv = 0.0;
        for (var i = j; i < t; i++) {
            let at = (head + i) * t + j;
            dk = fma(dscores[at], qkv[qkv_at(0u, s * t + i, h) + e], dk);
            dv = fma(probs[at], dy[row_at(s * t + i, h) + e], dv);
        }
        dqkv[k + e] = dk * dims.scale;
        dqkv[v + e] = dv;
    }
}
