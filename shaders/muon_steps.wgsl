#import step_scalars
// Imported by momentum*.wgsl and muon_update*.wgsl: the per-batch Muon scalars, binding 1 of all
// four kernel families.

@group(0) @binding(1) var<storage, read> steps: array<MuonStep>;
