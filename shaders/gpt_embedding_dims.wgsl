// Imported by gpt_embedding*.wgsl: the shape of an embedding call and its tokens
// (rows = sequences x positions, one token per row).

struct EmbeddingDims {
    rows: u32,
    width: u32,
    positions: u32,
    vocab: u32,
}

@group(0) @binding(0) var<uniform> dims: EmbeddingDims;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
