use super::*;
use crate::settings::presets::{Overrides, Preset};

fn settings() -> Settings {
    Preset::Torch.settings(&Overrides::default()).unwrap()
}

fn spec(name: &str, shape: &[usize], group: Group, hosted: bool) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        shape: shape.to_vec(),
        len: shape.iter().product(),
        group,
        hosted,
    }
}

fn limits(tile: u32, binding: u64) -> Limits {
    Limits {
        tile,
        binding,
        gram_form: true,
    }
}

const BIG: u64 = 1 << 30;

#[test]
fn same_shape_parameters_of_a_group_share_a_batch_host_owned_first() {
    let params = [
        spec("a", &[64, 32], Group::Muon(0), false),
        spec("b", &[64, 32], Group::Muon(0), true),
        spec("c", &[32, 64], Group::Muon(0), true),
        spec("d", &[64, 32], Group::Muon(0), true),
        spec("bias", &[64], Group::AdamW(0), true),
    ];
    let layout = Layout::new(&params, &settings(), limits(32, BIG)).unwrap();
    assert_eq!(layout.batches.len(), 2);
    let tall = &layout.batches[0];
    assert_eq!((tall.rows, tall.cols), (64, 32));
    assert_eq!(tall.members, vec![1, 3, 0]);
    assert_eq!(tall.hosted, 2);
    // A tall matrix runs as its transpose: min × max.
    assert_eq!(tall.padded, (32, 64));
    assert_eq!(layout.batches[1].members, vec![2]);
    assert_eq!(layout.waves.len(), 1);
}

#[test]
fn another_shape_scale_is_another_batch() {
    // KellerJordan's rule reads the last two dimensions: same view, other scales.
    let settings = Preset::Keller.settings(&Overrides::default()).unwrap();
    let params = [
        spec("conv1", &[8, 4, 3, 1], Group::Muon(0), true),
        spec("conv2", &[8, 4, 1, 3], Group::Muon(0), true),
    ];
    let layout = Layout::new(&params, &settings, limits(32, BIG)).unwrap();
    assert_eq!(layout.batches.len(), 2);
    assert_ne!(layout.batches[0].scale, layout.batches[1].scale);
}

#[test]
fn views_are_padded_to_the_tile() {
    assert_eq!(padded_view(100, 300, 32), (128, 320));
    assert_eq!(padded_view(300, 100, 64), (128, 320));
    assert_eq!(padded_view(64, 64, 64), (64, 64));
    let params = [
        spec("w", &[100, 300], Group::Muon(0), true),
        spec("v", &[100, 300], Group::Muon(0), true),
    ];
    let layout = Layout::new(&params, &settings(), limits(32, BIG)).unwrap();
    let b = &layout.batches[0];
    assert_eq!(b.workspace_len(), (2 * 128 * 320, 2 * 128 * 128));
    assert_eq!(b.padded, (128, 320));
    assert_eq!(
        b.arena_stride(),
        (100 * 300usize).next_multiple_of(ARENA_ALIGN)
    );
}

#[test]
fn batches_split_so_each_fits_one_binding() {
    let params: Vec<ParamSpec> = (0..5)
        .map(|i| spec(&format!("w{i}"), &[64, 64], Group::Muon(0), true))
        .collect();
    // Two 64 × 64 matrices per binding.
    let layout = Layout::new(&params, &settings(), limits(64, 2 * 64 * 64 * 4)).unwrap();
    let counts: Vec<usize> = layout.batches.iter().map(MuonBatch::count).collect();
    assert_eq!(counts, vec![2, 2, 1]);
    for b in &layout.batches {
        assert!(b.workspace_len().0 as u64 * 4 <= 2 * 64 * 64 * 4);
    }
}

