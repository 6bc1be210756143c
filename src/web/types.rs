//! The TypeScript declarations of the options and results that wasm-bindgen cannot derive.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** The WebGPU adapter in use (see `adapterInfo`). */
export interface AdapterInfo {
  name: string;
  backend: string;
  deviceType: string;
  driver: string;
  /** "name (backend)" */
  description: string;
  subgroups: boolean;
  shaderF16: boolean;
}

/** Options of `MuonOptimizer.create`: a preset and the overrides of its defaults (the replay format's keys, in camelCase). */
export interface MuonOptions {
  /**
   * Give every parameter its own value and gradient `GPUBuffer` (offset 0, usage
   * `STORAGE | COPY_SRC | COPY_DST`), for `parameterBuffer` / `gradientBuffer`; false by default
   * (parameters packed into shared buffers).
   */
  gpuBuffers?: boolean;
  /** Whose semantics to reproduce; "torch" by default ("keras" and "optax" read `[in, out]` weights as tfjs stores them). */
  preset?: "torch" | "keller" | "optax" | "keras" | "keras-3.12" | "moonlight";
  /** Muon's learning rate. */
  lr?: number;
  /** AdamW's learning rate. */
  adamLr?: number;
  weightDecay?: number;
  adamWeightDecay?: number;
  momentum?: number;
  nesterov?: boolean;
  nsSteps?: number;
  /** "a,b,c", "a,b,c;a,b,c;..." or "polar_express". */
  nsCoefficients?: string;
  eps?: number;
  adjustLr?: "original" | "match_rms_adamw" | "none";
  rmsScale?: number;
  adamBetas?: [number, number];
  adamEps?: number;
  /** Keras' base optimizer options (at most one clipping option). */
  clipnorm?: number;
  globalClipnorm?: number;
  clipvalue?: number;
  lossScaleFactor?: number;
  /** Update on every S-th step (S >= 2) with the mean of S gradients. */
  gradientAccumulationSteps?: number;
  /** Keep an exponential moving average of the parameters (`readAverage`). */
  useEma?: boolean;
  emaMomentum?: number;
  emaOverwriteFrequency?: number;
  /** A factor on every learning rate per step, e.g. "cosine:decay_steps=1000,alpha=0.1,warmup_steps=100". */
  lrSchedule?: string;
  /** Keras routing: ";"-separated regular expressions; matching names go to AdamW. */
  excludeLayers?: string;
  excludeEmbeddings?: boolean;
}

/** A split of the digits (`digitsData`): `inputs` is `len × features`, row-major. */
export interface DigitsSplit { inputs: Float32Array; labels: Uint32Array; features: number; classes: number }
export interface DigitsData { train: DigitsSplit; test: DigitsSplit }

/** Loss and accuracy on the test digits. */
export interface Metrics { loss: number; accuracy: number }

/** A value for each run of a race. */
export interface Pair<T> { muon: T; adamw: T }

/** Options of `DigitsRace.create`; defaults in parentheses. */
export interface RaceOptions {
  /** Hidden widths ([128, 128], the MLP of `examples/train.rs`). */
  hidden?: number[];
  /** Minibatch size (64). */
  batch?: number;
  /** Seed of the initialization and of the minibatch order (0). */
  seed?: number;
  /** Muon's learning rate (0.01 for the digits, 0.02 for an image). */
  muonLr?: number;
  /** AdamW's learning rate next to Muon (0.01 for the digits, 3e-3 for an image). */
  auxLr?: number;
  /** The AdamW-only run's learning rate (0.01 for the digits, 3e-3 for an image). */
  adamwLr?: number;
}

/** Options of `ImageRace.create`: those of `RaceOptions` (batch in pixels, default 512; hidden [128, 128, 128]) and Fourier octaves (6). */
export interface ImageOptions extends RaceOptions {
  frequencies?: number;
}
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "MuonOptions")]
    pub type MuonOptions;
    #[wasm_bindgen(typescript_type = "RaceOptions")]
    pub type RaceOptions;
    #[wasm_bindgen(typescript_type = "ImageOptions")]
    pub type ImageOptions;
}
