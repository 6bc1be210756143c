//! Golden files: cases whose expected outputs were produced by the real optax, Keras, PyTorch and
//! KellerJordan optimizers (`tests/golden/generate.py`). Our GPU replay and our f64 reference must
//! both reproduce them.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::*;
use muon_wgpu::io::replay::Case;
use muon_wgpu::io::tensors;

fn golden_cases() -> Vec<(String, Case, HashMap<String, Vec<f32>>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/golden exists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".case.safetensors").map(String::from))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let case = Case::read(&dir.join(format!("{name}.case.safetensors")), &[])
                .expect("case parses");
            let expected = tensors::read_file(&dir.join(format!("{name}.expected.safetensors")))
                .expect("expected parses");
            let expected = expected
                .tensors
                .into_iter()
                .map(|(n, _, v)| (n, v))
                .collect();
            (name, case, expected)
        })
        .collect()
}

/// `max|ours - theirs| / max|theirs - initial|` per parameter, and state within 1e-5 + 1e-4·|theirs|.
fn compare(
    label: &str,
    case: &Case,
    ours: &HashMap<String, Vec<f64>>,
    theirs: &HashMap<String, Vec<f32>>,
    tol: f64,
) -> f64 {
    assert_eq!(
        ours.keys().collect::<std::collections::BTreeSet<_>>(),
        theirs.keys().collect(),
        "{label}: different tensors (routing differs?)"
    );
    let mut worst = 0f64;
    for (name, want) in theirs {
        let got = &ours[name];
        if let Some(p) = name.strip_prefix("param/") {
            let init = &case.params.iter().find(|t| t.0 == p).unwrap().2;
            let moved = want
                .iter()
                .zip(init)
                .map(|(w, i)| (w - i).abs() as f64)
                .fold(0.0, f64::max);
            let err = got
                .iter()
                .zip(want)
                .map(|(g, &w)| (g - w as f64).abs())
                .fold(0.0, f64::max)
                / moved;
            worst = worst.max(err);
            assert!(
                err <= tol,
                "{label}: {name} differs by {err:.2e} of its update (limit {tol:.0e})"
            );
        } else {
            for (g, &w) in got.iter().zip(want) {
                let w = w as f64;
                assert!(
                    (g - w).abs() <= 1e-5 + 1e-4 * w.abs(),
                    "{label}: {name}: {g} vs {w}"
                );
            }
        }
    }
    worst
}

#[test]
fn golden_cases_cover_every_library() {
    let cases = golden_cases();
    for preset in ["torch", "keller", "optax", "keras", "keras-3.12"] {
        assert!(
            cases.iter().any(|(_, c, _)| c.preset.name() == preset),
            "no golden case for {preset}"
        );
    }
}

#[test]
fn f64_reference_reproduces_the_libraries() {
    for (name, case, expected) in golden_cases() {
        let ours = case
            .run_reference()
            .unwrap()
            .into_iter()
            .map(|(n, _, v)| (n, v))
            .collect();
        let worst = compare(&name, &case, &ours, &expected, 1e-4);
        eprintln!("reference {name}: worst {worst:.2e}");
    }
}

#[test]
fn gpu_replay_reproduces_the_libraries_on_every_adapter() {
    for a in adapters() {
        for (name, case, expected) in golden_cases() {
            let ours = pollster::block_on(case.run(&a.ctx)).unwrap();
            let ours = ours.into_iter().map(|(n, _, v)| (n, to_f64(&v))).collect();
            let label = format!("{} {name}", a.ctx.describe());
            let worst = compare(&label, &case, &ours, &expected, 1e-3);
            eprintln!("{label}: worst {worst:.2e}");
        }
    }
}
