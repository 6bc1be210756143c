//! Options objects read field by field, each checked for its type and range.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use super::convert::invalid;
use crate::demo::race::Rates;

/// The fields of an options object, rejecting keys not in `known` (a typo would otherwise be ignored).
pub(super) struct Fields(Option<Object>);

impl Fields {
    pub(super) fn new(value: &JsValue, what: &str, known: &[&str]) -> Result<Self, JsError> {
        if value.is_undefined() || value.is_null() {
            return Ok(Self(None));
        }
        let object: Object = value
            .clone()
            .dyn_into()
            .map_err(|_| JsError::new(&format!("{what} must be an object")))?;
        for key in Object::keys(&object).iter() {
            let key = key.as_string().unwrap_or_default();
            if !known.contains(&key.as_str()) {
                return Err(JsError::new(&format!(
                    "unknown option `{key}` of {what} (expected one of {})",
                    known.join(", ")
                )));
            }
        }
        Ok(Self(Some(object)))
    }

    pub(super) fn get(&self, key: &str) -> Option<JsValue> {
        let v = Reflect::get(self.0.as_ref()?, &key.into()).ok()?;
        (!v.is_undefined() && !v.is_null()).then_some(v)
    }

    pub(super) fn number(&self, key: &str) -> Result<Option<f64>, JsError> {
        self.get(key)
            .map(|v| {
                v.as_f64()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| invalid(key, format!("{v:?}"), "must be a finite number"))
            })
            .transpose()
    }

    pub(super) fn count(&self, key: &str) -> Result<Option<usize>, JsError> {
        self.number(key)?
            .map(|x| {
                if x >= 0.0 && x.fract() == 0.0 && x <= u32::MAX as f64 {
                    Ok(x as usize)
                } else {
                    Err(invalid(key, x, "must be a whole number >= 0"))
                }
            })
            .transpose()
    }

    pub(super) fn string(&self, key: &str) -> Result<Option<String>, JsError> {
        self.get(key)
            .map(|v| {
                v.as_string()
                    .ok_or_else(|| invalid(key, format!("{v:?}"), "must be a string"))
            })
            .transpose()
    }

    pub(super) fn boolean(&self, key: &str) -> Result<Option<bool>, JsError> {
        self.get(key)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| invalid(key, format!("{v:?}"), "must be true or false"))
            })
            .transpose()
    }

    pub(super) fn numbers(&self, key: &str) -> Result<Option<Vec<f64>>, JsError> {
        self.get(key)
            .map(|v| {
                let bad = || invalid(key, format!("{v:?}"), "must be an array of numbers");
                if !Array::is_array(&v) {
                    return Err(bad());
                }
                Array::from(&v)
                    .iter()
                    .map(|x| x.as_f64().filter(|x| x.is_finite()).ok_or_else(bad))
                    .collect()
            })
            .transpose()
    }

    pub(super) fn widths(&self, key: &str) -> Result<Option<Vec<usize>>, JsError> {
        self.numbers(key)?
            .map(|v| {
                v.iter()
                    .map(|&x| {
                        if x >= 1.0 && x.fract() == 0.0 && x <= 65536.0 {
                            Ok(x as usize)
                        } else {
                            Err(invalid(key, x, "every width must be a whole number >= 1"))
                        }
                    })
                    .collect()
            })
            .transpose()
    }

    /// `seed`, a whole number, or `default`.
    pub(super) fn seed(&self, default: u64) -> Result<u64, JsError> {
        Ok(self.count("seed")?.map_or(default, |s| s as u64))
    }

    /// `muonLr`, `auxLr` and `adamwLr`, each over its `default`.
    pub(super) fn rates(&self, default: Rates) -> Result<Rates, JsError> {
        Ok(Rates {
            muon: self.number("muonLr")?.unwrap_or(default.muon),
            aux: self.number("auxLr")?.unwrap_or(default.aux),
            adamw: self.number("adamwLr")?.unwrap_or(default.adamw),
        })
    }
}
