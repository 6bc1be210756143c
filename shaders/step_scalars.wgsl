// The per-step scalars, one struct per kernel family, as src/kernels/step_scalars.rs lays them
// out (rewritten by the host before every step, computed there in f64).

// Muon, per batch:  m <- decay_m m + decay_g g;  u = use_m m + use_g g;  W <- W keep - lr_eff O
struct MuonStep {
    decay_m: f32,
    decay_g: f32,
    use_m: f32,
    use_g: f32,
    keep: f32,    // 1 - lr wd
    lr_eff: f32,  // lr times the shape scale
    _pad0: f32,
    _pad1: f32,
}

// AdamW, per group:  m <- m + (1-b1)(g - m);  v <- v + (1-b2)(g^2 - v)
//   W <- W keep - lr_eff (use_m m + use_g g) / (sqrt(use_v v + eps_root) + eps)
struct AdamStep {
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    use_m: f32,
    use_g: f32,
    use_v: f32,
    eps: f32,
    eps_root: f32,
    keep: f32,
    lr_eff: f32,
    _pad0: f32,
    _pad1: f32,
    _pad2: f32,
}
