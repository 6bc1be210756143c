//! The browser bindings (wasm32 only), exported to JavaScript by wasm-bindgen with TypeScript
//! declarations (`web/pkg/muon_wgpu.d.ts` after `scripts/web.sh`):
//!
//! - [`MuonOptimizer`]: the crate's optimizer on `Float32Array` parameters and gradients;
//! - [`DigitsRace`], [`ImageRace`] and [`GptRace`]: the three modes of the demo page in `web/`,
//!   Muon + AdamW against AdamW alone on the crate's GPU MLP and GPT ([`crate::demo`], plain Rust
//!   shared with `examples/web_parity.rs`), one class shape for all three (`race_class!`);
//! - [`adapterInfo`]: what WebGPU adapter the page runs on; [`gpuDevice`]: its `GPUDevice`, to
//!   share with other WebGPU code (`muon-wgpu/tfjs` puts TensorFlow.js on it);
//! - [`loadDigits`] and [`loadCorpus`]: the data files the wasm leaves out for its size (the page
//!   fetches them); [`digitsData`]: the digits for JavaScript models (the tfjs tab).
//!
//! Every error is a JS exception carrying the crate's message. Nothing here blocks: readbacks
//! are promises, resolved when the browser has mapped the buffer.
//!
//! ```js
//! import init, { MuonOptimizer } from "./pkg/muon_wgpu.js";
//! await init();
//! const opt = await MuonOptimizer.create({ preset: "torch", lr: 0.02, adamLr: 3e-3 });
//! opt.addParameter("hidden.weight", [256, 128], weights); // rank 2: Muon
//! opt.addParameter("hidden.bias", [256], bias);           // rank 1: AdamW
//! opt.build();
//! opt.setGradient("hidden.weight", gradW);
//! opt.setGradient("hidden.bias", gradB);
//! opt.step();
//! const w = await opt.readParameter("hidden.weight");     // Float32Array
//! ```
//!
//! The files: `context` (the page's device), `convert` (errors and JS values), `data` (the
//! digits), `fields`
//! (options objects), `types` (TypeScript declarations), `optimizer`, and `race` and `gpt` (the
//! race classes).

mod context;
mod convert;
mod data;
mod fields;
mod gpt;
mod optimizer;
mod race;
mod types;

pub use context::{adapter_info, gpu_device};
pub use data::{digits_data, load_digits};
pub use gpt::{load_corpus, GptRace};
pub use optimizer::MuonOptimizer;
pub use race::{default_image, DigitsRace, ImageRace};
pub use types::{ImageOptions, MuonOptions, RaceOptions};

use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
fn start() {
    // Rust panics show up in the console with their message instead of "unreachable".
    console_error_panic_hook::set_once();
}
