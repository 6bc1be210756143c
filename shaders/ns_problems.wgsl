// Imported by ns_lanes.wgsl and ns_tiled.wgsl: the problem table of a Newton-Schulz
// product dispatch (every matrix of every shape at once) and which tile a workgroup computes.

struct Problem {
    tiles_begin: u32,   // first tile (workgroup) of this problem in the dispatch
    tiles_end: u32,
    tiles_per_matrix: u32,
    tiles_across: u32,  // tiles per row of C (symmetric: per side)
    k: u32,             // inner dimension (a multiple of 4)
    c_row: u32,         // elements per row of C and D
    use_d: u32,
    diag: f32,          // added to the diagonal of C (the a·I of a Newton-Schulz polynomial)
    l_base: u32,        // element offsets and strides, all multiples of 4
    l_row: u32,
    l_mat: u32,
    r_base: u32,
    r_row: u32,         // SYMMETRIC: stride between rows of R (R^T columns); else between rows of R (k)
    r_mat: u32,
    d_base: u32,
    d_mat: u32,
    c_base: u32,
    c_mat: u32,
    alpha: f32,
    beta: f32,
    _pad1: vec2<u32>,
}

@group(0) @binding(0) var<storage, read> problems: array<Problem>;

// Symmetric products compute only the tiles on or above the diagonal and mirror them.
override SYMMETRIC: bool = true;

struct Tile {
    found: bool,
    problem: u32,
    matrix: u32,
    row0: u32,
    col0: u32,
    mirror: bool,
}

// Which problem, matrix and tile (of `side` x `side` elements) a workgroup computes; symmetric
// problems enumerate the tiles (ti, tj) with ti <= tj row by row.
fn locate(index: u32, side: u32) -> Tile {
    var tile = Tile(false, 0u, 0u, 0u, 0u, false);
    let count = arrayLength(&problems);
    for (var p = 0u; p < count; p++) {
        if index < problems[p].tiles_end {
            let local = index - problems[p].tiles_begin;
            let across = problems[p].tiles_across;
            tile.found = true;
            tile.problem = p;
            tile.matrix = local / problems[p].tiles_per_matrix;
            var t = local % problems[p].tiles_per_matrix;
            if SYMMETRIC {
                var ti = 0u;
                loop {
                    let row_len = across - ti;
                    if t < row_len {
                        break;
                    }
                    t -= row_len;
                    ti += 1u;
                }
                tile.row0 = ti * side;
                tile.col0 = (ti + t) * side;
                tile.mirror = t != 0u;
            } else {
                tile.row0 = (t / across) * side;
                tile.col0 = (t % across) * side;
            }
            break;
        }
    }
    return tile;
}
