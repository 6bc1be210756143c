//! The MLP's backward pass against finite differences of the f64 reference: the reference's own
//! analytic gradients, and the GPU's, for every activation and loss, on odd sizes, on every adapter.

mod common;

use common::*;
use muon_wgpu::nn::reference::{self, activate, activate_grad, erf};
use muon_wgpu::nn::{
    self, Activation, Batch, LayerParams, Loss, MlpSpec, Targets, Trainer, TrainerOptions,
};
use muon_wgpu::{Overrides, Preset};

/// Odd widths, one wider than a 64-wide matmul tile.
const SIZES: [usize; 4] = [13, 67, 29, 5];
/// Rows of the batch, and of the plan it is padded to.
const ROWS: usize = 11;
const CAPACITY: usize = 16;

struct Case {
    spec: MlpSpec,
    params: Vec<LayerParams>,
    inputs: Vec<f32>,
    labels: Vec<u32>,
    values: Vec<f32>,
}

impl Case {
    fn new(activation: Activation, loss: Loss, seed: u64) -> Self {
        let spec = MlpSpec::new(&SIZES, activation, loss).unwrap();
        // Larger than PyTorch's init so that every activation leaves its linear range.
        let params = nn::init_params(&spec, seed)
            .into_iter()
            .map(|p| LayerParams {
                weight: p.weight.iter().map(|v| v * 2.5).collect(),
                bias: p.bias.iter().map(|v| v * 2.5).collect(),
            })
            .collect();
        let inputs = random(seed + 1, ROWS * SIZES[0]);
        let labels = (0..ROWS as u32)
            .map(|r| (r * 7 + seed as u32) % 5)
            .collect();
        let values = random(seed + 2, ROWS * 5);
        Self {
            spec,
            params,
            inputs,
            labels,
            values,
        }
    }

    fn targets(&self) -> Targets<'_> {
        match self.spec.loss {
            Loss::SoftmaxCrossEntropy => Targets::Labels(&self.labels),
            Loss::MeanSquaredError => Targets::Values(&self.values),
        }
    }

    fn params64(&self) -> Vec<LayerParams<f64>> {
        self.params.iter().map(LayerParams::to_f64).collect()
    }

    fn loss_at(&self, params: &[LayerParams<f64>]) -> f64 {
        let x = to_f64(&self.inputs);
        let fwd = reference::forward(&self.spec, params, &x, ROWS);
        reference::loss(self.spec.loss, fwd.outputs(), &self.targets(), ROWS, 5).loss
    }

    /// Central differences of the reference loss with respect to every parameter.
    fn finite_differences(&self) -> Vec<LayerParams<f64>> {
        let h = 1e-6;
        let base = self.params64();
        let mut out = Vec::new();
        for l in 0..base.len() {
            let mut grads = LayerParams {
                weight: vec![0.0; base[l].weight.len()],
                bias: vec![0.0; base[l].bias.len()],
            };
            for bias in [false, true] {
                let len = if bias {
                    base[l].bias.len()
                } else {
                    base[l].weight.len()
                };
                for i in 0..len {
                    let at = |delta: f64| {
                        let mut p = base.clone();
                        let t = if bias {
                            &mut p[l].bias
                        } else {
                            &mut p[l].weight
                        };
                        t[i] += delta;
                        self.loss_at(&p)
                    };
                    let g = (at(h) - at(-h)) / (2.0 * h);
                    if bias {
                        grads.bias[i] = g;
                    } else {
                        grads.weight[i] = g;
                    }
                }
            }
            out.push(grads);
        }
        out
    }
}

/// `max |got - want| / max |want|` over one tensor.
fn relative_error(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let diff = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    diff / max_abs(want).max(1e-12)
}

fn check_layers(label: &str, got: &[LayerParams<f64>], want: &[LayerParams<f64>], tol: f64) {
    for (l, (g, w)) in got.iter().zip(want).enumerate() {
        for (what, g, w) in [("weight", &g.weight, &w.weight), ("bias", &g.bias, &w.bias)] {
            let err = relative_error(g, w);
            assert!(
                err <= tol,
                "{label}: layer {l} {what} gradient error {err:.2e} (limit {tol:.0e})"
            );
        }
    }
}

