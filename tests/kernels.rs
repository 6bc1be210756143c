//! Each WGSL kernel against the f64 reference, on every adapter, on edge shapes.

mod common;

use common::*;
use muon_wgpu::kernels::{
    ns, AdamDims, AdamOperands, AdamStep, Kernels, MatmulDims, MatmulOperands, MatrixDims,
    MuonStep, NormDims, NsOperands, NsProduct, NsVariant, Strided, Transpose,
};
use muon_wgpu::reference;
use wgpu::util::DeviceExt;

/// (m, n) pairs: vectors as matrices, odd sizes, tall, wide, one more than a tile.
const SHAPES: &[(usize, usize)] = &[
    (1, 7),
    (7, 1),
    (1, 1),
    (37, 53),
    (53, 37),
    (65, 3),
    (3, 130),
    (64, 64),
];

/// Shapes in multiples of 4 (square, wide, tall, one block wide or tall), which the elementwise
/// kernels run in 4 × 4 blocks.
const BLOCK_SHAPES: &[(usize, usize)] = &[(4, 4), (8, 12), (12, 8), (4, 64), (64, 4), (36, 20)];

#[test]
fn matmul_matches_reference_on_odd_shapes_batches_and_transposed_left() {
    for a in adapters() {
        let ctx = &a.ctx;
        let kernels = Kernels::new(&ctx.device);
        for &(m, k) in SHAPES {
            for n in [1usize, 5, 67] {
                let batch = 3usize;
                let l = random(1 + m as u64, batch * m * k);
                let r = random(2 + n as u64, batch * k * n);
                let d = random(3, batch * m * n);
                let (alpha, beta) = (0.75f32, -1.5f32);
                let (lb, rb, db, cb) = (
                    buffer(ctx, &l),
                    buffer(ctx, &r),
                    buffer(ctx, &d),
                    buffer(ctx, &vec![0.0; batch * m * n]),
                );
                let dims = MatmulDims {
                    m: m as u32,
                    n: n as u32,
                    k: k as u32,
                    use_d: 1,
                    l_stride: (m * k) as u32,
                    r_stride: (k * n) as u32,
                    d_stride: (m * n) as u32,
                    c_stride: (m * n) as u32,
                    alpha,
                    beta,
                    ..Default::default()
                };
                let ops = MatmulOperands {
                    left: &lb,
                    right: &rb,
                    addend: &db,
                    result: &cb,
                };
                run(
                    ctx,
                    &[kernels.matmul(&ctx.device, dims, batch as u32, Transpose::NONE, ops)],
                );
                let got = read(ctx, &cb, batch * m * n);
                // The same product from Lᵀ stored k×m must agree.
                let lt: Vec<f32> = (0..batch)
                    .flat_map(|b| reference::transpose(&to_f64(&l[b * m * k..][..m * k]), m, k))
                    .map(|v| v as f32)
                    .collect();
                let (ltb, ct) = (buffer(ctx, &lt), buffer(ctx, &vec![0.0; batch * m * n]));
                let ops = MatmulOperands {
                    left: &ltb,
                    right: &rb,
                    addend: &db,
                    result: &ct,
                };
                run(
                    ctx,
                    &[kernels.matmul(&ctx.device, dims, batch as u32, Transpose::LEFT, ops)],
                );
                let got_t = read(ctx, &ct, batch * m * n);
                let mut want = Vec::new();
                for b in 0..batch {
                    let p = reference::matmul(
                        &to_f64(&l[b * m * k..][..m * k]),
                        &to_f64(&r[b * k * n..][..k * n]),
                        m,
                        k,
                        n,
                    );
                    want.extend(
                        p.iter()
                            .zip(&d[b * m * n..][..m * n])
                            .map(|(p, &d)| alpha as f64 * p + beta as f64 * d as f64),
                    );
                }
                let limit = 4e-5 * (k as f64).sqrt().max(1.0);
                let err = max_abs_diff(&got, &want);
                assert!(
                    err <= limit,
                    "{} m={m} k={k} n={n}: error {err}",
                    ctx.describe()
                );
                let err = max_abs_diff(&got_t, &want);
                assert!(
                    err <= limit,
                    "{} transposed left m={m} k={k} n={n}: error {err}",
                    ctx.describe()
                );
            }
        }
    }
}

