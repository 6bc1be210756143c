//! Errors and values across the boundary: the crate's errors as JS exceptions, plain objects.

use js_sys::{Float64Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::demo::race;
use crate::Error;

/// The crate's error as a JS exception carrying its message.
pub(super) fn js_error(e: Error) -> JsError {
    JsError::new(&e.to_string())
}

/// An `InvalidHyperparameter` error of `key` as a JS exception.
pub(super) fn invalid(key: &str, value: impl ToString, reason: &str) -> JsError {
    js_error(Error::InvalidHyperparameter {
        key: key.into(),
        value: value.to_string(),
        reason: reason.into(),
    })
}

/// Sets a field of a plain JS object.
pub(super) fn set(object: &Object, key: &str, value: impl Into<JsValue>) {
    Reflect::set(object, &key.into(), &value.into()).expect("setting a field of a plain object");
}

/// A pair of runs as a JS object `{muon, adamw}`.
pub(super) fn pair(muon: impl Into<JsValue>, adamw: impl Into<JsValue>) -> JsValue {
    let out = Object::new();
    set(&out, "muon", muon);
    set(&out, "adamw", adamw);
    out.into()
}

/// Both runs' loss histories as `{muon, adamw}` of `Float64Array`s.
pub(super) fn losses(p: race::Pair<Vec<f64>>) -> JsValue {
    pair(
        Float64Array::from(p.muon.as_slice()),
        Float64Array::from(p.adamw.as_slice()),
    )
}

/// `{loss, accuracy}`.
pub(super) fn metrics(m: crate::nn::Metrics) -> JsValue {
    let out = Object::new();
    set(&out, "loss", m.loss);
    set(&out, "accuracy", m.accuracy);
    out.into()
}
