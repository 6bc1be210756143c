#import segment
// The clipping factor of every tensor from the partial sums of g^2 (b per tensor), for
// seg.len tensors and clip norm c = a (Keras' _clip_by_norm and clip_by_global_norm):
//   mode 0 (clipnorm):         factor_i = c / max(||g_i||, c)
//   mode 1 (global_clipnorm):  factor_i = c * min(1/||G||, 1/c) + (||G|| - ||G||),  ||G||^2 = sum_i ||g_i||^2
// One workgroup; the factors are written over the per-tensor sums.

@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> factors: array<f32>;

var<workgroup> total: f32;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
    let c = seg.a;
    let per = u32(seg.b);
    for (var i = lid; i < seg.len; i += 256u) {
        var s = 0.0;
        for (var w = 0u; w < per; w++) {
            s += partials[i * per + w];
        }
        if seg.mode == 0u {
            factors[i] = c / max(sqrt(s), c);
        } else {
            factors[i] = s;
        }
    }
    if seg.mode == 0u {
        return;
    }
    storageBarrier();
    workgroupBarrier();
    if lid == 0u {
        var s = 0.0;
        for (var i = 0u; i < seg.len; i++) {
            s += factors[i];
        }
        let n = sqrt(s);
        total = c * min(1.0 / n, 1.0 / c) + (n - n);
    }
    workgroupBarrier();
    storageBarrier();
    for (var i = lid; i < seg.len; i += 256u) {
        factors[i] = total;
    }
}
