#import gpt_attention_backward_bindings
// Backward of gpt_attention.wgsl, first pass, one invocation per (sequence, head, query i):
//   dp_ij = dy_i . v_j      ds_ij = p_ij (dp_ij - sum_j' p_ij' dp_ij')      dq_i = sum_j ds_ij k_j / sqrt(d)
// ds (j <= i) is kept for the key pass (gpt_attention_backward_key.wgsl).

@group(0) @binding(4) var<storage, read_write> dscores: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let job = task(gid, groups);
    if job.w == 0u {
        return;
    }
    let s = job.x;
    let h = job.y;
    let i = job.z;
    let t = dims.positions;
    let row = s * t + i;
    let g = row_at(row, h);
    let pbase = ((s * dims.heads + h) * t + i) * t;
    var mean = 0.0;
    for (var j = 0u; j <= i; j++) {
        let v = qkv_at(2u, s * t + j, h);
        var dp = 0.0;
        for (var e = 0u; e < dims.head_size; e++) {
            dp = fma(dy[g + e], qkv[v + e], dp);
        }
        dscores[pbase + j] = dp;
        mean = fma(probs[pbase + j], dp, mean);
    }
    for (var j = 0u; j <= i; j++) {
        dscores[pbase + j] = probs[pbase + j] * (dscores[pbase + j] - mean);
    }
    let q = qkv_at(0u, row, h);
    for (var e = 0u; e < dims.head_size; e++) {
        var acc = 0.0;
        for (var j = 0u; j <= i; j++) {
            acc = fma(dscores[pbase + j], qkv[qkv_at(1u, s * t + j, h) + e], acc);
        }
        dqkv[q + e] = acc * dims.scale;
    }
}
