// Imported by momentum*.wgsl and muon_update*.wgsl: where a run of same-shape matrices
// lives, and its view in the Newton-Schulz workspace (min x max, tall matrices transposed, rows
// and matrices padded apart; the padding stays zero).

struct MatrixDims {
    rows: u32,        // stored shape of one parameter
    cols: u32,
    count: u32,       // matrices in this dispatch
    first: u32,       // index of the first one in the batch's momentum and workspace
    stride: u32,      // elements between matrices in the gradient (momentum) or parameter (update) buffer
    mat_stride: u32,  // elements between matrices in the momentum buffer (rows * cols)
    batch: u32,       // which MuonStep to read
    transposed: u32,  // 1 when rows > cols
    ws_cols: u32,     // elements per row of the workspace view (0: dense)
    ws_stride: u32,   // elements between matrices in the workspace (0: mat_stride)
    ws_base: u32,     // element offset of the batch in the workspace
}

@group(0) @binding(0) var<uniform> dims: MatrixDims;

// Elements per row of the workspace view.
fn view_cols() -> u32 {
    if dims.ws_cols == 0u {
        return max(dims.rows, dims.cols);
    }
    return dims.ws_cols;
}

// Elements between matrices in the workspace.
fn view_stride() -> u32 {
    if dims.ws_stride == 0u {
        return dims.mat_stride;
    }
    return dims.ws_stride;
}

// Index in the workspace view (ws_cols = view_cols() elements per row) of element (row, col) of
// the stored matrix: transposed for tall matrices.
fn view_index(row: u32, col: u32, ws_cols: u32) -> u32 {
    if dims.transposed != 0u {
        return col * ws_cols + row;
    }
    return row * ws_cols + col;
}