#[test]
fn gram_matches_reference_with_transposed_right_operand() {
    for a in adapters() {
        let ctx = &a.ctx;
        let kernels = Kernels::new(&ctx.device);
        for &(m, n) in SHAPES {
            let batch = 2usize;
            let x = random(7 + n as u64, batch * m * n);
            let (xb, cb) = (buffer(ctx, &x), buffer(ctx, &vec![0.0; batch * m * m]));
            let dims = MatmulDims {
                m: m as u32,
                n: m as u32,
                k: n as u32,
                use_d: 0,
                l_stride: (m * n) as u32,
                r_stride: (m * n) as u32,
                c_stride: (m * m) as u32,
                alpha: 1.0,
                ..Default::default()
            };
            let ops = MatmulOperands {
                left: &xb,
                right: &xb,
                addend: &xb,
                result: &cb,
            };
            run(
                ctx,
                &[kernels.matmul(&ctx.device, dims, batch as u32, Transpose::RIGHT, ops)],
            );
            let got = read(ctx, &cb, batch * m * m);
            let want: Vec<f64> = (0..batch)
                .flat_map(|b| reference::gram(&to_f64(&x[b * m * n..][..m * n]), m, n))
                .collect();
            let err = max_abs_diff(&got, &want);
            assert!(
                err <= 2e-5 * (n as f64).sqrt(),
                "{} {m}x{n}: error {err}",
                ctx.describe()
            );
        }
    }
}

#[test]
fn normalize_divides_each_matrix_by_its_guarded_norm() {
    for a in adapters() {
        let ctx = &a.ctx;
        let kernels = Kernels::new(&ctx.device);
        for &(m, n) in SHAPES {
            for (clamp, eps) in [(0u32, 1e-7f32), (1, 1e-7), (0, 0.5), (1, 50.0)] {
                let batch = 3usize;
                let mut x = random(11 + m as u64, batch * m * n);
                // A zero matrix must stay zero under both guards.
                x[2 * m * n..].iter_mut().for_each(|v| *v = 0.0);
                let xb = buffer(ctx, &x);
                let dims = NormDims {
                    len: (m * n) as u32,
                    mat_stride: (m * n) as u32,
                    clamp,
                    eps,
                    ..Default::default()
                };
                run(
                    ctx,
                    &[kernels.normalize(&ctx.device, dims, batch as u32, &xb)],
                );
                let got = read(ctx, &xb, batch * m * n);
                let mode = if clamp == 1 {
                    muon_wgpu::NormEps::Clamp
                } else {
                    muon_wgpu::NormEps::Additive
                };
                let want: Vec<f64> = (0..batch)
                    .flat_map(|b| {
                        reference::normalize(&to_f64(&x[b * m * n..][..m * n]), eps as f64, mode)
                    })
                    .collect();
                let err = max_abs_diff(&got, &want);
                assert!(
                    err <= 1e-6,
                    "{} {m}x{n} clamp={clamp} eps={eps}: error {err}",
                    ctx.describe()
                );
            }
        }
    }
}

/// A step-scalars buffer whose entry `index` is `step` (the others zero), as the optimizer
/// binds one per kernel family.
fn steps_buffer<T: bytemuck::Pod + Default>(
    ctx: &muon_wgpu::GpuContext,
    index: usize,
    step: T,
) -> wgpu::Buffer {
    let mut all = vec![T::default(); index + 1];
    all[index] = step;
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("test step scalars"),
            contents: bytemuck::cast_slice(&all),
            usage: wgpu::BufferUsages::STORAGE,
        })
}

