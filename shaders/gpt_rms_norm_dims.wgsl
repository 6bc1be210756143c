// Imported by gpt_rms_norm*.wgsl: the shape of a row-wise RMSNorm call and its input x
// (rows x cols).

struct NormDims {
    rows: u32,
    cols: u32,
    eps: f32,          // forward only
    accumulate: u32,   // backward only
}

@group(0) @binding(0) var<uniform> dims: NormDims;
@group(0) @binding(1) var<storage, read> x: array<f32>;
