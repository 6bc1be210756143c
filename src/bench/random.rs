//! Deterministic pseudo-random data for benchmarks, examples and tests: one generator, so that
//! every caller draws the same streams.
//!
//! Marsaglia's xorshift64 (shifts 13, 7, 17) on a 64-bit state `s`; each value is the state's top
//! 24 bits mapped to `[-1, 1)`: `x = (s >> 40) / 2²⁴ · 2 − 1`, exact in f32. Seeds are spread with
//! the golden-ratio constant `φ = 0x9E3779B97F4A7C15` (the state must not be zero).

/// Golden-ratio multiplier that spreads consecutive seeds over the state space.
const SPREAD: u64 = 0x9E37_79B9_7F4A_7C15;

/// An endless stream of uniform values in `[-1, 1)`.
#[derive(Clone, Debug)]
pub struct Xorshift {
    state: u64,
}

impl Xorshift {
    /// The tests' streams: state `seed · φ + 0x2545F4914F6CDD1D` (wrapping).
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed
                .wrapping_mul(SPREAD)
                .wrapping_add(0x2545_F491_4F6C_DD1D),
        }
    }

    /// The bench's and the examples' streams: state `seed · φ | 1` (wrapping; odd, so never zero).
    pub fn odd(seed: u64) -> Self {
        Self {
            state: seed.wrapping_mul(SPREAD) | 1,
        }
    }
}

impl Iterator for Xorshift {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        let s = &mut self.state;
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        Some(((*s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0)
    }
}

/// `len` values of [`Xorshift::new`]`(seed)`, uniform in `[-1, 1)`.
pub fn uniform(seed: u64, len: usize) -> Vec<f32> {
    Xorshift::new(seed).take(len).collect()
}

/// `len` values of [`Xorshift::odd`]`(seed)`, each times `scale`: uniform in `[-scale, scale)`.
pub fn uniform_odd(seed: u64, len: usize, scale: f32) -> Vec<f32> {
    Xorshift::odd(seed).take(len).map(|x| x * scale).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streams as first written out by hand in the bench and the tests (kept bit for bit:
    /// the tests' tolerances and the figures in the docs were measured on them).
    fn written_out(mut s: u64, len: usize, scale: f32) -> Vec<f32> {
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    }

    #[test]
    fn streams_match_the_generators_they_replace() {
        for seed in [0, 1, 7, 1000, u64::MAX] {
            let tests = seed
                .wrapping_mul(SPREAD)
                .wrapping_add(0x2545_F491_4F6C_DD1D);
            assert_eq!(uniform(seed, 257), written_out(tests, 257, 1.0));
            let bench = seed.wrapping_mul(SPREAD) | 1;
            assert_eq!(uniform_odd(seed, 257, 0.02), written_out(bench, 257, 0.02));
            assert_eq!(uniform_odd(seed, 257, 1.0), written_out(bench, 257, 1.0));
        }
        assert!(uniform(3, 10_000).iter().all(|x| (-1.0..1.0).contains(x)));
    }
}
