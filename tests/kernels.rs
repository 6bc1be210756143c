//! Each WGSL kernel against the f64 reference, on every adapter, on edge shapes.

mod common;

use common::*;
use muon_wgpu::kernels::{
    AdamDims, AdamOperands, Kernels, MatmulDims, MatmulOperands, MatrixDims, NormDims, Transpose,
};
use muon_wgpu::reference;

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

fn scalars_buffer(ctx: &muon_wgpu::GpuContext, unit: usize, values: &[f32]) -> wgpu::Buffer {
    let mut all = vec![0f32; (unit + 1) * 16];
    all[unit * 16..][..values.len()].copy_from_slice(values);
    buffer(ctx, &all)
}

#[test]
fn momentum_updates_state_and_writes_transposed_workspace() {
    for a in adapters() {
        let ctx = &a.ctx;
        let kernels = Kernels::new(&ctx.device);
        for &(rows, cols) in SHAPES {
            let (count, first, stride) = (3usize, 1usize, rows * cols + 5);
            let total = first + count;
            let g = random(21, count * stride);
            let m0 = random(22, total * rows * cols);
            let s = [0.9f32, 0.1, 0.9, 0.1];
            let unit = 2;
            let (gb, mb, xb) = (
                buffer(ctx, &g),
                buffer(ctx, &m0),
                buffer(ctx, &vec![0.0; total * rows * cols]),
            );
            let sb = scalars_buffer(ctx, unit, &s);
            let transposed = rows > cols;
            let dims = MatrixDims {
                rows: rows as u32,
                cols: cols as u32,
                count: count as u32,
                first: first as u32,
                src_stride: stride as u32,
                mat_stride: (rows * cols) as u32,
                unit: unit as u32,
                transposed: transposed as u32,
            };
            run(
                ctx,
                &[kernels.momentum(&ctx.device, dims, &sb, &gb, &mb, &xb)],
            );
            let (got_m, got_x) = (
                read(ctx, &mb, total * rows * cols),
                read(ctx, &xb, total * rows * cols),
            );
            let rc = rows * cols;
            let mut want_m = to_f64(&m0);
            let mut want_x = vec![0.0; total * rc];
            for i in 0..count {
                let mut u = vec![0.0; rc];
                for e in 0..rc {
                    let mi = (first + i) * rc + e;
                    want_m[mi] =
                        s[0] as f64 * m0[mi] as f64 + s[1] as f64 * g[i * stride + e] as f64;
                    u[e] = s[2] as f64 * want_m[mi] + s[3] as f64 * g[i * stride + e] as f64;
                }
                let u = if transposed {
                    reference::transpose(&u, rows, cols)
                } else {
                    u
                };
                want_x[(first + i) * rc..][..rc].copy_from_slice(&u);
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
fn muon_update_applies_decay_and_scaled_orthogonal_update() {
    for a in adapters() {
        let ctx = &a.ctx;
        let kernels = Kernels::new(&ctx.device);
        for &(rows, cols) in SHAPES {
            let (count, first, stride) = (2usize, 1usize, rows * cols + 64);
            let rc = rows * cols;
            let p0 = random(31, count * stride);
            let o = random(32, (first + count) * rc);
            let (keep, lr) = (0.99f32, 0.05f32);
            let (pb, ob) = (buffer(ctx, &p0), buffer(ctx, &o));
            let sb = scalars_buffer(ctx, 0, &[0.0, 0.0, 0.0, 0.0, keep, lr]);
            let transposed = rows > cols;
            let dims = MatrixDims {
                rows: rows as u32,
                cols: cols as u32,
                count: count as u32,
                first: first as u32,
                src_stride: stride as u32,
                mat_stride: rc as u32,
                unit: 0,
                transposed: transposed as u32,
            };
            run(
                ctx,
                &[kernels.muon_update(&ctx.device, dims, &sb, &ob, &pb)],
            );
            let got = read(ctx, &pb, count * stride);
            let mut want = to_f64(&p0);
            for i in 0..count {
                let slot = to_f64(&o[(first + i) * rc..][..rc]);
                // The workspace holds tall matrices transposed.
                let ortho = if transposed {
                    reference::transpose(&slot, cols, rows)
                } else {
                    slot
                };
                for e in 0..rc {
                    want[i * stride + e] =
                        p0[i * stride + e] as f64 * keep as f64 - lr as f64 * ortho[e];
                }
            }
            assert!(
                max_abs_diff(&got, &want) <= 1e-6,
                "{} {rows}x{cols}",
                ctx.describe()
            );
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
                let packed: Vec<f32> = [
                    1.0 - s.beta1,
                    1.0 - s.beta2,
                    s.use_m,
                    s.use_g,
                    s.use_v,
                    s.eps,
                    s.eps_root,
                    s.keep,
                    s.lr_eff,
                ]
                .iter()
                .map(|&x| x as f32)
                .collect();
                let sb = scalars_buffer(ctx, 1, &packed);
                let ops = AdamOperands {
                    scalars: &sb,
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
                            unit: 1,
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
