#import gpt_embedding_dims
// Gradients of the embedding tables, written over their gradient buffers; one invocation per
// table element, each summing its rows (no float atomics in WGSL, and the tables are small):
//   dwte[v, c] = sum over n with token[n] = v of dx[n, c]
//   dwpe[p, c] = sum over sequences s of dx[s positions + p, c]

@group(0) @binding(2) var<storage, read> dx: array<f32>;
@group(0) @binding(3) var<storage, read_write> dwte: array<f32>;
@group(0) @binding(4) var<storage, read_write> dwpe: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.y * groups.x * 256u + gid.x;
    let token_cells = dims.vocab * dims.width;
    if idx < token_cells {
        let v = idx / dims.width;
        let c = idx % dims.width;
        var sum = 0.0;
        for (var n = 0u; n < dims.rows; n++) {
            if tokens[n] == v {
                sum += dx[n * dims.width + c];
            }
        }
        dwte[idx] = sum;
        return;
    }
    let j = idx - token_cells;
    if j >= dims.positions * dims.width {
        return;
    }
    let p = j / dims.width;
    let c = j % dims.width;
    var sum = 0.0;
    for (var n = p; n < dims.rows; n += dims.positions) {
        sum += dx[n * dims.width + c];
    }
    dwpe[j] = sum;
}
