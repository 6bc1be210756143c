//! The GPT's layers and whole backward pass against finite differences of the f64 reference, and
//! the GPU's forward and backward against the reference, on odd sizes, on every adapter.

mod common;

use common::*;
use muon_wgpu::nn::gpt::reference::{self, AttentionShape};
use muon_wgpu::nn::gpt::{self, Gpt, GptSpec, TokenBatchRef};

/// Central differences of `f` at `x`.
fn finite_differences(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let h = 1e-6;
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let keep = x[i];
            x[i] = keep + h;
            let up = f(&x);
            x[i] = keep - h;
            let down = f(&x);
            x[i] = keep;
            (up - down) / (2.0 * h)
        })
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn assert_close(got: &[f64], want: &[f64], tolerance: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = max_abs(want).max(1e-12);
    let err = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    assert!(
        err <= tolerance * scale,
        "{what}: max error {err:e} against a largest value of {scale:e}"
    );
}

/// [`muon_wgpu::bench::random::uniform`] in f64, times `scale`.
fn random64(seed: u64, len: usize, scale: f64) -> Vec<f64> {
    muon_wgpu::bench::random::uniform(seed, len)
        .iter()
        .map(|&v| v as f64 * scale)
        .collect()
}

#[test]
fn rms_norm_backward_matches_finite_differences() {
    let (rows, cols) = (3, 7);
    let x = random64(1, rows * cols, 2.0);
    let dy = random64(2, rows * cols, 1.0);
    let analytic = reference::rms_norm_backward(&x, &dy, cols);
    let numeric = finite_differences(&x, |x| dot(&reference::rms_norm(x, cols).0, &dy));
    assert_close(&analytic, &numeric, 1e-7, "rms norm dx");
}

/// Odd shapes: 5 and 7 positions, heads of 3 and 1 elements.
const SHAPES: [AttentionShape; 3] = [
    AttentionShape {
        sequences: 2,
        positions: 5,
        width: 6,
        heads: 2,
    },
    AttentionShape {
        sequences: 1,
        positions: 7,
        width: 9,
        heads: 3,
    },
    AttentionShape {
        sequences: 3,
        positions: 3,
        width: 2,
        heads: 2,
    },
];

#[test]
fn attention_backward_matches_finite_differences_on_odd_shapes() {
    for (i, a) in SHAPES.into_iter().enumerate() {
        let rows = a.sequences * a.positions;
        let qkv = random64(10 + i as u64, rows * 3 * a.width, 1.5);
        let dy = random64(20 + i as u64, rows * a.width, 1.0);
        let (_, p) = reference::attention(&qkv, a);
        let analytic = reference::attention_backward(&qkv, &p, &dy, a);
        let numeric = finite_differences(&qkv, |qkv| dot(&reference::attention(qkv, a).0, &dy));
        assert_close(&analytic, &numeric, 1e-7, &format!("attention dqkv {a:?}"));
    }
}

#[test]
fn attention_is_causal_and_its_rows_are_distributions() {
    let a = SHAPES[1];
    let rows = a.positions;
    let qkv = random64(3, rows * 3 * a.width, 1.5);
    let (y, p) = reference::attention(&qkv, a);
    let t = a.positions;
    for h in 0..a.heads {
        for i in 0..t {
            let row = &p[(h * t + i) * t..(h * t + i + 1) * t];
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!(
                row[i + 1..].iter().all(|&v| v == 0.0),
                "future keys weighted"
            );
        }
    }
    // Changing the last position's keys and values leaves every earlier output alone.
    let mut changed = qkv.clone();
    let last = (t - 1) * 3 * a.width;
    for v in &mut changed[last + a.width..last + 3 * a.width] {
        *v += 1.0;
    }
    let (y2, _) = reference::attention(&changed, a);
    assert_eq!(y[..(t - 1) * a.width], y2[..(t - 1) * a.width]);
    assert_ne!(y[(t - 1) * a.width..], y2[(t - 1) * a.width..]);
}

#[test]
fn embedding_backward_matches_finite_differences() {
    let (vocab, positions, width) = (5, 3, 4);
    let tokens = [4u32, 0, 4, 2, 2, 1];
    let table = random64(4, (vocab + positions) * width, 1.0);
    let dx = random64(5, tokens.len() * width, 1.0);
    let (wte, wpe) = table.split_at(vocab * width);
    let (dwte, dwpe) = reference::embedding_backward(&tokens, &dx, vocab, positions, width);
    let numeric = finite_differences(&table, |t| {
        let (wte, wpe) = t.split_at(vocab * width);
        dot(
            &reference::embedding(&tokens, wte, wpe, positions, width),
            &dx,
        )
    });
    assert_close(&[dwte, dwpe].concat(), &numeric, 1e-8, "embedding");
    let x = reference::embedding(&tokens, wte, wpe, positions, width);
    assert_eq!(x[3 * width], wte[2 * width] + wpe[0]);
}

/// Odd sizes: head size 6, an MLP 72 wide (past one 64-wide matmul tile), 7 positions.
const SPEC: GptSpec = GptSpec {
    vocab: 11,
    context: 7,
    width: 18,
    heads: 3,
    layers: 2,
};

/// Parameters ten times nanoGPT's scale, so that attention and GELU leave their linear ranges.
fn params(spec: &GptSpec, seed: u64) -> Vec<Vec<f32>> {
    gpt::init_params(spec, seed)
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let bias = spec.params()[i].shape.len() == 1;
            p.iter()
                .enumerate()
                .map(|(j, v)| {
                    if bias {
                        0.1 * ((j % 5) as f32 - 2.0)
                    } else {
                        10.0 * v
                    }
                })
                .collect()
        })
        .collect()
}

