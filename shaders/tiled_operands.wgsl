// Imported by matmul.wgsl and ns_tiled.wgsl: the operands of C = alpha op(L) op(R) + beta D, and
// the workgroup tiling both use. The importer sets STAGE, the floats of one operand's stage.

@group(0) @binding(1) var<storage, read> left: array<f32>;
@group(0) @binding(2) var<storage, read> right: array<f32>;
@group(0) @binding(3) var<storage, read> addend: array<f32>;
@group(0) @binding(4) var<storage, read_write> result: array<f32>;

// Invocations per side of the workgroup (tile side = 4 * WG) and the k-depth of a stage.
override WG: u32 = 16u;
override BK: u32 = 16u;

var<workgroup> tile_l: array<f32, STAGE>;
var<workgroup> tile_r: array<f32, STAGE>;
