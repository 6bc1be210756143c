//! Shared by the tests, the golden generator and the example: one burn runtime per process,
//! small burn models, burn's own Muon + AdamW split by routing, and deterministic data.
#![allow(dead_code)]

use std::sync::OnceLock;

use burn::module::{Module, ModuleVisitor, Param, ParamGroup};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, Relu};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer, MuonConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use muon_wgpu::Group;
use muon_wgpu_burn::{BurnWgpu, MuonWgpu};

/// burn's wgpu runtime starts once per process; every test shares it.
pub fn gpu() -> &'static BurnWgpu {
    static GPU: OnceLock<BurnWgpu> = OnceLock::new();
    GPU.get_or_init(|| BurnWgpu::init().expect("burn's wgpu runtime starts"))
}

pub mod golden;

/// A deterministic N(0, σ²) stream (xorshift + Box-Muller): no `rand` dependency.
pub struct Normal(u64);

impl Normal {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub fn sample(&mut self, n: usize, sigma: f64) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let (u, v) = (self.uniform(), self.uniform());
                (sigma * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
            })
            .collect()
    }
}

/// A two-hidden-layer MLP: `input` and `hidden` to Muon, `head` and the biases to AdamW.
#[derive(Module, Debug)]
pub struct Mlp {
    pub input: Linear,
    pub hidden: Linear,
    pub head: Linear,
    pub relu: Relu,
}

impl Mlp {
    pub fn new(inputs: usize, width: usize, classes: usize, device: &Device) -> Self {
        Self {
            input: LinearConfig::new(inputs, width).init(device),
            hidden: LinearConfig::new(width, width).init(device),
            head: LinearConfig::new(width, classes).init(device),
            relu: Relu::new(),
        }
    }

    pub fn loss(&self, x: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
        let h = self.relu.forward(self.input.forward(x));
        let h = self.relu.forward(self.hidden.forward(h));
        let logits = self.head.forward(h);
        CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits, targets)
    }
}

/// A one-layer `burn::nn` transformer language model: embedding (AdamW), encoder block (its
/// attention and feed-forward matrices to Muon, norms and biases to AdamW), head (AdamW).
#[derive(Module, Debug)]
pub struct Block {
    pub token_embedding: Embedding,
    pub encoder: TransformerEncoder,
    pub head: Linear,
}

impl Block {
    pub fn new(vocab: usize, d_model: usize, heads: usize, device: &Device) -> Self {
        Self {
            token_embedding: EmbeddingConfig::new(vocab, d_model).init(device),
            encoder: TransformerEncoderConfig::new(d_model, 4 * d_model, heads, 1).init(device),
            head: LinearConfig::new(d_model, vocab).init(device),
        }
    }

    /// Next-token cross-entropy of `tokens` (`[batch, positions + 1]`).
    pub fn loss(&self, tokens: Tensor<2, Int>) -> Tensor<1> {
        let [batch, width] = tokens.dims();
        let inputs = tokens.clone().slice([0..batch, 0..width - 1]);
        let targets = tokens.slice([0..batch, 1..width]);
        let x = self.token_embedding.forward(inputs);
        let x = self.encoder.forward(TransformerEncoderInput::new(x));
        let logits = self.head.forward(x);
        let [b, s, v] = logits.dims();
        CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.reshape([b * s, v]), targets.reshape([b * s]))
    }
}

/// burn's own optimizer for the same split as ours: `muon` for every parameter our routing
/// sends to Muon, `adamw` (a `ParamGroup` by path) for the rest.
pub fn burn_reference(ours: &MuonWgpu, muon: &MuonConfig, adamw: &AdamWConfig) -> ModuleOptimizer {
    let adam_paths: Vec<String> = (ours.routes().into_iter())
        .filter(|(_, g)| matches!(g, Group::AdamW(_)))
        .map(|(p, _)| p)
        .collect();
    muon.init()
        .with_group(ParamGroup::from_paths(adam_paths), adamw.build(), None)
}

/// Every float parameter's path and values (reads back: for checks only).
pub fn values<M: Module>(module: &M) -> Vec<(String, Vec<f32>)> {
    #[derive(Default)]
    struct Read {
        path: Vec<String>,
        out: Vec<(String, Vec<f32>)>,
    }
    impl ModuleVisitor for Read {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.into());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let data = param.val().into_data();
            let values = data.as_slice::<f32>().expect("f32").to_vec();
            self.out.push((self.path.join("."), values));
        }
    }
    let mut read = Read::default();
    module.visit(&mut read);
    read.out
}

/// `max|a − b| / max|b|` over the worst tensor, with its name.
pub fn worst_relative(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> (String, f64) {
    assert_eq!(a.len(), b.len(), "different parameter lists");
    let mut worst = (String::new(), 0.0);
    for ((name, x), (other, y)) in a.iter().zip(b) {
        assert_eq!(name, other);
        let scale = y.iter().fold(0f64, |m, v| m.max(v.abs() as f64)).max(1e-12);
        let diff = (x.iter().zip(y)).fold(0f64, |m, (p, q)| m.max((p - q).abs() as f64));
        if diff / scale > worst.1 {
            worst = (name.clone(), diff / scale);
        }
    }
    worst
}

/// A float tensor from values.
pub fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// A second `GradientsParams` holding the same gradient tensors for `module`'s parameters.
///
/// burn's forward and backward are not reproducible from call to call on lavapipe (the
/// gradients of one model on one batch, computed three times, differed by up to 4e-2), so
/// comparisons give both optimizers the same gradients rather than two backward passes.
pub fn same_grads<M: Module>(grads: &GradientsParams, module: &M) -> GradientsParams {
    struct Copy<'a> {
        from: &'a GradientsParams,
        to: GradientsParams,
    }
    impl ModuleVisitor for Copy<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.from.get::<D>(param.id) {
                self.to.register(param.id, g);
            }
        }
    }
    let mut copy = Copy {
        from: grads,
        to: GradientsParams::new(),
    };
    module.visit(&mut copy);
    copy.to
}

/// Asserts each route: AdamW exactly where `adamw(path)`, Muon elsewhere.
pub fn assert_routes(ours: &MuonWgpu, adamw: impl Fn(&str) -> bool) {
    for (path, group) in ours.routes() {
        let want = if adamw(&path) {
            Group::AdamW(0)
        } else {
            Group::Muon(0)
        };
        assert_eq!(group, want, "{path}");
    }
}