#[test]
fn erf_matches_known_values() {
    for (x, want) in [
        (0.0, 0.0),
        (0.1, 0.1124629160182849),
        (0.5, 0.5204998778130465),
        (1.0, 0.8427007929497149),
        (2.0, 0.9953222650189527),
        (2.9, 0.9999589021219005),
        (3.1, 0.9999883513426328),
        (3.5, 0.9999992569016276),
        (5.0, 0.9999999999984626),
    ] {
        assert!((erf(x) - want).abs() < 1e-14, "erf({x}) = {}", erf(x));
        assert!((erf(-x) + want).abs() < 1e-14, "erf(-{x})");
    }
}

#[test]
fn activation_derivatives_match_finite_differences() {
    for act in Activation::ALL {
        for i in -40..=40 {
            // Offset from zero so that no point sits on ReLU's kink.
            let x = i as f64 * 0.15 + 0.0123;
            let h = 1e-6;
            let fd = (activate(act, x + h) - activate(act, x - h)) / (2.0 * h);
            let got = activate_grad(act, x);
            assert!(
                (got - fd).abs() < 1e-8 * (1.0 + fd.abs()),
                "{act} at {x}: {got} vs {fd}"
            );
        }
    }
}

#[test]
fn reference_backward_matches_finite_differences_for_every_activation_and_loss() {
    for act in Activation::ALL {
        for loss in Loss::ALL {
            let case = Case::new(act, loss, 3);
            let x = to_f64(&case.inputs);
            let (_, grads) = reference::loss_and_gradients(
                &case.spec,
                &case.params64(),
                &x,
                &case.targets(),
                ROWS,
            );
            check_layers(
                &format!("reference {act} {loss:?}"),
                &grads,
                &case.finite_differences(),
                1e-6,
            );
        }
    }
}

#[test]
fn gpu_gradients_match_finite_differences_of_the_reference_on_padded_batches() {
    let cases: Vec<(Case, Vec<LayerParams<f64>>)> = Activation::ALL
        .into_iter()
        .flat_map(|act| Loss::ALL.map(|loss| (act, loss)))
        .enumerate()
        .map(|(i, (act, loss))| {
            let case = Case::new(act, loss, 10 + i as u64);
            let fd = case.finite_differences();
            (case, fd)
        })
        .collect();
    for a in adapters() {
        let ctx = &a.ctx;
        for (case, fd) in &cases {
            let label = format!(
                "{} {} {:?}",
                ctx.describe(),
                case.spec.activation,
                case.spec.loss
            );
            let settings = Preset::Torch.settings(&Overrides::default()).unwrap();
            let options = TrainerOptions {
                batch_size: CAPACITY,
                eval_batch_size: CAPACITY,
                history: 8,
            };
            let mut trainer = Trainer::new(
                ctx,
                case.spec.clone(),
                &case.params,
                settings,
                nn::muon_for_hidden,
                options,
            )
            .unwrap();
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            let batch = Batch {
                inputs: &case.inputs,
                targets: case.targets(),
            };
            trainer.record_gradients(&mut encoder, batch).unwrap();
            ctx.queue.submit([encoder.finish()]);
            let got: Vec<LayerParams<f64>> = pollster::block_on(trainer.read_gradients())
                .unwrap()
                .iter()
                .map(LayerParams::to_f64)
                .collect();
            check_layers(&label, &got, fd, 2e-5);

            // The loss the GPU reports for the batch is the reference's.
            let metrics = pollster::block_on(trainer.read_metrics()).unwrap();
            assert_eq!(metrics.len(), 1, "{label}");
            let want = case.loss_at(&case.params64());
            assert!(
                (metrics[0].loss - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "{label}: loss {} vs {want}",
                metrics[0].loss
            );
            assert_eq!(metrics[0].samples, ROWS, "{label}");
        }
    }
}
