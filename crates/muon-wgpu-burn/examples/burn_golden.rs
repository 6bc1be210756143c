//! Writes the golden files `tests/golden/<case>.safetensors`: burn's own `MuonConfig` (matrices)
//! and `AdamWConfig` (a `ParamGroup`: bias, embedding) stepping fixed parameters with fixed
//! gradients on burn's wgpu device.
//!
//! `cargo run --release -p muon-wgpu-burn --example burn_golden`
//!
//! Each file holds `init/<path>`, `grad/<step>/<path>` and `expected/<path>` (f32), and in its
//! metadata the two configs as burn serializes them (`muon`, `adamw`), `lr` and `steps`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashMap};

use burn::module::ParamGroup;
use common::golden::{ADAMW_PATHS, GoldenModel, SHAPES, cases, dir, inputs};
use common::{gpu, values};
use safetensors::tensor::{Dtype, TensorView};

/// The same file with its JSON header's keys sorted (the library writes its maps in random
/// order), so that a re-run reproduces the files byte for byte. Same content, same length.
fn sorted_header(bytes: Vec<u8>) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let n = u64::from_le_bytes(bytes[..8].try_into()?) as usize;
    let header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&bytes[8..8 + n])?;
    let sorted = |v: serde_json::Value| -> Result<serde_json::Value, serde_json::Error> {
        let map: BTreeMap<String, serde_json::Value> = serde_json::from_value(v)?;
        serde_json::to_value(map)
    };
    let header: BTreeMap<String, String> = (header.into_iter())
        .map(|(k, v)| Ok((k, serde_json::to_string(&sorted(v)?)?)))
        .collect::<Result<_, serde_json::Error>>()?;
    let body = (header.iter())
        .map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",");
    let mut text = format!("{{{body}}}").into_bytes();
    if text.len() > n {
        return Err("the sorted header is longer than the library's".into());
    }
    text.resize(n, b' ');
    Ok([&bytes[..8], &text[..], &bytes[8 + n..]].concat())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = gpu().device.clone().autodiff();
    let inner = gpu().device.clone();
    std::fs::create_dir_all(dir())?;
    for case in cases() {
        let (init, grads) = inputs(&case);
        let mut model = GoldenModel::from_values(&init, &device);
        let mut optim = case.muon.init().with_group(
            ParamGroup::from_paths(ADAMW_PATHS.to_vec()),
            case.adamw.build(),
            None,
        );
        for step_grads in &grads {
            let g = model.gradients(step_grads, &inner);
            model = optim.step(case.lr, model, g);
        }
        let mut tensors: BTreeMap<String, (Vec<usize>, Vec<u8>)> = BTreeMap::new();
        let mut put = |key: String, name: &str, v: &[f32]| {
            let shape = SHAPES.iter().find(|s| s.0 == name).unwrap().1.to_vec();
            tensors.insert(
                key,
                (shape, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            );
        };
        for (name, v) in &init {
            put(format!("init/{name}"), name, v);
        }
        for (step, step_grads) in grads.iter().enumerate() {
            for (name, v) in step_grads {
                put(format!("grad/{step}/{name}"), name, v);
            }
        }
        for (name, v) in values(&model) {
            put(format!("expected/{name}"), &name, &v);
        }
        let views: Vec<(String, TensorView)> = (tensors.iter())
            .map(|(k, (s, b))| Ok((k.clone(), TensorView::new(Dtype::F32, s.clone(), b)?)))
            .collect::<Result<_, safetensors::SafeTensorError>>()?;
        let metadata: HashMap<String, String> = [
            ("muon", serde_json::to_string(&case.muon)?),
            ("adamw", serde_json::to_string(&case.adamw)?),
            ("lr", case.lr.to_string()),
            ("steps", case.steps.to_string()),
            (
                "library",
                "burn-optim 0.22.1 (MuonConfig + AdamWConfig)".into(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let bytes = sorted_header(safetensors::serialize(views, Some(metadata))?)?;
        let path = dir().join(format!("{}.safetensors", case.name));
        std::fs::write(&path, bytes)?;
        println!("{} ({})", path.display(), gpu().describe());
    }
    Ok(())
}
