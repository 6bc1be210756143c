#import segment
// Keras' moving average of one parameter, after the step's update:
//   avg <- f * avg + (1 - f) * W;   then W <- avg when overwrite != 0
// f and overwrite change per step (written by the host with the step scalars).

struct EmaStep {
    f: f32,
    overwrite: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(1) var<storage, read> step: EmaStep;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> average: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let width = groups.x * 256u;
    let stride = width * groups.y;
    let f = step.f;
    for (var i = gid.y * width + gid.x; i < seg.len; i += stride) {
        let avg = f * average[i] + (1.0 - f) * param[seg.offset + i];
        average[i] = avg;
        if step.overwrite != 0u {
            param[seg.offset + i] = avg;
        }
    }
}
