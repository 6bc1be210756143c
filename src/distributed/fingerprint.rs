//! What every rank must agree on before the first step, hashed: the settings, the parameters
//! (names, shapes, routes) and their starting values. Ranks compare these when the distributed
//! optimizer is built, so a rank started with other flags or other data fails at once, with the
//! part that differs named, instead of silently training something else.

use crate::optimizer::layout::ParamSpec;
use crate::settings::Settings;

/// FNV-1a, 64 bits: stable across processes and machines (unlike `std`'s randomized hasher).
#[derive(Clone, Copy, Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// The parts of a [`Fingerprint`], in the order they are compared and named in errors.
pub const PARTS: [&str; 3] = [
    "settings (preset, hyperparameters, routing)",
    "parameters (names, shapes, groups)",
    "starting values of the host parameters",
];

/// One hash per entry of [`PARTS`].
pub type Fingerprint = [u64; 3];

/// The fingerprint of a registry; `options` are further settings that must agree (hashed with
/// the settings). `values` yields each host parameter's starting data (the caller's buffers are
/// not read: they are the caller's to keep in step).
pub fn fingerprint<'a>(
    settings: &Settings,
    options: &str,
    params: &[ParamSpec],
    values: impl Iterator<Item = &'a [f32]>,
) -> Fingerprint {
    let settings = Fnv::default()
        .bytes(format!("{settings:?}|{options}").as_bytes())
        .finish();
    let mut specs = Fnv::default();
    for p in params {
        specs.bytes(format!("{}|{:?}|{:?}|{};", p.name, p.shape, p.group, p.hosted).as_bytes());
    }
    let mut data = Fnv::default();
    for v in values {
        data.bytes(bytemuck::cast_slice(v));
    }
    [settings, specs.finish(), data.finish()]
}

/// The first part in which `theirs` differs from `ours`, by name.
pub fn first_difference(ours: &Fingerprint, theirs: &Fingerprint) -> Option<&'static str> {
    (0..PARTS.len())
        .find(|&i| ours[i] != theirs[i])
        .map(|i| PARTS[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::presets::{Overrides, Preset};
    use crate::settings::Group;

    #[test]
    fn fingerprint_names_what_differs() {
        let settings = Preset::Torch.settings(&Overrides::default()).unwrap();
        let other = Preset::Torch
            .settings(&Overrides {
                lr: Some(0.5),
                ..Default::default()
            })
            .unwrap();
        let spec = ParamSpec {
            name: "w".into(),
            shape: vec![2, 2],
            len: 4,
            group: Group::Muon(0),
            hosted: true,
        };
        let a = [1.0f32, 2.0, 3.0, 4.0];
        let b = [1.0f32, 2.0, 3.0, 4.5];
        let of =
            |s: &Settings| fingerprint(s, "", std::slice::from_ref(&spec), [&a[..]].into_iter());
        let base = of(&settings);
        assert_eq!(first_difference(&base, &of(&settings)), None);
        assert_eq!(first_difference(&base, &of(&other)), Some(PARTS[0]));
        // The non-finite policy is a field of the settings: the ranks compare it there.
        let skipping = Settings {
            non_finite: crate::settings::NonFinitePolicy::SkipStep,
            ..settings.clone()
        };
        assert_eq!(first_difference(&base, &of(&skipping)), Some(PARTS[0]));
        let shape = ParamSpec {
            shape: vec![4, 1],
            ..spec.clone()
        };
        let moved = fingerprint(&settings, "", &[shape], [&a[..]].into_iter());
        assert_eq!(first_difference(&base, &moved), Some(PARTS[1]));
        let data = fingerprint(&settings, "", &[spec], [&b[..]].into_iter());
        assert_eq!(first_difference(&base, &data), Some(PARTS[2]));
    }
}
