#import gpt_embedding_dims
// Token and learned position embedding of a batch of sequences (rows = sequences x positions):
//   x[n, c] = wte[token[n], c] + wpe[n mod positions, c]
// Tokens are checked on the host; the clamp keeps a bad one inside the table anyway.

@group(0) @binding(2) var<storage, read> wte: array<f32>;
@group(0) @binding(3) var<storage, read> wpe: array<f32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.y * groups.x * 256u + gid.x;
    if idx >= dims.rows * dims.width {
        return;
    }
    let n = idx / dims.width;
    let c = idx % dims.width;
    let token = min(tokens[n], dims.vocab - 1u);
    x[idx] = wte[token * dims.width + c] + wpe[(n % dims.positions) * dims.width + c];
}
