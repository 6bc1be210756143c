// Imported by momentum_nd.wgsl and muon_update_nd.wgsl: how the elements of a run of
// same-shape parameters map to matrices, for any rank (optax's MuonDimensionNumbers). Each
// stored axis is a batch (0), reduction (1, the row) or output (2, the column) axis with a weight
// in its number; slice s of parameter k is workspace matrix k * slices + s.

struct NdDims {
    len: u32,          // elements of one parameter
    count: u32,        // parameters in this dispatch
    first: u32,        // index of the first one in the batch (momentum, workspace)
    src_stride: u32,   // elements between parameters in the gradient / parameter buffer
    mom_stride: u32,   // u32 words between parameters in the momentum buffer
    batch: u32,        // which MuonStep to read
    rank: u32,
    dtype: u32,        // momentum storage: 0 f32, 1 bf16, 2 f16 (two per u32)
    slices: u32,       // matrices per parameter
    transposed: u32,   // 1 when rows > cols (the workspace holds the wide view)
    ws_cols: u32,      // elements per row of the workspace view
    ws_mat: u32,       // elements between workspace matrices
    ws_base: u32,      // element offset of the batch in the workspace
    keep_u: u32,       // 1: also keep U (adaptive), and scale the update by the inner product
    ip_base: u32,      // offset of the batch's inner products
    _pad: u32,
    shape: array<vec4<u32>, 2>,
    role: array<vec4<u32>, 2>,
    place: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> dims: NdDims;

// Workspace index of element e of parameter `member` (of the batch).
fn workspace_index(member: u32, element: u32) -> u32 {
    var e = element;
    var at = vec3<u32>(0u);
    for (var a = i32(dims.rank) - 1; a >= 0; a--) {
        let size = dims.shape[a / 4][a % 4];
        let i = e % size;
        e = e / size;
        at[dims.role[a / 4][a % 4]] += i * dims.place[a / 4][a % 4];
    }
    var xi = at.y * dims.ws_cols + at.z;
    if dims.transposed != 0u {
        xi = at.z * dims.ws_cols + at.y;
    }
    return dims.ws_base + (member * dims.slices + at.x) * dims.ws_mat + xi;
}
