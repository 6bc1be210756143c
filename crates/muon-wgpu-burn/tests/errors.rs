//! State records and the typed errors: a record restores an optimizer exactly; another model's
//! record, a changed model, a non-f32 or a foreign-device tensor are refused by type, and the
//! refusal changes nothing.

mod common;

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::{DType, Device, DeviceKind, Int, Tensor, TensorData};
use common::*;
use muon_wgpu_burn::{Error, MuonWgpu, MuonWgpuConfig};

fn device() -> Device {
    gpu().device.clone().autodiff()
}

fn batch(step: usize, device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
    let x = tensor(
        Normal::new(7 + step as u64).sample(4 * 8, 1.0),
        [4, 8],
        device,
    );
    let t: Vec<i32> = (0..4).map(|i| ((i + step) % 3) as i32).collect();
    (
        x,
        Tensor::<1, Int>::from_data(TensorData::new(t, [4]), device),
    )
}

fn grads(model: &Mlp, step: usize, device: &Device) -> GradientsParams {
    let (x, t) = batch(step, device);
    GradientsParams::from_grads(model.loss(x, t).backward(), model)
}

/// The core optimizer's every buffer (values, moments) and its step count.
fn snapshot(o: &MuonWgpu) -> (u64, Vec<(String, Vec<f32>)>) {
    let all = pollster::block_on(o.core().read_all()).unwrap();
    (
        o.step_count(),
        all.into_iter().map(|(n, _, v)| (n, v)).collect(),
    )
}

/// Bitwise: `f32` bits, so that -0.0 and NaN compare exactly.
fn bits(v: &[(String, Vec<f32>)]) -> Vec<(String, Vec<u32>)> {
    (v.iter())
        .map(|(n, x)| (n.clone(), x.iter().map(|f| f.to_bits()).collect()))
        .collect()
}

#[test]
fn a_loaded_record_steps_bitwise_like_the_optimizer_that_saved_it() {
    let device = device();
    let mut model = Mlp::new(8, 8, 3, &device);
    let mut saved = MuonWgpuConfig::new().init(&model, gpu()).unwrap();
    for step in 0..3 {
        let g = grads(&model, step, &device);
        model = saved.step(0.02, model, g).unwrap();
    }
    let record = saved.to_record().unwrap();
    let mut loaded = MuonWgpuConfig::new().init(&model, gpu()).unwrap();
    loaded.load_record(&record).unwrap();
    assert_eq!(loaded.step_count(), 3);
    let g = grads(&model, 3, &device);
    let copy = same_grads(&g, &model);
    let a = saved.step(0.02, model.clone(), g).unwrap();
    let b = loaded.step(0.02, model, copy).unwrap();
    assert_eq!(bits(&values(&a)), bits(&values(&b)));
    assert_eq!(bits(&snapshot(&saved).1), bits(&snapshot(&loaded).1));
}

#[test]
fn another_models_record_is_a_typed_error_that_changes_nothing() {
    let device = device();
    let small = Mlp::new(8, 8, 3, &device);
    let mut ours = MuonWgpuConfig::new().init(&small, gpu()).unwrap();
    let small = ours
        .step(0.02, small.clone(), grads(&small, 0, &device))
        .unwrap();
    let other = Mlp::new(8, 6, 3, &device);
    let mut theirs = MuonWgpuConfig::new().init(&other, gpu()).unwrap();
    let other = theirs.step(0.02, other.clone(), {
        let (x, t) = batch(0, &device);
        GradientsParams::from_grads(other.loss(x, t).backward(), &other)
    });
    drop(other.unwrap());
    let before = snapshot(&ours);
    let err = ours.load_record(&theirs.to_record().unwrap()).unwrap_err();
    assert!(
        matches!(err, Error::Core(muon_wgpu::Error::StateMismatch { .. })),
        "{err}"
    );
    let err = ours.load_record(b"not a record").unwrap_err();
    assert!(matches!(err, Error::Core(_)), "{err}");
    assert_eq!(bits(&before.1), bits(&snapshot(&ours).1));
    assert_eq!(before.0, ours.step_count());
    // Still usable.
    ours.step(0.02, small.clone(), grads(&small, 1, &device))
        .unwrap();
}

/// `step` on a model whose parameters differ from `init`'s: `ModelChanged`, no step taken, the
/// optimizer's buffers and the caller's copy of the model untouched.
fn assert_model_changed<M: Module>(ours: &mut MuonWgpu, changed: M, grads: GradientsParams) {
    let before = (snapshot(ours), values(&changed));
    let err = ours.step(0.02, changed.clone(), grads).unwrap_err();
    assert!(matches!(err, Error::ModelChanged { .. }), "{err}");
    assert_eq!(bits(&before.0.1), bits(&snapshot(ours).1));
    assert_eq!(before.0.0, ours.step_count());
    assert_eq!(bits(&before.1), bits(&values(&changed)));
}