#[test]
fn momentum_updates_state_and_writes_transposed_padded_workspace() {
    for a in adapters() {
        let ctx = &a.ctx;
        let kernels = Kernels::new(&ctx.device);
        // Odd layouts run the scalar kernel; layouts in multiples of 4 the 4 × 4 block kernel.
        let layouts = SHAPES
            .iter()
            .map(|&(r, c)| (r, c, 3usize, 2usize, 7usize, 5usize))
            .chain(BLOCK_SHAPES.iter().map(|&(r, c)| (r, c, 4, 8, 12, 16)));
        for (rows, cols, pad_cols, pad_rows, ws_base, extra) in layouts {
            // The workspace view is min × max, padded with more columns and rows, at an offset.
            let (count, first, stride) = (3usize, 1usize, rows * cols + extra);
            let (vm, vn) = (rows.min(cols), rows.max(cols));
            let (ws_cols, ws_stride) = (vn + pad_cols, (vm + pad_rows) * (vn + pad_cols));
            let total = first + count;
            let g = random(21, count * stride);
            let m0 = random(22, total * rows * cols);
            let s = MuonStep {
                decay_m: 0.9,
                decay_g: 0.1,
                use_m: 0.9,
                use_g: 0.1,
                ..Default::default()
            };
            let batch = 2;
            let ws_len = ws_base + total * ws_stride;
            let (gb, mb, xb) = (
                buffer(ctx, &g),
                buffer(ctx, &m0),
                buffer(ctx, &vec![0.0; ws_len]),
            );
            let sb = steps_buffer(ctx, batch, s);
            let transposed = rows > cols;
            let dims = MatrixDims {
                rows: rows as u32,
                cols: cols as u32,
                count: count as u32,
                first: first as u32,
                src_stride: stride as u32,
                mat_stride: (rows * cols) as u32,
                batch: batch as u32,
                transposed: transposed as u32,
                ws_cols: ws_cols as u32,
                ws_stride: ws_stride as u32,
                ws_base: ws_base as u32,
                ..Default::default()
            };
            run(
                ctx,
                &[kernels.momentum(&ctx.device, dims, &sb, &gb, &mb, &xb)],
            );
            let (got_m, got_x) = (read(ctx, &mb, total * rows * cols), read(ctx, &xb, ws_len));
            let rc = rows * cols;
            let mut want_m = to_f64(&m0);
            let mut want_x = vec![0.0; ws_len];
            for i in 0..count {
                let mut u = vec![0.0; rc];
                for e in 0..rc {
                    let mi = (first + i) * rc + e;
                    want_m[mi] = s.decay_m as f64 * m0[mi] as f64
                        + s.decay_g as f64 * g[i * stride + e] as f64;
                    u[e] = s.use_m as f64 * want_m[mi] + s.use_g as f64 * g[i * stride + e] as f64;
                }
                let u = if transposed {
                    reference::transpose(&u, rows, cols)
                } else {
                    u
                };
                for r in 0..vm {
                    for c in 0..vn {
                        want_x[ws_base + (first + i) * ws_stride + r * ws_cols + c] = u[r * vn + c];
                    }
                }
            }
            assert!(
                max_abs_diff(&got_m, &want_m) <= 1e-6,
                "{} momentum {rows}x{cols}",
                ctx.describe()
            );
            assert!(
                max_abs_diff(&got_x, &want_x) <= 1e-6,
                "{} workspace {rows}x{cols}",
                ctx.describe()
            );
        }
    }
}

#[test]
fn muon_update_applies_decay_and_scaled_orthogonal_update_from_a_padded_workspace() {
    for a in adapters() {
        let ctx = &a.ctx;
        let kernels = Kernels::new(&ctx.device);
        // Odd shapes and paddings run the scalar kernel, multiples of 4 the 4 × 4 block kernel.
        let shapes = SHAPES
            .iter()
            .map(|&s| (s, 5, 1, 11))
            .chain(BLOCK_SHAPES.iter().map(|&s| (s, 4usize, 8usize, 12usize)));
        for ((rows, cols), pad_cols, pad_rows, pad_base) in shapes {
            for padded in [false, true] {
                let (count, first, stride) = (2usize, 1usize, rows * cols + 64);
                let rc = rows * cols;
                let (vm, vn) = (rows.min(cols), rows.max(cols));
                let (ws_cols, ws_stride, ws_base) = if padded {
                    (vn + pad_cols, (vm + pad_rows) * (vn + pad_cols), pad_base)
                } else {
                    (vn, rc, 0)
                };
                let p0 = random(31, count * stride);
                let o = random(32, ws_base + (first + count) * ws_stride);
                let (keep, lr) = (0.99f32, 0.05f32);
                let (pb, ob) = (buffer(ctx, &p0), buffer(ctx, &o));
                let step = MuonStep {
                    keep,
                    lr_eff: lr,
                    ..Default::default()
                };
                let sb = steps_buffer(ctx, 0, step);
                let transposed = rows > cols;
                let dims = MatrixDims {
                    rows: rows as u32,
                    cols: cols as u32,
                    count: count as u32,
                    first: first as u32,
                    src_stride: stride as u32,
                    mat_stride: rc as u32,
                    batch: 0,
                    transposed: transposed as u32,
                    ws_cols: if padded { ws_cols as u32 } else { 0 },
                    ws_stride: if padded { ws_stride as u32 } else { 0 },
                    ws_base: ws_base as u32,
                    ..Default::default()
                };
                run(
                    ctx,
                    &[kernels.muon_update(&ctx.device, dims, &sb, &ob, &pb)],
                );
                let got = read(ctx, &pb, count * stride);
                let mut want = to_f64(&p0);
                for i in 0..count {
                    // The workspace holds the min × max view: tall matrices transposed.
                    let view: Vec<f64> = (0..vm * vn)
                        .map(|e| {
                            o[ws_base + (first + i) * ws_stride + (e / vn) * ws_cols + e % vn]
                                as f64
                        })
                        .collect();
                    let ortho = if transposed {
                        reference::transpose(&view, cols, rows)
                    } else {
                        view
                    };
                    for e in 0..rc {
                        want[i * stride + e] =
                            p0[i * stride + e] as f64 * keep as f64 - lr as f64 * ortho[e];
                    }
                }
                assert!(
                    max_abs_diff(&got, &want) <= 1e-6,
                    "{} {rows}x{cols} padded={padded}",
                    ctx.describe()
                );
            }
        }
    }
}

