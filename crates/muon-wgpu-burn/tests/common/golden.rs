//! The golden cases: a wide and a tall matrix (Muon), a bias and an embedding (AdamW), fixed
//! initial values and gradients, stepped by burn's own `MuonConfig` + `AdamWConfig`
//! (`examples/burn_golden.rs` writes `tests/golden/<case>.safetensors`).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::module::{Module, Param};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamWConfig, AdjustLrFn, MuonConfig, decay::WeightDecayConfig};
use burn::tensor::{Device, Tensor};

use super::{Normal, tensor};

/// The parameters of a case (burn paths `wide`, `tall`, `bias`, `token_embedding`).
#[derive(Module, Debug)]
pub struct GoldenModel {
    pub wide: Param<Tensor<2>>,
    pub tall: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
    pub token_embedding: Param<Tensor<2>>,
}

pub const SHAPES: [(&str, &[usize]); 4] = [
    ("wide", &[6, 10]),
    ("tall", &[12, 5]),
    ("bias", &[7]),
    ("token_embedding", &[9, 4]),
];

/// The paths burn's optimizer gets AdamW for (ours routes them there by rank and name).
pub const ADAMW_PATHS: [&str; 2] = ["bias", "token_embedding"];

impl GoldenModel {
    pub fn from_values(values: &HashMap<String, Vec<f32>>, device: &Device) -> Self {
        let matrix = |name: &str| {
            let shape = SHAPES.iter().find(|s| s.0 == name).unwrap().1;
            Param::from_tensor(tensor(values[name].clone(), [shape[0], shape[1]], device))
        };
        Self {
            wide: matrix("wide"),
            tall: matrix("tall"),
            bias: Param::from_tensor(tensor(values["bias"].clone(), [7], device)),
            token_embedding: matrix("token_embedding"),
        }
    }
}

/// One case: burn's configs, the rate, the steps, and which parameter has no gradient when.
pub struct GoldenCase {
    pub name: &'static str,
    pub muon: MuonConfig,
    pub adamw: AdamWConfig,
    pub lr: f64,
    pub steps: usize,
    pub seed: u64,
    /// `(step, path)`: this parameter gets no gradient at this step.
    pub missing: Option<(usize, &'static str)>,
}

pub fn cases() -> Vec<GoldenCase> {
    vec![
        GoldenCase {
            name: "burn_defaults",
            muon: MuonConfig::new(),
            adamw: AdamWConfig::new(),
            lr: 0.02,
            steps: 4,
            seed: 1,
            missing: None,
        },
        GoldenCase {
            name: "burn_match_rms_wd_no_nesterov",
            muon: MuonConfig::new()
                .with_weight_decay(Some(WeightDecayConfig::new(0.1)))
                .with_adjust_lr_fn(AdjustLrFn::MatchRmsAdamW)
                .with_momentum(MomentumConfig {
                    momentum: 0.9,
                    dampening: 0.0,
                    nesterov: false,
                })
                .with_ns_steps(3),
            adamw: AdamWConfig::new()
                .with_beta_1(0.8)
                .with_beta_2(0.95)
                .with_epsilon(1e-3)
                .with_weight_decay(0.01),
            lr: 0.01,
            steps: 3,
            seed: 2,
            missing: Some((1, "tall")),
        },
    ]
}

/// Initial values and per-step gradients of a case (N(0, 0.5²) and N(0, 0.1²)).
/// Values by parameter path.
pub type Values = HashMap<String, Vec<f32>>;

pub fn inputs(case: &GoldenCase) -> (Values, Vec<Values>) {
    let len = |shape: &[usize]| shape.iter().product::<usize>();
    let mut rng = Normal::new(case.seed);
    let init = SHAPES
        .iter()
        .map(|(n, s)| (n.to_string(), rng.sample(len(s), 0.5)))
        .collect();
    let grads = (0..case.steps)
        .map(|step| {
            SHAPES
                .iter()
                .filter(|(n, _)| case.missing != Some((step, n)))
                .map(|(n, s)| (n.to_string(), rng.sample(len(s), 0.1)))
                .collect()
        })
        .collect();
    (init, grads)
}

pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

impl GoldenModel {
    /// Gradients from values by path (a missing path has no gradient), on burn's inner device.
    pub fn gradients(
        &self,
        values: &HashMap<String, Vec<f32>>,
        device: &Device,
    ) -> burn::optim::GradientsParams {
        let mut g = burn::optim::GradientsParams::new();
        let ids = [
            ("wide", self.wide.id),
            ("tall", self.tall.id),
            ("bias", self.bias.id),
            ("token_embedding", self.token_embedding.id),
        ];
        for (name, id) in ids {
            let Some(v) = values.get(name) else { continue };
            let shape = SHAPES.iter().find(|s| s.0 == name).unwrap().1;
            match shape.len() {
                1 => g.register(id, tensor(v.clone(), [shape[0]], device)),
                _ => g.register(id, tensor(v.clone(), [shape[0], shape[1]], device)),
            }
        }
        g
    }
}