#[derive(Module, Debug)]
struct Pair {
    a: Param<Tensor<2>>,
    b: Param<Tensor<1>>,
}

#[derive(Module, Debug)]
struct Triple {
    a: Param<Tensor<2>>,
    b: Param<Tensor<1>>,
    c: Param<Tensor<1>>,
}

fn param<const D: usize>(shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    let n = shape.iter().product();
    Param::from_tensor(tensor(Normal::new(3).sample(n, 0.5), shape, device))
}

#[test]
fn a_reshaped_added_or_removed_parameter_is_model_changed() {
    let device = device();
    let model = Pair {
        a: param([4, 6], &device),
        b: param([4], &device),
    };
    let mut ours = MuonWgpuConfig::new().init(&model, gpu()).unwrap();
    let g = |m: &Pair| {
        let loss = m.a.val().sum() + m.b.val().powf_scalar(2.0).sum();
        GradientsParams::from_grads(loss.backward(), m)
    };
    let model = ours.step(0.02, model.clone(), g(&model)).unwrap();
    // Same ids, `a` reshaped.
    let (id, a, _) = model.a.clone().consume();
    let reshaped = Pair {
        a: Param::initialized(id, a.reshape([6, 4])),
        b: model.b.clone(),
    };
    assert_model_changed(&mut ours, reshaped.clone(), g(&reshaped));
    // One more parameter.
    let added = Triple {
        a: model.a.clone(),
        b: model.b.clone(),
        c: param([3], &device),
    };
    assert_model_changed(&mut ours, added, GradientsParams::new());
    // One fewer (only `a`, under the same path).
    #[derive(Module, Debug)]
    struct One {
        a: Param<Tensor<2>>,
    }
    let removed = One { a: model.a.clone() };
    assert_model_changed(&mut ours, removed, GradientsParams::new());
    // Same shapes, new parameter ids (a new model of the same architecture).
    let fresh = Pair {
        a: param([4, 6], &device),
        b: param([4], &device),
    };
    assert_model_changed(&mut ours, fresh.clone(), g(&fresh));
    // The registered model still steps.
    ours.step(0.02, model.clone(), g(&model)).unwrap();
}

#[test]
fn an_f16_parameter_or_gradient_is_not_f32() {
    let device = device();
    let half = Pair {
        a: Param::from_tensor(tensor(vec![0.5; 24], [4, 6], &device).cast(DType::F16)),
        b: param([4], &device),
    };
    let err = MuonWgpuConfig::new().init(&half, gpu()).err().unwrap();
    assert!(
        matches!(&err, Error::NotF32 { name, dtype } if name == "a" && dtype.contains("F16")),
        "{err}"
    );
    // An f32 model with an f16 gradient: refused at `step`, nothing stepped.
    let model = Pair {
        a: param([4, 6], &device),
        b: param([4], &device),
    };
    let mut ours = MuonWgpuConfig::new().init(&model, gpu()).unwrap();
    let mut g = GradientsParams::new();
    let inner = gpu().device.clone();
    g.register::<2>(
        model.a.id,
        tensor(vec![0.1; 24], [4, 6], &inner).cast(DType::F16),
    );
    g.register::<1>(model.b.id, tensor(vec![0.1; 4], [4], &inner));
    let before = snapshot(&ours);
    let err = ours.step(0.02, model.clone(), g).unwrap_err();
    assert!(matches!(err, Error::NotF32 { .. }), "{err}");
    assert_eq!(bits(&before.1), bits(&snapshot(&ours).1));
    assert_eq!(ours.step_count(), 0);
}

/// A second wgpu runtime (burn's `DeviceKind::Cpu` adapter, lavapipe here) is another device
/// of the same backend: no other burn backend is built. Skipped where there is no such adapter.
#[test]
fn a_model_or_gradient_on_another_wgpu_device_is_not_wgpu() {
    let other = match Device::wgpu_options().device_kind(DeviceKind::Cpu).init() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("skipped: no second wgpu device ({e:?})");
            return;
        }
    };
    if other == gpu().device {
        eprintln!("skipped: the CPU adapter is the shared device");
        return;
    }
    let elsewhere = Mlp::new(8, 8, 3, &other.clone().autodiff());
    let err = MuonWgpuConfig::new().init(&elsewhere, gpu()).err().unwrap();
    assert!(matches!(err, Error::NotWgpu { .. }), "{err}");
    let device = device();
    let model = Pair {
        a: param([4, 6], &device),
        b: param([4], &device),
    };
    let mut ours = MuonWgpuConfig::new().init(&model, gpu()).unwrap();
    let mut g = GradientsParams::new();
    g.register::<2>(model.a.id, tensor(vec![0.1; 24], [4, 6], &other));
    let err = ours.step(0.02, model, g).unwrap_err();
    assert!(matches!(err, Error::NotWgpu { .. }), "{err}");
    assert_eq!(ours.step_count(), 0);
}
