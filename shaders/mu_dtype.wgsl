// Imported by momentum_nd.wgsl: bf16 / f16 moments stored two per u32 (element 2k in the low
// half), rounded to nearest even with integer arithmetic (no SHADER_F16, and the same rounding
// on every adapter).

// The 16 bits of x rounded to bf16.
fn bf16_bits(x: f32) -> u32 {
    let b = bitcast<u32>(x);
    if (b & 0x7fffffffu) > 0x7f800000u {
        return (b >> 16u) | 0x40u; // NaN stays NaN
    }
    return (b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u;
}

// The 16 bits of x rounded to f16 (IEEE binary16: overflow to inf, subnormals kept).
fn f16_bits(x: f32) -> u32 {
    let b = bitcast<u32>(x);
    let sign = (b >> 16u) & 0x8000u;
    let a = b & 0x7fffffffu;
    if a > 0x7f800000u {
        return sign | 0x7e00u;
    }
    if a >= 0x477ff000u {
        return sign | 0x7c00u; // rounds to 65520 or more: inf
    }
    if a >= 0x38800000u {
        // normal: rebias the exponent (127 -> 15), then round off 13 mantissa bits
        let m = a - 0x38000000u;
        return sign | ((m + 0xfffu + ((m >> 13u) & 1u)) >> 13u);
    }
    let e = a >> 23u;
    if e < 102u {
        return sign; // below half the smallest subnormal
    }
    let mant = (a & 0x7fffffu) | 0x800000u;
    let shift = 126u - e; // 14 ..= 24
    let halfway = 1u << (shift - 1u);
    let rest = mant & ((1u << shift) - 1u);
    var r = mant >> shift;
    if rest > halfway || (rest == halfway && (r & 1u) == 1u) {
        r += 1u;
    }
    return sign | r;
}

fn round_bits(x: f32, dtype: u32) -> u32 {
    if dtype == 1u {
        return bf16_bits(x);
    }
    return f16_bits(x);
}

// The f32 value of 16 stored bits.
fn stored_value(bits: u32, dtype: u32) -> f32 {
    if dtype == 1u {
        return bitcast<f32>(bits << 16u);
    }
    return unpack2x16float(bits).x;
}

fn round_to(x: f32, dtype: u32) -> f32 {
    return stored_value(round_bits(x, dtype), dtype);
}