#[test]
fn several_waves_each_fit_one_binding_and_start_at_the_workspace_origin() {
    // The case of commit 6870143: a small binding splits Newton-Schulz into several waves
    // sharing one workspace, each padding its matrices differently.
    let params = [
        spec("a", &[64, 64], Group::Muon(0), true),
        spec("b", &[40, 100], Group::Muon(0), true),
        spec("c", &[100, 40], Group::Muon(0), true),
        spec("d", &[64, 64], Group::Muon(0), true),
        spec("e", &[32, 200], Group::Muon(0), true),
    ];
    let binding = 64 * 128 * 4 * 2;
    let layout = Layout::new(&params, &settings(), limits(32, binding)).unwrap();
    assert!(layout.waves.len() > 1, "{:?}", layout.waves);
    let mut seen = Vec::new();
    for wave in &layout.waves {
        let first = &layout.batches[wave.batches[0]];
        assert_eq!(first.place, (0, 0));
        // Places follow one another without overlap, in whole vec4s (and f16 loads).
        let (mut x, mut a) = (0usize, 0usize);
        for &b in &wave.batches {
            let batch = &layout.batches[b];
            assert_eq!(batch.place, (x as u32, a as u32));
            assert_eq!(batch.place.0 % 8, 0);
            let (bx, ba) = batch.workspace_len();
            x += bx;
            a += ba;
            seen.push(b);
        }
        assert_eq!(wave.x_len, x);
        assert!(x as u64 * 4 <= binding && a as u64 * 4 <= binding);
        assert!(x <= layout.x_len && a <= layout.square_len);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..layout.batches.len()).collect::<Vec<_>>());
    // The buffers hold the largest wave.
    assert_eq!(
        layout.x_len,
        layout.waves.iter().map(|w| w.x_len).max().unwrap()
    );
}

#[test]
fn one_wave_when_everything_fits() {
    let params = [
        spec("a", &[64, 64], Group::Muon(0), true),
        spec("b", &[40, 100], Group::Muon(0), true),
    ];
    let layout = Layout::new(&params, &settings(), limits(32, BIG)).unwrap();
    assert_eq!(layout.waves.len(), 1);
    assert_eq!(layout.batches[1].place, (64 * 64, 64 * 64));
    assert_eq!(layout.x_len, 64 * 64 + 64 * 128);
    assert_eq!(layout.square_len, 64 * 64 + 64 * 64);
}

#[test]
fn gram_form_for_wide_matrices_only_when_allowed() {
    let params = [
        spec("wide", &[32, 128], Group::Muon(0), true),
        spec("square", &[64, 64], Group::Muon(0), true),
    ];
    let layout = Layout::new(&params, &settings(), limits(32, BIG)).unwrap();
    assert!(layout.gram && layout.batches[0].gram && !layout.batches[1].gram);
    let off = Limits {
        gram_form: false,
        ..limits(32, BIG)
    };
    assert!(!Layout::new(&params, &settings(), off).unwrap().gram);
}

#[test]
fn adamw_parameters_pack_into_aligned_arenas_within_a_binding() {
    let params = [
        spec("b1", &[10], Group::AdamW(0), true),
        spec("b2", &[100], Group::AdamW(0), true),
        spec("ext", &[7], Group::AdamW(0), false),
        spec("b3", &[64], Group::AdamW(0), true),
    ];
    // 192 floats per binding: b1 (64) and b2 (128) fill the first arena.
    let layout = Layout::new(&params, &settings(), limits(32, 192 * 4)).unwrap();
    let group = &layout.adam[0];
    assert_eq!(group.arenas.len(), 2);
    assert_eq!(group.arenas[0].members, vec![(0, 0), (1, 64)]);
    assert_eq!(group.arenas[0].len, 192);
    assert_eq!(group.arenas[1].members, vec![(3, 0)]);
    assert_eq!(group.external, vec![2]);
}

#[test]
fn a_parameter_larger_than_a_binding_is_an_error() {
    let muon = [spec("w", &[256, 256], Group::Muon(0), true)];
    let err = Layout::new(&muon, &settings(), limits(32, 1024)).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    let adam = [spec("b", &[1024], Group::AdamW(0), true)];
    let err = Layout::new(&adam, &settings(), limits(32, 1024)).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
}
