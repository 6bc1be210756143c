#import gpt_attention_dims
// Causal multi-head self-attention, one invocation per (sequence, head, query position i):
//   s_ij = q_i . k_j / sqrt(d)   (j <= i)     p_ij = softmax_j(s_ij)     y_i = sum_j p_ij v_j
// p is kept for the backward pass, zero above the diagonal.

@group(0) @binding(2) var<storage, read_write> probs: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

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
    let q = qkv_at(0u, row, h);
    let pbase = ((s * dims.heads + h) * t + i) * t;
    var top = 0.0;
    for (var j = 0u; j <= i; j++) {
        let k = qkv_at(1u, s * t + j, h);
        var dot = 0.0;
        for (var e = 0u; e < dims.head_size; e++) {
            dot = fma(qkv[q + e], qkv[k + e], dot);
        }
        let score = dot * dims.scale;
        probs[pbase + j] = score;
        if j == 0u || score > top {
            top = score;
        }
    }
    var sum = 0.0;
    for (var j = 0u; j <= i; j++) {
        let e = exp(probs[pbase + j] - top);
        probs[pbase + j] = e;
        sum += e;
    }
    let inv = 1.0 / sum;
    for (var j = 0u; j <= i; j++) {
        probs[pbase + j] *= inv;
    }
    for (var j = i + 1u; j < t; j++) {
        probs[pbase + j] = 0.0;
    }
    let out = row_at(row, h);
    for (var e = 0u; e < dims.head_size; e++) {
        var acc = 0.0;
        for (var j = 0u; j <= i; j++) {
            acc = fma(probs[pbase + j], qkv[qkv_at(2u, s * t + j, h) + e], acc);
        }
        y[out + e] = acc;
    }
}
