#import gpt_attention_dims
// Imported by both backward passes of gpt_attention.wgsl: what they read (p, dy) and the
// gradient they write (dqkv); binding 4, ds, is written by the query pass and read by the key pass.

@group(0) @binding(2) var<storage, read> probs: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dqkv: array<f32>;
