//! Bad input gets a typed error naming the thing at fault, and changes nothing.

mod common;

use std::collections::HashMap;

use common::*;
use muon_wgpu::io::replay::Case;
use muon_wgpu::io::tensors;
use muon_wgpu::{
    Error, Group, MuonConfig, OptimizerBuilder, Overrides, Preset, Route, Settings, Source,
};

fn settings() -> Settings {
    Preset::Torch.settings(&Overrides::default()).unwrap()
}

#[test]
fn registration_errors_name_the_parameter_and_leave_the_builder_usable() {
    let a = adapters().remove(0);
    let mut b = OptimizerBuilder::new(&a.ctx, settings()).unwrap();
    b.add_host("w", &[4, 3], &[0.0; 12]).unwrap();
    assert!(
        matches!(b.add_host("w", &[4, 3], &[0.0; 12]), Err(Error::DuplicateParameter { name }) if name == "w")
    );
    assert!(matches!(
        b.add_host("v", &[4, 3], &[0.0; 11]),
        Err(Error::LengthMismatch { name, expected: 12, got: 11, .. }) if name == "v"
    ));
    assert!(
        matches!(b.add_host("z", &[4, 0], &[]), Err(Error::InvalidShape { name, .. }) if name == "z")
    );
    assert!(
        matches!(b.add_host("s", &[], &[1.0]), Err(Error::InvalidShape { name, .. }) if name == "s")
    );
    assert!(matches!(
        b.add("bias", &[5], Source::Host(&[0.0; 5]), Route::Muon(0)),
        Err(Error::RankTooLowForMuon { name, rank: 1 }) if name == "bias"
    ));
    assert!(matches!(
        b.add("x", &[2, 2], Source::Host(&[0.0; 4]), Route::AdamW(3)),
        Err(Error::UnknownGroup { name, group: 3, .. }) if name == "x"
    ));
    let not_storage = a.ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 48,
        usage: wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let grad = buffer(&a.ctx, &[0.0; 12]);
    assert!(matches!(
        b.add("u", &[4, 3], Source::Buffers { value: not_storage, grad: grad.clone() }, Route::Auto),
        Err(Error::InvalidBuffer { name, .. }) if name == "u"
    ));
    let small = buffer(&a.ctx, &[0.0; 4]);
    assert!(matches!(
        b.add("u", &[4, 3], Source::Buffers { value: grad, grad: small }, Route::Auto),
        Err(Error::InvalidBuffer { name, what, .. }) if name == "u" && what == "gradient"
    ));
    // After all those errors, "v" and "u" are still free and only "w" is registered.
    b.add_host("v", &[4, 3], &[0.0; 12]).unwrap();
    let opt = b.build().unwrap();
    assert_eq!(opt.params().len(), 2);
}

#[test]
fn invalid_hyperparameters_are_rejected_with_their_key() {
    let a = adapters().remove(0);
    let bad = Settings {
        muon: vec![MuonConfig {
            momentum: 1.5,
            ..Default::default()
        }],
        ..settings()
    };
    assert!(
        matches!(OptimizerBuilder::new(&a.ctx, bad), Err(Error::InvalidHyperparameter { key, .. }) if key == "momentum")
    );
    let mut b = OptimizerBuilder::new(&a.ctx, settings()).unwrap();
    b.add_host("w", &[4, 3], &[0.5; 12]).unwrap();
    let mut opt = b.build().unwrap();
    assert!(
        matches!(opt.set_lr(Group::Muon(0), f64::NAN), Err(Error::InvalidHyperparameter { key, .. }) if key == "lr")
    );
    assert!(matches!(
        opt.set_lr(Group::AdamW(7), 0.1),
        Err(Error::UnknownGroup { group: 7, .. })
    ));
    assert_eq!(
        opt.settings().muon[0].lr,
        settings().muon[0].lr,
        "a rejected change changes nothing"
    );
}

#[test]
fn a_gradient_of_the_wrong_length_is_rejected_and_changes_nothing() {
    let a = adapters().remove(0);
    let mut b = OptimizerBuilder::new(&a.ctx, settings()).unwrap();
    b.add_host("w", &[4, 3], &random(1, 12)).unwrap();
    let opt = b.build().unwrap();
    let before = pollster::block_on(opt.read_all()).unwrap();
    assert!(
        matches!(opt.write_gradient("w", &[1.0; 13]), Err(Error::LengthMismatch { name, what, .. }) if name == "w" && what == "gradient")
    );
    assert!(
        matches!(opt.write_gradient("nope", &[1.0; 12]), Err(Error::UnknownParameter { name }) if name == "nope")
    );
    assert!(matches!(
        opt.write_parameter("w", &[1.0; 2]),
        Err(Error::LengthMismatch { .. })
    ));
    assert_eq!(pollster::block_on(opt.read_all()).unwrap(), before);
}

fn case_bytes(
    params: &[(&str, Vec<usize>)],
    steps: usize,
    skip: Option<(usize, &str)>,
    meta: &[(&str, &str)],
) -> Vec<u8> {
    let mut t = Vec::new();
    for (name, shape) in params {
        let len = shape.iter().product();
        t.push((format!("param/{name}"), shape.clone(), random(3, len)));
        for k in 0..steps {
            if skip == Some((k, name)) {
                continue;
            }
            t.push((
                format!("grad/{k}/{name}"),
                shape.clone(),
                random(4 + k as u64, len),
            ));
        }
    }
    let meta: HashMap<String, String> = meta
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tensors::serialize(&t, meta).unwrap()
}