fn tokens(spec: &GptSpec, sequences: usize, seed: u32) -> (Vec<u32>, Vec<u32>) {
    let n = sequences * spec.context;
    let stream: Vec<u32> = (0..=n as u32)
        .map(|i| (i * 7 + seed + i * i / 3) % spec.vocab as u32)
        .collect();
    (stream[..n].to_vec(), stream[1..].to_vec())
}

#[test]
fn whole_model_gradients_match_finite_differences() {
    let spec = GptSpec {
        vocab: 5,
        context: 4,
        width: 6,
        heads: 2,
        layers: 2,
    };
    let p: Vec<Vec<f64>> = params(&spec, 7).iter().map(|v| to_f64(v)).collect();
    let (inputs, targets) = tokens(&spec, 2, 1);
    let (_, grads) = reference::loss_and_gradients(&spec, &p, &inputs, &targets);
    for (k, param) in spec.params().iter().enumerate() {
        let numeric = finite_differences(&p[k], |values| {
            let mut q = p.clone();
            q[k] = values.to_vec();
            reference::loss(&spec, &q, &inputs, &targets)
        });
        assert_close(&grads[k], &numeric, 1e-6, &param.name());
    }
}

#[test]
fn gpu_loss_and_gradients_match_the_reference_on_every_adapter() {
    let p = params(&SPEC, 3);
    let p64: Vec<Vec<f64>> = p.iter().map(|v| to_f64(v)).collect();
    // Three sequences in a plan of four: the padding sequence must not count.
    let (inputs, targets) = tokens(&SPEC, 3, 2);
    let (loss, grads) = reference::loss_and_gradients(&SPEC, &p64, &inputs, &targets);
    for adapter in adapters() {
        let ctx = &adapter.ctx;
        let model = Gpt::new(ctx, SPEC, &p).unwrap();
        let mut plan = model.plan(4, true, 4).unwrap();
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        let batch = TokenBatchRef {
            inputs: &inputs,
            targets: &targets,
        };
        plan.record(ctx, &mut encoder, &batch).unwrap();
        ctx.queue.submit([encoder.finish()]);
        let metrics = pollster::block_on(plan.read_history(ctx)).unwrap();
        let got = pollster::block_on(model.read_gradients()).unwrap();
        let name = &ctx.info.name;
        assert_eq!(metrics[0].samples, inputs.len());
        assert!(
            (metrics[0].loss - loss).abs() < 1e-4 * loss,
            "{name}: loss {} vs {loss}",
            metrics[0].loss
        );
        for (k, param) in SPEC.params().iter().enumerate() {
            let what = format!("{name}: {}", param.name());
            assert_close(&to_f64(&got[k]), &grads[k], 2e-3, &what);
        }
    }
}

#[test]
fn gpu_attention_masks_the_future_on_every_adapter() {
    let p = params(&SPEC, 5);
    let (inputs, targets) = tokens(&SPEC, 1, 0);
    // The same sequence with its last three tokens changed.
    let mut changed = inputs.clone();
    for t in &mut changed[SPEC.context - 3..] {
        *t = (*t + 1) % SPEC.vocab as u32;
    }
    let v = SPEC.vocab;
    let keep = (SPEC.context - 3) * v;
    for adapter in adapters() {
        let ctx = &adapter.ctx;
        let model = Gpt::new(ctx, SPEC, &p).unwrap();
        let mut plan = model.plan(1, false, 4).unwrap();
        let logits = |plan: &mut gpt::GptPlan, inputs: &[u32]| {
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            let batch = TokenBatchRef {
                inputs,
                targets: &targets,
            };
            plan.record(ctx, &mut encoder, &batch).unwrap();
            ctx.queue.submit([encoder.finish()]);
            read(ctx, plan.logits_buffer(), SPEC.context * v)
        };
        let a = logits(&mut plan, &inputs);
        let b = logits(&mut plan, &changed);
        assert_eq!(
            a[..keep],
            b[..keep],
            "{}: the past saw the future",
            ctx.info.name
        );
        assert_ne!(a[keep..], b[keep..]);
        let want = reference::forward(&SPEC, &to_params64(&p), &inputs).logits;
        assert!(max_abs_diff(&a, &want) < 1e-3 * max_abs(&want));
    }
}

fn to_params64(p: &[Vec<f32>]) -> Vec<Vec<f64>> {
    p.iter().map(|v| to_f64(v)).collect()
}

#[test]
fn bad_batches_are_rejected_with_the_tensor_at_fault() {
    let ctx = &adapters()[0].ctx;
    let model = Gpt::new(ctx, SPEC, &params(&SPEC, 1)).unwrap();
    let mut plan = model.plan(2, false, 4).unwrap();
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    let (inputs, targets) = tokens(&SPEC, 3, 0);
    for (batch, needle) in [
        ((&inputs[..5], &targets[..5]), "sequences of 7"),
        ((&inputs[..], &targets[..]), "at most 2"),
        ((&inputs[..7], &targets[..6]), "6 targets"),
        ((&[11u32; 7][..], &targets[..7]), "vocabulary of 11"),
    ] {
        let batch = TokenBatchRef {
            inputs: batch.0,
            targets: batch.1,
        };
        let err = plan.record(ctx, &mut encoder, &batch).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    }
    let mut wrong = params(&SPEC, 1);
    wrong[2].pop();
    let err = Gpt::new(ctx, SPEC, &wrong).unwrap_err();
    assert!(err.to_string().contains("blocks.0.attn.qkv"), "{err}");
    let odd = GptSpec { heads: 4, ..SPEC };
    assert!(Gpt::new(ctx, odd, &params(&SPEC, 1)).is_err());
}