#[test]
fn adamw_matches_reference_for_every_variant_and_length() {
    for a in adapters() {
        let ctx = &a.ctx;
        let kernels = Kernels::new(&ctx.device);
        for len in [1usize, 7, 256, 257, 1000] {
            for (t, variant) in [
                (1u64, muon_wgpu::AdamVariant::Standard),
                (3, muon_wgpu::AdamVariant::UncorrectedEps),
                (2, muon_wgpu::AdamVariant::Nesterov),
            ] {
                let cfg = muon_wgpu::AdamWConfig {
                    lr: 0.01,
                    weight_decay: 0.1,
                    variant,
                    eps_root: 1e-12,
                    ..Default::default()
                };
                let s = cfg.scalars(t);
                let g = random(41, len);
                let p0 = random(42, len);
                let m0 = random(43, len);
                let v0: Vec<f32> = random(44, len).iter().map(|x| x.abs()).collect();
                let (gb, pb, mb, vb) = (
                    buffer(ctx, &g),
                    buffer(ctx, &p0),
                    buffer(ctx, &m0),
                    buffer(ctx, &v0),
                );
                let sb = steps_buffer(ctx, 1, AdamStep::from(s));
                let ops = AdamOperands {
                    steps: &sb,
                    grad: &gb,
                    param: &pb,
                    exp_avg: &mb,
                    exp_avg_sq: &vb,
                };
                run(
                    ctx,
                    &[kernels.adamw(
                        &ctx.device,
                        AdamDims {
                            len: len as u32,
                            group: 1,
                            ..Default::default()
                        },
                        ops,
                    )],
                );
                let (gp, gm, gv) = (
                    read(ctx, &pb, len),
                    read(ctx, &mb, len),
                    read(ctx, &vb, len),
                );
                let (mut wp, mut wm, mut wv) = (vec![0.0; len], vec![0.0; len], vec![0.0; len]);
                for i in 0..len {
                    let (g, m, v) = (g[i] as f64, m0[i] as f64, v0[i] as f64);
                    wm[i] = m + (1.0 - s.beta1) * (g - m);
                    wv[i] = v + (1.0 - s.beta2) * (g * g - v);
                    let u = (s.use_m * wm[i] + s.use_g * g)
                        / ((s.use_v * wv[i] + s.eps_root).sqrt() + s.eps);
                    wp[i] = p0[i] as f64 * s.keep - s.lr_eff * u;
                }
                assert!(
                    max_abs_diff(&gm, &wm) <= 1e-6 && max_abs_diff(&gv, &wv) <= 1e-6,
                    "{} moments len={len}",
                    ctx.describe()
                );
                assert!(
                    max_abs_diff(&gp, &wp) <= 1e-5,
                    "{} param len={len} {variant:?}: {}",
                    ctx.describe(),
                    max_abs_diff(&gp, &wp)
                );
            }
        }
    }
}

/// The shipped `ns_lanes.wgsl` is the generator's 32 × 32 broadcast instance, so the file on
/// disk is a working kernel. `MUON_WGPU_BLESS=1` rewrites it after a template change.
#[test]
fn lanes_template_on_disk_is_the_generated_32_broadcast_instance() {
    let generated = ns::lanes_source(32, true, false);
    let on_disk = muon_wgpu::shaders::source("ns_lanes.wgsl");
    if std::env::var("MUON_WGPU_BLESS").is_ok() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders/ns_lanes.wgsl");
        let include = muon_wgpu::shaders::file("ns_problems.wgsl").unwrap();
        let body = generated.strip_prefix(include).unwrap();
        std::fs::write(path, format!("#import ns_problems\n{body}")).unwrap();
        return;
    }
    assert_eq!(
        generated, on_disk,
        "run with MUON_WGPU_BLESS=1 to regenerate"
    );
    for variant in NsVariant::ALL {
        if let NsVariant::Lanes {
            rows,
            broadcast,
            half,
        } = variant
        {
            let source = ns::lanes_source(rows, broadcast, half);
            if let Err(e) = muon_wgpu::shaders::validate_wgsl(&source) {
                panic!("{variant}: {e}");
            }
        }
    }
}

/// The `a·I` term of the polynomial product in the test below.
const DIAG: f32 = 0.625;

/// Newton-Schulz views (rows ≤ cols) covering vectors, odd sizes, more than one tile, and a
/// matrix as wide as the others are tall.
const NS_VIEWS: &[(usize, usize)] = &[(1, 7), (1, 1), (37, 53), (20, 70), (3, 130), (65, 66)];

