//! What a network is: layer sizes, activations, the loss, its parameters and how they are routed.

use crate::error::{Error, Result};
use crate::settings::Route;

use super::data::Rng;

/// An elementwise activation. Its [`code`](Activation::code) is what the shaders switch on.
///
/// ```text
/// identity   x
/// relu       max(x, 0)                                   relu'(0) = 0, as PyTorch
/// gelu       x·Φ(x), Φ the standard normal CDF           PyTorch's gelu(approximate="none")
/// gelu_tanh  x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))/2    PyTorch's gelu(approximate="tanh")
/// tanh       tanh(x)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    Identity,
    Relu,
    Gelu,
    GeluTanh,
    Tanh,
}

impl Activation {
    /// Every activation.
    pub const ALL: [Activation; 5] = [
        Self::Identity,
        Self::Relu,
        Self::Gelu,
        Self::GeluTanh,
        Self::Tanh,
    ];

    /// The code `nn_activations.wgsl` switches on.
    pub fn code(self) -> u32 {
        match self {
            Self::Identity => 0,
            Self::Relu => 1,
            Self::Gelu => 2,
            Self::GeluTanh => 3,
            Self::Tanh => 4,
        }
    }

    /// The name [`FromStr`](std::str::FromStr) accepts.
    pub fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Relu => "relu",
            Self::Gelu => "gelu",
            Self::GeluTanh => "gelu_tanh",
            Self::Tanh => "tanh",
        }
    }
}

impl std::str::FromStr for Activation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == s.trim())
            .ok_or_else(|| Error::InvalidHyperparameter {
                key: "activation".into(),
                value: s.into(),
                reason: "expected identity, relu, gelu, gelu_tanh or tanh".into(),
            })
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The training loss on the last layer's outputs `y` (rows × classes), averaged over the batch's rows.
///
/// ```text
/// softmax cross-entropy   L = mean_r [logsumexp(y_r) - y_r[label_r]]       ∂L/∂y = (softmax(y) - onehot)/rows
/// mean squared error      L = mean_r mean_c (y_rc - t_rc)²                 ∂L/∂y = 2(y - t)/(rows·classes)
/// ```
/// Both match PyTorch's `cross_entropy` and `mse_loss` with `reduction="mean"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Loss {
    SoftmaxCrossEntropy,
    MeanSquaredError,
}

impl Loss {
    /// Every loss.
    pub const ALL: [Loss; 2] = [Self::SoftmaxCrossEntropy, Self::MeanSquaredError];
}

/// A multilayer perceptron: `sizes[0]` inputs, then one linear layer per following size.
/// Every layer but the last applies `activation`; the last is linear (its outputs are the
/// logits of the softmax cross-entropy, or the predictions of the squared error).
#[derive(Clone, Debug, PartialEq)]
pub struct MlpSpec {
    pub sizes: Vec<usize>,
    pub activation: Activation,
    pub loss: Loss,
}

/// Largest width of a layer; keeps every buffer index within `u32`.
const MAX_WIDTH: usize = 1 << 20;

