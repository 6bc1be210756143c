//! The demo's data for JavaScript models (the "TensorFlow.js + Muon" tab trains on it).

use js_sys::{Float32Array, Object, Uint32Array};
use wasm_bindgen::prelude::*;

use super::convert::{js_error, set};
use crate::nn::data::{digits, Dataset};

fn dataset(d: &Dataset) -> Object {
    let out = Object::new();
    set(&out, "inputs", Float32Array::from(d.inputs.as_slice()));
    set(&out, "labels", Uint32Array::from(d.labels.as_slice()));
    set(&out, "features", d.features as u32);
    set(&out, "classes", d.classes as u32);
    out
}

/// Hands the wasm the bytes of `data/digits.bin` (`scripts/web.sh` copies it to
/// `pkg/digits.bin`), which it leaves out for its size. Once, before `DigitsRace.create` or
/// `digitsData`.
#[wasm_bindgen(js_name = loadDigits)]
pub fn load_digits(bytes: Vec<u8>) {
    crate::nn::data::set_digits_bin(bytes);
}

/// The UCI optical digits the digits tab trains on: `{train, test}`, each `{inputs, labels,
/// features, classes}` (inputs `len × 64` in `[0, 1]`, row-major; labels 0-9).
#[wasm_bindgen(js_name = digitsData, unchecked_return_type = "DigitsData")]
pub fn digits_data() -> Result<JsValue, JsError> {
    let split = digits().map_err(js_error)?;
    let out = Object::new();
    set(&out, "train", dataset(&split.train));
    set(&out, "test", dataset(&split.test));
    Ok(out.into())
}
