//! The embedded digits, the spirals and the minibatches.

use muon_wgpu::nn::data::{digits, spirals, two_spirals, Batches, Rng};

#[test]
fn digits_have_the_documented_split_ranges_and_class_counts() {
    let d = digits().unwrap();
    assert_eq!((d.train.len(), d.test.len()), (1437, 360));
    for set in [&d.train, &d.test] {
        assert_eq!((set.features, set.classes), (64, 10));
        assert_eq!(set.inputs.len(), set.len() * 64);
        assert!(set.inputs.iter().all(|&v| (0.0..=1.0).contains(&v)));
        // Pixels are counts 0..16 scaled by 1/16.
        assert!(set.inputs.iter().all(|&v| (v * 16.0).fract() == 0.0));
    }
    // data/README.md lists these.
    assert_eq!(
        d.test.class_counts(),
        [31, 35, 39, 33, 44, 29, 40, 40, 28, 41]
    );
    assert_eq!(
        d.train.class_counts(),
        [147, 147, 138, 150, 137, 153, 141, 139, 146, 139]
    );
    // Fingerprints of the stored order, from data/make_digits.py's output.
    let counts = |inputs: &[f32]| inputs.iter().map(|&v| (v * 16.0) as u64).sum::<u64>();
    assert_eq!(counts(&d.train.inputs), 449_386);
    assert_eq!(counts(&d.test.inputs), 561_718 - 449_386);
    assert_eq!(d.train.labels[..8], [2, 8, 2, 6, 6, 7, 1, 9]);
    assert_eq!(d.test.labels[..8], [7, 9, 4, 7, 0, 2, 6, 1]);
    let first_row: Vec<u8> = d.train.input(0)[..8]
        .iter()
        .map(|&v| (v * 16.0) as u8)
        .collect();
    assert_eq!(first_row, [0, 0, 11, 16, 15, 3, 0, 0], "a 2, top row");
}

#[test]
fn spirals_are_deterministic_balanced_and_inside_the_unit_disk() {
    let s = spirals();
    assert_eq!((s.train.len(), s.test.len()), (2000, 1000));
    assert_eq!(s.train.class_counts(), [1000, 1000]);
    assert_eq!(s.train, spirals().train);
    assert_ne!(s.train.inputs, s.test.inputs[..]);
    let noiseless = two_spirals(50, 1.5, 0.0, 0);
    for p in noiseless.inputs.chunks(2) {
        let r = (p[0] * p[0] + p[1] * p[1]).sqrt();
        assert!(r <= 1.0 + 1e-6, "{r}");
    }
    // The two classes are the same spiral half a turn apart: each point's mirror image is in the other class.
    let points: Vec<(f32, f32, u32)> = noiseless
        .inputs
        .chunks(2)
        .zip(&noiseless.labels)
        .map(|(p, &c)| (p[0], p[1], c))
        .collect();
    for &(x, y, c) in &points {
        assert!(points
            .iter()
            .any(|&(u, v, d)| d != c && (u + x).abs() < 1e-6 && (v + y).abs() < 1e-6));
    }
    // Shuffled: the first fifth is not just the inner turns.
    let radius = |i: usize| s.train.inputs[2 * i].hypot(s.train.inputs[2 * i + 1]);
    assert!((0..400).any(|i| radius(i) > 0.9));
}

#[test]
fn batches_cover_each_epoch_once_and_reshuffle() {
    let mut b = Batches::new(10, 3, 1).unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.extend_from_slice(b.next_indices());
    }
    assert_eq!(b.epoch(), 0);
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 9, "no sample twice in an epoch");
    let next = b.next_indices().to_vec();
    assert_eq!((b.epoch(), next.len()), (1, 3));
    assert!(Batches::new(10, 0, 1).is_err());
    assert!(Batches::new(10, 11, 1).is_err());
    // Same seed, same order.
    let mut again = Batches::new(10, 3, 1).unwrap();
    assert_eq!(again.next_indices(), &seen[..3]);
}

#[test]
fn rng_is_reproducible_and_roughly_uniform() {
    let mut a = Rng::new(42);
    let mut b = Rng::new(42);
    let xs: Vec<f64> = (0..10_000).map(|_| a.next_f64()).collect();
    assert!(xs
        .iter()
        .zip((0..).map(|_| b.next_f64()))
        .all(|(x, y)| *x == y));
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    assert!((mean - 0.5).abs() < 0.01, "{mean}");
    let mut counts = [0usize; 7];
    for _ in 0..7000 {
        counts[a.below(7)] += 1;
    }
    assert!(
        counts.iter().all(|&c| (850..1150).contains(&c)),
        "{counts:?}"
    );
}