impl MlpSpec {
    /// A checked spec: at least one layer, every width in `1..=2²⁰`.
    pub fn new(sizes: &[usize], activation: Activation, loss: Loss) -> Result<Self> {
        let spec = Self {
            sizes: sizes.to_vec(),
            activation,
            loss,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Checks the sizes.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: &str| Error::InvalidShape {
            name: "mlp".into(),
            shape: self.sizes.clone(),
            reason: reason.into(),
        };
        if self.sizes.len() < 2 {
            return Err(bad("an MLP needs an input size and at least one layer"));
        }
        if self.sizes.iter().any(|&s| s == 0 || s > MAX_WIDTH) {
            return Err(bad("every width must be between 1 and 2^20"));
        }
        Ok(())
    }

    /// Number of linear layers.
    pub fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// Input features.
    pub fn inputs(&self) -> usize {
        self.sizes[0]
    }

    /// Outputs (classes).
    pub fn outputs(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// `(in, out)` of layer `l`; its weight is stored `(out, in)` as PyTorch's `nn.Linear`.
    pub fn layer_dims(&self, l: usize) -> (usize, usize) {
        (self.sizes[l], self.sizes[l + 1])
    }

    /// The activation after layer `l`: the spec's for hidden layers, identity for the last.
    pub fn layer_activation(&self, l: usize) -> Activation {
        if l + 1 == self.layers() {
            Activation::Identity
        } else {
            self.activation
        }
    }

    /// Trainable parameters in all.
    pub fn parameter_count(&self) -> usize {
        (0..self.layers())
            .map(|l| {
                let (i, o) = self.layer_dims(l);
                o * i + o
            })
            .sum()
    }

    /// Every parameter's role, in registration order (`layers.0.weight`, `layers.0.bias`, ...).
    pub fn roles(&self) -> Vec<ParamRole> {
        (0..self.layers())
            .flat_map(|layer| {
                [ParamKind::Weight, ParamKind::Bias].map(|kind| ParamRole {
                    layer,
                    layers: self.layers(),
                    kind,
                })
            })
            .collect()
    }
}

/// A layer's weight `(out, in)` and bias `(out)`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerParams<T = f32> {
    pub weight: Vec<T>,
    pub bias: Vec<T>,
}

impl LayerParams<f32> {
    /// The same values in `f64`.
    pub fn to_f64(&self) -> LayerParams<f64> {
        LayerParams {
            weight: self.weight.iter().map(|&v| v as f64).collect(),
            bias: self.bias.iter().map(|&v| v as f64).collect(),
        }
    }
}

/// PyTorch's default `nn.Linear` initialization, from a seed: weight and bias uniform in
/// `±1/sqrt(fan_in)`. The same seed gives the same values on every platform.
pub fn init_params(spec: &MlpSpec, seed: u64) -> Vec<LayerParams> {
    let mut rng = Rng::new(seed);
    (0..spec.layers())
        .map(|l| {
            let (fan_in, fan_out) = spec.layer_dims(l);
            let bound = 1.0 / (fan_in as f64).sqrt();
            let mut uniform = |n: usize| -> Vec<f32> {
                (0..n).map(|_| rng.uniform(-bound, bound) as f32).collect()
            };
            LayerParams {
                weight: uniform(fan_out * fan_in),
                bias: uniform(fan_out),
            }
        })
        .collect()
}

/// Whether a parameter is a weight matrix or a bias.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamKind {
    Weight,
    Bias,
}

/// Where a parameter sits in the network, for choosing its optimizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamRole {
    pub layer: usize,
    /// Layers in the network.
    pub layers: usize,
    pub kind: ParamKind,
}

impl ParamRole {
    /// The parameter's name: `layers.<l>.weight` or `layers.<l>.bias`.
    pub fn name(&self) -> String {
        let kind = match self.kind {
            ParamKind::Weight => "weight",
            ParamKind::Bias => "bias",
        };
        format!("layers.{}.{kind}", self.layer)
    }

    /// A weight matrix of neither the first nor the last layer.
    pub fn is_hidden_matrix(&self) -> bool {
        self.kind == ParamKind::Weight && self.layer > 0 && self.layer + 1 < self.layers
    }
}

/// Muon (group 0) for the hidden weight matrices; AdamW (group 0) for the first layer, the last
/// layer and every bias: the split KellerJordan's `MuonWithAuxAdam` and Moonlight recommend.
pub fn muon_for_hidden(role: &ParamRole) -> Route {
    muon_if(role.is_hidden_matrix())
}

/// Muon (group 0) where `muon`, else AdamW (group 0).
pub(crate) fn muon_if(muon: bool) -> Route {
    if muon {
        Route::Muon(0)
    } else {
        Route::AdamW(0)
    }
}

/// AdamW (group 0) for every parameter: the baseline.
pub fn adamw_only(_: &ParamRole) -> Route {
    Route::AdamW(0)
}