/// `count` matrices of a `rows × cols` view, zero-padded to `pm × pn`, at `base` in one buffer.
fn padded(
    values: &[f32],
    rows: usize,
    cols: usize,
    pm: usize,
    pn: usize,
    count: usize,
) -> Vec<f32> {
    let mut out = vec![0.0; count * pm * pn];
    for b in 0..count {
        for i in 0..rows {
            for j in 0..cols {
                out[b * pm * pn + i * pn + j] = values[b * rows * cols + i * cols + j];
            }
        }
    }
    out
}

/// llvmpipe's GL path turns the tiled kernels' barriers into LLVM coroutines whose splitting
/// takes minutes; those variants are for GPUs and are checked on lavapipe's Vulkan instead.
fn compiles_for_minutes(ctx: &muon_wgpu::GpuContext, variant: NsVariant) -> bool {
    is_gl(ctx)
        && ctx.info.device_type == wgpu::DeviceType::Cpu
        && matches!(variant, NsVariant::Tiled { .. })
}

#[test]
fn ns_products_of_every_variant_match_the_reference_on_edge_shapes_in_one_dispatch() {
    for a in adapters() {
        let ctx = &a.ctx;
        for variant in NsVariant::ALL {
            if !variant.supported(&ctx.device) || compiles_for_minutes(ctx, variant) {
                continue;
            }
            let kernels = Kernels::with_variant(&ctx.device, variant);
            let tile = variant.tile() as usize;
            // Every view is one problem of the same three dispatches, batched 2 deep, one after
            // another in the buffers (as the planner lays out a wave).
            let count = 2usize;
            let (mut xs, mut grams, mut polys, mut applies) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let (mut x_at, mut a_at) = (0usize, 0usize);
            let mut places = Vec::new();
            let (b, c, alpha_a) = (-4.775f32, 2.0315f32, 3.4445f32);
            for (v, &(m, n)) in NS_VIEWS.iter().enumerate() {
                let (pm, pn) = (m.next_multiple_of(tile), n.next_multiple_of(tile));
                let x: Vec<f32> = random(60 + v as u64, count * m * n)
                    .iter()
                    .map(|x| x * 0.2)
                    .collect();
                xs.extend(padded(&x, m, n, pm, pn, count));
                let xs_ = Strided {
                    base: x_at as u32,
                    row: pn as u32,
                    mat: (pm * pn) as u32,
                };
                let sq = Strided {
                    base: a_at as u32,
                    row: pm as u32,
                    mat: (pm * pm) as u32,
                };
                let (pm32, pn32) = (pm as u32, pn as u32);
                grams.push(NsProduct {
                    rows: pm32,
                    cols: pm32,
                    k: pn32,
                    count: count as u32,
                    left: xs_,
                    right: xs_,
                    addend: None,
                    result: sq,
                    alpha: 1.0,
                    beta: 0.0,
                    diag: 0.0,
                });
                polys.push(NsProduct {
                    rows: pm32,
                    cols: pm32,
                    k: pm32,
                    count: count as u32,
                    left: sq,
                    right: sq,
                    addend: Some(sq),
                    result: sq,
                    alpha: c,
                    beta: b,
                    diag: DIAG,
                });
                applies.push(NsProduct {
                    rows: pm32,
                    cols: pn32,
                    k: pm32,
                    count: count as u32,
                    left: sq,
                    right: xs_,
                    addend: Some(xs_),
                    result: xs_,
                    alpha: 1.0,
                    beta: alpha_a,
                    diag: 0.0,
                });
                places.push((m, n, pm, pn, x_at, a_at, x));
                x_at += count * pm * pn;
                a_at += count * pm * pm;
            }
            let xb = buffer(ctx, &xs);
            let (gb, pb, ob) = (
                buffer(ctx, &vec![0.0; a_at]),
                buffer(ctx, &vec![0.0; a_at]),
                buffer(ctx, &vec![0.0; x_at]),
            );
            // The f16 variants read f16 copies of the operands (X's made by pack_halves, the
            // others written by the products themselves).
            let half = |len: usize| buffer(ctx, &vec![0.0; len / 2]);
            let (xh, gh, ph, oh) = (half(x_at), half(a_at), half(a_at), half(x_at));
            let ops = |left, right, addend, result, halves| NsOperands {
                left,
                right,
                addend,
                result,
                halves: variant.half().then_some(halves),
            };
            let mut dispatches = Vec::new();
            if variant.half() {
                dispatches.push(kernels.pack_halves(&ctx.device, (x_at / 4) as u32, &xb, &xh));
            }
            dispatches.extend(
                [
                    kernels.ns_products(
                        &ctx.device,
                        true,
                        &grams,
                        ops(&xb, &xb, &xb, &gb, [&xh, &xh, &gh]),
                    ),
                    kernels.ns_products(
                        &ctx.device,
                        true,
                        &polys,
                        ops(&gb, &gb, &gb, &pb, [&gh, &gh, &ph]),
                    ),
                    kernels.ns_products(
                        &ctx.device,
                        false,
                        &applies,
                        ops(&pb, &xb, &xb, &ob, [&ph, &xh, &oh]),
                    ),
                ]
                .into_iter()
                .flatten(),
            );
            run(ctx, &dispatches);
            // f32 operands: f32 rounding; f16 copies: each operand rounded to f16 (2⁻¹¹).
            let unit = if variant.half() { 1e-3 } else { 2e-6 };
            let (got_a, got_b, got_x) = (
                read(ctx, &gb, a_at),
                read(ctx, &pb, a_at),
                read(ctx, &ob, x_at),
            );
            for (m, n, pm, pn, x_at, a_at, x) in places {
                for i in 0..count {
                    let x = to_f64(&x[i * m * n..][..m * n]);
                    // Each stage from the GPU's previous result, so errors do not compound.
                    // The real block, and the largest padding entry (the diagonal term also
                    // reaches the padded diagonal, harmless since X's padded rows are zero).
                    let view = |buf: &[f32],
                                at: usize,
                                rows: usize,
                                cols: usize,
                                stride: usize,
                                diag: f32| {
                        let mut real = Vec::new();
                        let mut pad = 0f64;
                        for r in 0..rows.next_multiple_of(tile) {
                            for col in 0..stride {
                                let v = buf[at + r * stride + col] as f64;
                                if r < rows && col < cols {
                                    real.push(v);
                                } else if r == col {
                                    pad = pad.max((v - diag as f64).abs());
                                } else {
                                    pad = pad.max(v.abs());
                                }
                            }
                        }
                        (real, pad)
                    };
                    let (ga, pad_a) = view(&got_a, a_at + i * pm * pm, m, m, pm, 0.0);
                    let (gbv, pad_b) = view(&got_b, a_at + i * pm * pm, m, m, pm, DIAG);
                    let (gx, pad_x) = view(&got_x, x_at + i * pm * pn, m, n, pn, 0.0);
                    let want_a = reference::gram(&x, m, n);
                    let mut want_b = reference::ns_poly(&ga, m, b as f64, c as f64);
                    for d in 0..m {
                        want_b[d * m + d] += DIAG as f64;
                    }
                    let want_x = reference::ns_apply(&x, &gbv, m, n, alpha_a as f64);
                    let close = |got: &[f64], want: &[f64], k: usize| {
                        let err = got
                            .iter()
                            .zip(want)
                            .map(|(g, w)| (g - w).abs())
                            .fold(0.0, f64::max);
                        let scale = max_abs(want).max(1.0);
                        (err, unit * (k as f64).sqrt().max(1.0) * scale)
                    };
                    for (what, (err, limit), pad) in [
                        ("X·Xᵀ", close(&ga, &want_a, n), pad_a),
                        ("c·A·A + b·A + d·I", close(&gbv, &want_b, m), pad_b),
                        ("B·X + a·X", close(&gx, &want_x, m), pad_x),
                    ] {
                        assert!(
                            err <= limit && pad == 0.0,
                            "{} {variant} {m}x{n} matrix {i} {what}: error {err:.2e} (limit {limit:.1e}), padding {pad}",
                            ctx.describe()
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn normalize_batches_handles_several_batches_in_one_dispatch() {
    for a in adapters() {
        let ctx = &a.ctx;
        let kernels = Kernels::new(&ctx.device);
        // Two batches (3 matrices, then 2) after leading elements that must not change: odd
        // sizes run the scalar kernel, whole vec4s the vec4 one.
        for (lead, len_a, len_b) in [(5usize, 20usize, 7usize), (8, 20, 12)] {
            let base_b = lead + 3 * len_a;
            let x = random(90, base_b + 2 * len_b);
            let xb = buffer(ctx, &x);
            let batches = [
                NormDims {
                    len: len_a as u32,
                    mat_stride: len_a as u32,
                    clamp: 1,
                    count: 3,
                    eps: 1e-7,
                    base: lead as u32,
                    ..Default::default()
                },
                NormDims {
                    len: len_b as u32,
                    mat_stride: len_b as u32,
                    clamp: 0,
                    count: 2,
                    eps: 0.5,
                    base: base_b as u32,
                    ..Default::default()
                },
            ];
            run(
                ctx,
                &[kernels.normalize_batches(&ctx.device, &batches, &xb)],
            );
            let got = read(ctx, &xb, x.len());
            let mut want = to_f64(&x);
            for (base, len, count, eps, mode) in [
                (lead, len_a, 3, 1e-7, muon_wgpu::NormEps::Clamp),
                (base_b, len_b, 2, 0.5, muon_wgpu::NormEps::Additive),
            ] {
                for i in 0..count {
                    let at = base + i * len;
                    let v = reference::normalize(&to_f64(&x[at..at + len]), eps, mode);
                    want[at..at + len].copy_from_slice(&v);
                }
            }
            assert!(
                max_abs_diff(&got, &want) <= 1e-6,
                "{} lead {lead}: error {}",
                ctx.describe(),
                max_abs_diff(&got, &want)
            );
        }
    }
}

/// An f16 bit pattern's value (normal and subnormal numbers; the tests' values are finite).
fn f16_value(h: u16) -> f64 {
    let sign = if h >> 15 == 1 { -1.0 } else { 1.0 };
    let (e, m) = (((h >> 10) & 0x1f) as i32, (h & 0x3ff) as f64);
    sign * if e == 0 {
        m * 2f64.powi(-24)
    } else {
        (1.0 + m / 1024.0) * 2f64.powi(e - 15)
    }
}

/// Split-K: products whose inner dimension is past [`NsVariant::max_k`] run in chunks summed by
/// `ns_split_sum.wgsl`: 100001 columns (2 to 4 chunks, the last one short), batched 2 deep
/// with the epilogue's α, β·D and diagonal, next to a short product in the same call; and a
/// long non-symmetric product, whose chunks step along R's rows. (Loops past llvmpipe's limit,
/// which cut the sums before the split, are `tests/non_finite.rs`'s long rows.)
#[test]
fn ns_products_split_long_inner_dimensions_and_match_the_reference() {
    for a in adapters() {
        let ctx = &a.ctx;
        for variant in NsVariant::ALL {
            if !variant.supported(&ctx.device) || compiles_for_minutes(ctx, variant) {
                continue;
            }
            let start = std::time::Instant::now();
            let kernels = Kernels::with_variant(&ctx.device, variant);
            let t = variant.tile() as usize;
            let (m, n, count) = (3usize, 100_001usize, 2usize);
            let pn = n.next_multiple_of(t);
            assert!(pn as u32 > variant.max_k());
            // X: the long matrices, then a 1 × 7 one (short), then L (m × k) of the other.
            let (k, cols) = (40_001usize, 5usize);
            let pk = k.next_multiple_of(t);
            let x_long = random(70, count * m * n);
            let x_short = random(71, 7);
            let l = random(72, m * k);
            let r = random(73, k * cols);
            let mut xs = padded(&x_long, m, n, t, pn, count);
            let short_at = xs.len();
            xs.extend(padded(&x_short, 1, 7, t, t, 1));
            let l_at = xs.len();
            xs.extend(padded(&l, m, k, t, pk, 1));
            let rs = padded(&r, k, cols, pk, t, 1);
            // D: symmetric, as a symmetric product's addend is.
            let d: Vec<f32> = (0..count * t * t)
                .map(|e| {
                    let (b, i, j) = (e / (t * t), e % (t * t) / t, e % t);
                    ((b * 7 + i.min(j) * 3 + i.max(j)) % 11) as f32 * 0.1 - 0.5
                })
                .collect();
            let whole = |base: usize, row: usize, mat: usize| Strided {
                base: base as u32,
                row: row as u32,
                mat: mat as u32,
            };
            let (alpha, beta) = (1.5f32, 0.5f32);
            let long = NsProduct {
                rows: t as u32,
                cols: t as u32,
                k: pn as u32,
                count: count as u32,
                left: whole(0, pn, t * pn),
                right: whole(0, pn, t * pn),
                addend: Some(whole(0, t, t * t)),
                result: whole(0, t, t * t),
                alpha,
                beta,
                diag: DIAG,
            };
            let short = NsProduct {
                k: t as u32,
                count: 1,
                left: whole(short_at, t, t * t),
                right: whole(short_at, t, t * t),
                addend: None,
                result: whole(count * t * t, t, t * t),
                alpha: 1.0,
                beta: 0.0,
                diag: 0.0,
                ..long
            };
            let apply = NsProduct {
                rows: t as u32,
                cols: t as u32,
                k: pk as u32,
                count: 1,
                left: whole(l_at, pk, t * pk),
                right: whole(0, t, pk * t),
                addend: Some(whole(0, t, t * t)),
                result: whole(0, t, t * t),
                alpha,
                beta,
                diag: 0.0,
            };
            let a_len = (count + 1) * t * t;
            let (xb, rb, db) = (buffer(ctx, &xs), buffer(ctx, &rs), buffer(ctx, &d));
            let (gb, ob) = (
                buffer(ctx, &vec![0.0; a_len]),
                buffer(ctx, &vec![0.0; t * t]),
            );
            let half = |len: usize| buffer(ctx, &vec![0.0; len / 2]);
            let (xh, rh, gh, oh) = (half(xs.len()), half(rs.len()), half(a_len), half(t * t));
            let mut dispatches = Vec::new();
            if variant.half() {
                dispatches.push(kernels.pack_halves(&ctx.device, (xs.len() / 4) as u32, &xb, &xh));
                dispatches.push(kernels.pack_halves(&ctx.device, (rs.len() / 4) as u32, &rb, &rh));
            }
            let ops = |left, right, result, halves| NsOperands {
                left,
                right,
                addend: &db,
                result,
                halves: variant.half().then_some(halves),
            };
            let grams = kernels.ns_products(
                &ctx.device,
                true,
                &[long, short],
                ops(&xb, &xb, &gb, [&xh, &xh, &gh]),
            );
            // One short-product dispatch, one of chunks, one sum.
            assert_eq!(grams.len(), 3, "{variant}");
            dispatches.extend(grams);
            dispatches.extend(kernels.ns_products(
                &ctx.device,
                false,
                &[apply],
                ops(&xb, &rb, &ob, [&xh, &rh, &oh]),
            ));
            run(ctx, &dispatches);
            let got_a = read(ctx, &gb, a_len);
            let got_o = read(ctx, &ob, t * t);
            // The chunks are summed in a fixed order: a second run is the same bit for bit.
            run(ctx, &dispatches);
            let again = (read(ctx, &gb, a_len), read(ctx, &ob, t * t));
            assert!(
                again
                    .0
                    .iter()
                    .zip(&got_a)
                    .all(|(x, y)| x.to_bits() == y.to_bits())
                    && again
                        .1
                        .iter()
                        .zip(&got_o)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                "{} {variant}: not reproducible",
                ctx.describe()
            );
            let unit = if variant.half() { 1e-3 } else { 2e-6 };
            let check = |what: &str,
                         got: &[f32],
                         at: usize,
                         want: &[f64],
                         rows: usize,
                         cols: usize,
                         k: usize| {
                let scale = max_abs(want).max(1.0);
                let limit = unit * (k as f64).sqrt() * scale;
                for i in 0..t {
                    for j in 0..t {
                        let g = got[at + i * t + j] as f64;
                        let w = if i < rows && j < cols {
                            want[i * cols + j]
                        } else {
                            0.0
                        };
                        assert!(
                            (g - w).abs() <= limit,
                            "{} {variant} {what} ({i}, {j}): {g} vs {w} (limit {limit:.1e})",
                            ctx.describe()
                        );
                    }
                }
            };
            for b in 0..count {
                let x = to_f64(&x_long[b * m * n..][..m * n]);
                // α·X·Xᵀ + β·D + d·I over the whole padded tile (X's padded rows are zero).
                let gram = reference::gram(&x, m, n);
                let want: Vec<f64> = (0..t * t)
                    .map(|e| {
                        let (i, j) = (e / t, e % t);
                        let g = if i < m && j < m { gram[i * m + j] } else { 0.0 };
                        let diag = if i == j { DIAG as f64 } else { 0.0 };
                        alpha as f64 * g + beta as f64 * d[b * t * t + e] as f64 + diag
                    })
                    .collect();
                check("long X·Xᵀ", &got_a, b * t * t, &want, t, t, n);
                if variant.half() {
                    // The f16 copy of C, which the next product reads.
                    let halves = read(ctx, &gh, a_len / 2);
                    for e in 0..t * t {
                        let bits = halves[(b * t * t + e) / 2].to_bits();
                        let h = (bits >> (16 * (e % 2))) as u16;
                        let v = got_a[b * t * t + e] as f64;
                        assert!(
                            (f16_value(h) - v).abs() <= v.abs() * 1e-3 + 1e-7,
                            "{variant} f16 copy {e}"
                        );
                    }
                }
            }
            check(
                "short",
                &got_a,
                count * t * t,
                &reference::gram(&to_f64(&x_short), 1, 7),
                1,
                1,
                7,
            );
            let mut want = reference::matmul(&to_f64(&l), &to_f64(&r), m, k, cols);
            want = (0..t * t)
                .map(|e| {
                    let (i, j) = (e / t, e % t);
                    let p = if i < m && j < cols {
                        want[i * cols + j]
                    } else {
                        0.0
                    };
                    alpha as f64 * p + beta as f64 * d[e] as f64
                })
                .collect();
            check("long L·R", &got_o, 0, &want, t, t, k);
            eprintln!("{} {variant}: {:.2?}", ctx.describe(), start.elapsed());
        }
    }
}
