// Imported by the kernels that run one workgroup per matrix over a table of batches: the
// importer declares `batches`, an array of structs with a `count` field (matrices in the batch).

// (batch, matrix within it) of workgroup `index`; batch is past the table when none is left.
// Uniform per workgroup, so the barriers of a reduction after it stay in uniform control flow.
fn locate_matrix(index: u32) -> vec2<u32> {
    var matrix = index;
    var b = 0u;
    let count = arrayLength(&batches);
    loop {
        if b >= count || matrix < batches[b].count {
            break;
        }
        matrix -= batches[b].count;
        b += 1u;
    }
    return vec2(b, matrix);
}
