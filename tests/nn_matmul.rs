//! The models' products (`nn_matmul.wgsl` with split-K and its ordered sum, or the fallback for
//! unaligned shapes) against an f64 reference, on every adapter, on odd shapes; the split sum is
//! the same bit for bit run to run; the default GPT's products launch enough workgroups.

mod common;

use common::*;
use muon_wgpu::kernels::{Kernels, Transpose};
use muon_wgpu::nn::matmul::{aligned, split_k, Blocking, ModelMatmul, Product, MIN_WORKGROUPS};

/// `(m, n, k)`: partial tiles on the vec4 path, a weight gradient's long k (split), unaligned
/// sizes (the fallback), a 65-token vocabulary.
const SHAPES: &[(usize, usize, usize)] = &[
    (20, 68, 100),
    (132, 12, 36),
    (64, 64, 1028),
    (8, 4, 4),
    (13, 67, 29),
    (65, 64, 516),
    (516, 65, 64),
    (1, 7, 3),
];

const LAYOUTS: [Transpose; 4] = [
    Transpose::NONE,
    Transpose::RIGHT,
    Transpose::LEFT,
    Transpose {
        left: true,
        right: true,
    },
];

/// `op(L)·op(R) (+ D)` in f64, with `L`, `R` stored as `transpose` says.
fn reference(
    t: Transpose,
    l: &[f32],
    r: &[f32],
    d: Option<&[f32]>,
    (m, n, k): (usize, usize, usize),
) -> Vec<f64> {
    let mut c = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = d.map_or(0.0, |d| d[i * n + j] as f64);
            for p in 0..k {
                let a = if t.left { l[p * m + i] } else { l[i * k + p] };
                let b = if t.right { r[j * k + p] } else { r[p * n + j] };
                s += a as f64 * b as f64;
            }
            c[i * n + j] = s;
        }
    }
    c
}

#[test]
fn model_products_match_reference_on_odd_shapes_every_layout() {
    for a in adapters() {
        let ctx = &a.ctx;
        for blocking in [Blocking::GPU, Blocking::CPU] {
            let products =
                ModelMatmul::with_blocking(&Kernels::new(&ctx.device), &ctx.device, blocking);
            for &(m, n, k) in SHAPES {
                for t in LAYOUTS {
                    for with_d in [false, true] {
                        let l = random(1 + m as u64, m * k);
                        let r = random(2 + n as u64, k * n);
                        let d = random(3 + k as u64, m * n);
                        let (lb, rb, db) = (buffer(ctx, &l), buffer(ctx, &r), buffer(ctx, &d));
                        let cb = buffer(ctx, &vec![f32::NAN; m * n]);
                        let dims = (m as u32, n as u32, k as u32);
                        let ops = products.product(
                            &ctx.device,
                            Product {
                                transpose: t,
                                left: &lb,
                                right: &rb,
                                addend: with_d.then_some(&db),
                                activation_grad: None,
                                result: &cb,
                                dims,
                            },
                        );
                        run(ctx, &ops);
                        let want = reference(t, &l, &r, with_d.then_some(&d[..]), (m, n, k));
                        let err = max_abs_diff(&read(ctx, &cb, m * n), &want);
                        let tolerance = 2e-6 * k as f64 + 1e-6;
                        assert!(
                        err <= tolerance,
                        "{}: {m}x{n}x{k} {t:?} {blocking:?} addend {with_d}: error {err:e} (aligned {})",
                        a.ctx.info.name,
                        aligned(t, dims)
                    );
                    }
                }
            }
        }
    }
}