#[test]
fn replay_cases_report_what_is_wrong() {
    let params = [("blocks.0/w", vec![4, 6]), ("b", vec![4])];
    let ok = case_bytes(&params, 2, None, &[("preset", "optax")]);
    let case = Case::parse(&ok, "ok").unwrap();
    assert_eq!((case.steps, case.preset), (2, Preset::Optax));
    assert_eq!(case.params[1].0, "blocks.0/w", "names keep their slashes");

    let missing = case_bytes(&params, 3, Some((1, "b")), &[]);
    assert!(
        matches!(Case::parse(&missing, "m"), Err(Error::MissingGradient { name, step: 1 }) if name == "b")
    );
    let too_many = case_bytes(&params, 2, None, &[("steps", "3")]);
    assert!(matches!(
        Case::parse(&too_many, "m"),
        Err(Error::MissingGradient { step: 2, .. })
    ));
    let unknown = case_bytes(&params, 1, None, &[("learning_rate", "0.1")]);
    assert!(
        matches!(Case::parse(&unknown, "u"), Err(Error::UnknownMetadataKey { key }) if key == "learning_rate")
    );
    let bad_value = case_bytes(&params, 1, None, &[("lr", "fast")]);
    assert!(
        matches!(Case::parse(&bad_value, "v"), Err(Error::InvalidHyperparameter { key, .. }) if key == "lr")
    );
    let bad_preset = case_bytes(&params, 1, None, &[("preset", "sgd")]);
    assert!(matches!(Case::parse(&bad_preset, "p"), Err(Error::UnknownPreset(p)) if p == "sgd"));
    let forced = case_bytes(&params, 1, None, &[("muon", "blocks.0/w,b")]);
    assert!(
        matches!(Case::parse(&forced, "f"), Err(Error::RankTooLowForMuon { name, .. }) if name == "b")
    );
    let unknown_name = case_bytes(&params, 1, None, &[("muon", "c")]);
    assert!(
        matches!(Case::parse(&unknown_name, "n"), Err(Error::InvalidHyperparameter { key, .. }) if key == "muon")
    );
    let bad_coeffs = case_bytes(&params, 1, None, &[("ns_coefficients", "1,2")]);
    assert!(
        matches!(Case::parse(&bad_coeffs, "c"), Err(Error::InvalidHyperparameter { key, .. }) if key == "ns_coefficients")
    );
    assert!(
        matches!(Case::parse(b"not a safetensors file", "junk.safetensors"), Err(Error::MalformedFile { path, .. }) if path == "junk.safetensors")
    );

    // A gradient whose shape disagrees with its parameter.
    let t = vec![
        ("param/w".to_string(), vec![2, 3], vec![0.0; 6]),
        ("grad/0/w".to_string(), vec![3, 2], vec![0.0; 6]),
    ];
    let bytes = tensors::serialize(&t, HashMap::new()).unwrap();
    assert!(
        matches!(Case::parse(&bytes, "s"), Err(Error::InvalidTensor { tensor, .. }) if tensor == "grad/0/w")
    );
    // A tensor that is neither a parameter nor a gradient.
    let t = vec![
        ("param/w".to_string(), vec![2], vec![0.0; 2]),
        ("extra".to_string(), vec![1], vec![0.0]),
    ];
    let bytes = tensors::serialize(&t, HashMap::new()).unwrap();
    assert!(
        matches!(Case::parse(&bytes, "e"), Err(Error::InvalidTensor { tensor, .. }) if tensor == "extra")
    );
}

#[test]
fn non_f32_tensors_are_rejected_by_name() {
    use safetensors::tensor::{Dtype, TensorView};
    let data = [0u8; 16];
    let views = vec![(
        "param/w".to_string(),
        TensorView::new(Dtype::F64, vec![2], &data).unwrap(),
    )];
    let bytes = safetensors::serialize(views, None).unwrap();
    assert!(
        matches!(Case::parse(&bytes, "d"), Err(Error::InvalidTensor { tensor, .. }) if tensor == "param/w")
    );
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_case_parser(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
        let _ = Case::parse(&bytes, "fuzz");
    }

    #[test]
    fn corrupted_valid_cases_never_panic(flip in 0usize..400, value in proptest::num::u8::ANY) {
        let mut bytes = case_bytes(&[("w", vec![3, 2])], 1, None, &[("lr", "0.1")]);
        let i = flip % bytes.len();
        bytes[i] = value;
        let _ = Case::parse(&bytes, "fuzz");
    }
}

#[test]
fn the_cli_reports_errors_and_writes_no_output() {
    let dir = std::env::temp_dir().join(format!("muon-wgpu-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let case = dir.join("bad.safetensors");
    std::fs::write(
        &case,
        case_bytes(&[("w", vec![3, 2])], 1, None, &[("beta", "0.9")]),
    )
    .unwrap();
    let out = dir.join("out.safetensors");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_muon-wgpu"))
        .args([
            "replay",
            case.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("unknown metadata key `beta`"), "{stderr}");
    assert!(!out.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