#[test]
fn split_k_sum_is_the_same_bit_for_bit_run_to_run() {
    for a in adapters() {
        let ctx = &a.ctx;
        let products = ModelMatmul::new(&Kernels::new(&ctx.device), &ctx.device);
        // A weight gradient dYᵀ·X of the default GPT's MLP: k = 1024 tokens, split.
        let (m, n, k) = (256usize, 64usize, 1024usize);
        let l = random(7, k * m);
        let r = random(8, k * n);
        let (lb, rb) = (buffer(ctx, &l), buffer(ctx, &r));
        let mut runs = Vec::new();
        for _ in 0..3 {
            let cb = buffer(ctx, &vec![0.0; m * n]);
            let ops = products.product(
                &ctx.device,
                Product {
                    transpose: Transpose::LEFT,
                    left: &lb,
                    right: &rb,
                    addend: None,
                    activation_grad: None,
                    result: &cb,
                    dims: (m as u32, n as u32, k as u32),
                },
            );
            assert_eq!(
                ops.len(),
                2,
                "{}: a split product and its sum",
                a.ctx.info.name
            );
            run(ctx, &ops);
            runs.push(read(ctx, &cb, m * n));
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&runs[0]), bits(&runs[1]), "{}", a.ctx.info.name);
        assert_eq!(bits(&runs[0]), bits(&runs[2]), "{}", a.ctx.info.name);
    }
}

#[test]
fn split_k_gives_every_default_gpt_product_enough_workgroups() {
    // (m, n, k) of the default GPT's aligned products (width 64, MLP 256, 512 or 1024 tokens).
    for (blocking, tokens) in [
        (Blocking::GPU, 512u32),
        (Blocking::GPU, 1024),
        (Blocking::CPU, 512),
        (Blocking::CPU, 1024),
    ] {
        for (m, n, k) in [
            (tokens, 192u32, 64u32),
            (tokens, 64, 64),
            (tokens, 256, 64),
            (tokens, 64, 256),
            (tokens, 64, 192),
            (192, 64, tokens),
            (64, 64, tokens),
            (256, 64, tokens),
            (64, 256, tokens),
        ] {
            let (rows, cols) = blocking.tile();
            let tiles = m.div_ceil(rows) * n.div_ceil(cols);
            let (chunk, splits) = split_k(tiles, k);
            assert!(
                tiles * splits >= MIN_WORKGROUPS,
                "{m}x{n}x{k}: {tiles} x {splits}"
            );
            assert!(chunk.is_multiple_of(4) && chunk * splits >= k && chunk * (splits - 1) < k);
        }
    }
}

#[test]
fn fused_activation_backward_matches_reference_split_or_not() {
    use muon_wgpu::nn::reference::activate_grad;
    use muon_wgpu::nn::Activation;
    for a in adapters() {
        let ctx = &a.ctx;
        let products = ModelMatmul::new(&Kernels::new(&ctx.device), &ctx.device);
        // dx = (dy·W) ⊙ gelu'(z): one launch (many tiles), and split along k.
        for (m, n, k) in [(512usize, 256usize, 64usize), (20, 68, 100), (512, 64, 256)] {
            let l = random(11, m * k);
            let r = random(12, k * n);
            let z: Vec<f32> = random(13, m * n).iter().map(|v| 3.0 * v).collect();
            let (lb, rb, zb) = (buffer(ctx, &l), buffer(ctx, &r), buffer(ctx, &z));
            let cb = buffer(ctx, &vec![f32::NAN; m * n]);
            let ops = products.product(
                &ctx.device,
                Product {
                    transpose: Transpose::NONE,
                    left: &lb,
                    right: &rb,
                    addend: Some(&zb),
                    activation_grad: Some(Activation::Gelu.code()),
                    result: &cb,
                    dims: (m as u32, n as u32, k as u32),
                },
            );
            run(ctx, &ops);
            let want: Vec<f64> = reference(Transpose::NONE, &l, &r, None, (m, n, k))
                .iter()
                .zip(&z)
                .map(|(v, &z)| v * activate_grad(Activation::Gelu, z as f64))
                .collect();
            let err = max_abs_diff(&read(ctx, &cb, m * n), &want);
            assert!(
                err <= 2e-6 * k as f64 + 1e-5,
                "{}: {m}x{n}x{k}: {err:e}",
                a.ctx.info.name
            );
        }
    }
}
