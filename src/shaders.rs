//! Every WGSL file of the crate (`shaders/`), and the preprocessor that resolves their
//! `#import name` lines, as vello's does: a file names the shared declarations it uses, the
//! line is replaced by that file's text (once per shader, imports of imports first).
//!
//! A file with an `@compute` entry point is a kernel; the others are only imported.

/// `(file name, text on disk)` of every file in `shaders/`.
pub const FILES: &[(&str, &str)] = &[
    ("adamw.wgsl", include_str!("../shaders/adamw.wgsl")),
    ("clear.wgsl", include_str!("../shaders/clear.wgsl")),
    ("matmul.wgsl", include_str!("../shaders/matmul.wgsl")),
    (
        "matrix_view.wgsl",
        include_str!("../shaders/matrix_view.wgsl"),
    ),
    ("momentum.wgsl", include_str!("../shaders/momentum.wgsl")),
    (
        "momentum_vec4.wgsl",
        include_str!("../shaders/momentum_vec4.wgsl"),
    ),
    (
        "muon_update.wgsl",
        include_str!("../shaders/muon_update.wgsl"),
    ),
    (
        "muon_update_vec4.wgsl",
        include_str!("../shaders/muon_update_vec4.wgsl"),
    ),
    (
        "nn_activation_backward.wgsl",
        include_str!("../shaders/nn_activation_backward.wgsl"),
    ),
    (
        "nn_activations.wgsl",
        include_str!("../shaders/nn_activations.wgsl"),
    ),
    (
        "nn_batch_metrics.wgsl",
        include_str!("../shaders/nn_batch_metrics.wgsl"),
    ),
    (
        "nn_bias_activation.wgsl",
        include_str!("../shaders/nn_bias_activation.wgsl"),
    ),
    (
        "nn_bias_grad.wgsl",
        include_str!("../shaders/nn_bias_grad.wgsl"),
    ),
    (
        "nn_loss_rows.wgsl",
        include_str!("../shaders/nn_loss_rows.wgsl"),
    ),
    (
        "nn_mean_squared_error.wgsl",
        include_str!("../shaders/nn_mean_squared_error.wgsl"),
    ),
    (
        "nn_softmax_cross_entropy.wgsl",
        include_str!("../shaders/nn_softmax_cross_entropy.wgsl"),
    ),
    (
        "non_finite_ranges.wgsl",
        include_str!("../shaders/non_finite_ranges.wgsl"),
    ),
    (
        "non_finite_scan.wgsl",
        include_str!("../shaders/non_finite_scan.wgsl"),
    ),
    (
        "non_finite_select.wgsl",
        include_str!("../shaders/non_finite_select.wgsl"),
    ),
    (
        "non_finite_zero.wgsl",
        include_str!("../shaders/non_finite_zero.wgsl"),
    ),
    (
        "norm_batches.wgsl",
        include_str!("../shaders/norm_batches.wgsl"),
    ),
    ("normalize.wgsl", include_str!("../shaders/normalize.wgsl")),
    (
        "normalize_vec4.wgsl",
        include_str!("../shaders/normalize_vec4.wgsl"),
    ),
    ("ns_lanes.wgsl", include_str!("../shaders/ns_lanes.wgsl")),
    (
        "ns_problems.wgsl",
        include_str!("../shaders/ns_problems.wgsl"),
    ),
    (
        "ns_split_sum.wgsl",
        include_str!("../shaders/ns_split_sum.wgsl"),
    ),
    ("ns_tiled.wgsl", include_str!("../shaders/ns_tiled.wgsl")),
    (
        "pack_halves.wgsl",
        include_str!("../shaders/pack_halves.wgsl"),
    ),
    (
        "step_scalars.wgsl",
        include_str!("../shaders/step_scalars.wgsl"),
    ), // The Keras base optimizer's options (src/kernels/keras.rs).
    ("segment.wgsl", include_str!("../shaders/segment.wgsl")),
    (
        "grad_unscale.wgsl",
        include_str!("../shaders/grad_unscale.wgsl"),
    ),
    (
        "inner_product.wgsl",
        include_str!("../shaders/inner_product.wgsl"),
    ),
    (
        "adamw_packed.wgsl",
        include_str!("../shaders/adamw_packed.wgsl"),
    ),
    (
        "momentum_nd.wgsl",
        include_str!("../shaders/momentum_nd.wgsl"),
    ),
    ("mu_dtype.wgsl", include_str!("../shaders/mu_dtype.wgsl")),
    (
        "muon_update_nd.wgsl",
        include_str!("../shaders/muon_update_nd.wgsl"),
    ),
    ("nd_view.wgsl", include_str!("../shaders/nd_view.wgsl")),
    (
        "precondition.wgsl",
        include_str!("../shaders/precondition.wgsl"),
    ),
    (
        "spectral_norm.wgsl",
        include_str!("../shaders/spectral_norm.wgsl"),
    ),
    (
        "grad_accumulate.wgsl",
        include_str!("../shaders/grad_accumulate.wgsl"),
    ),
    (
        "grad_sum_squares.wgsl",
        include_str!("../shaders/grad_sum_squares.wgsl"),
    ),
    (
        "clip_factors.wgsl",
        include_str!("../shaders/clip_factors.wgsl"),
    ),
    ("grad_clip.wgsl", include_str!("../shaders/grad_clip.wgsl")),
    ("ema.wgsl", include_str!("../shaders/ema.wgsl")),
    (
        "locate_matrix.wgsl",
        include_str!("../shaders/locate_matrix.wgsl"),
    ),
    (
        "workgroup_reduce.wgsl",
        include_str!("../shaders/workgroup_reduce.wgsl"),
    ),
    (
        "gpt_attention.wgsl",
        include_str!("../shaders/gpt_attention.wgsl"),
    ),
    (
        "gpt_attention_backward_key.wgsl",
        include_str!("../shaders/gpt_attention_backward_key.wgsl"),
    ),
    (
        "gpt_attention_backward_query.wgsl",
        include_str!("../shaders/gpt_attention_backward_query.wgsl"),
    ),
    (
        "gpt_attention_dims.wgsl",
        include_str!("../shaders/gpt_attention_dims.wgsl"),
    ),
    (
        "gpt_embedding.wgsl",
        include_str!("../shaders/gpt_embedding.wgsl"),
    ),
    (
        "gpt_embedding_backward.wgsl",
        include_str!("../shaders/gpt_embedding_backward.wgsl"),
    ),
    (
        "gpt_rms_norm.wgsl",
        include_str!("../shaders/gpt_rms_norm.wgsl"),
    ),
    (
        "gpt_rms_norm_backward.wgsl",
        include_str!("../shaders/gpt_rms_norm_backward.wgsl"),
    ),
    (
        "gpt_attention_backward_bindings.wgsl",
        include_str!("../shaders/gpt_attention_backward_bindings.wgsl"),
    ),
    (
        "gpt_embedding_dims.wgsl",
        include_str!("../shaders/gpt_embedding_dims.wgsl"),
    ),
    (
        "gpt_rms_norm_dims.wgsl",
        include_str!("../shaders/gpt_rms_norm_dims.wgsl"),
    ),
    (
        "muon_steps.wgsl",
        include_str!("../shaders/muon_steps.wgsl"),
    ),
    (
        "tiled_operands.wgsl",
        include_str!("../shaders/tiled_operands.wgsl"),
    ),
    // The models' products (src/nn/matmul.rs).
    ("nn_matmul.wgsl", include_str!("../shaders/nn_matmul.wgsl")),
    (
        "nn_split_k_sum.wgsl",
        include_str!("../shaders/nn_split_k_sum.wgsl"),
    ),
];

/// The text on disk of a file of `shaders/`.
pub fn file(name: &str) -> Option<&'static str> {
    FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// The kernels (files with an `@compute` entry point), by file name.
pub fn kernels() -> impl Iterator<Item = &'static str> {
    FILES
        .iter()
        .filter(|(_, text)| text.contains("@compute"))
        .map(|(name, _)| *name)
}

/// A registered shader with its imports resolved, as it is compiled.
///
/// # Panics
/// If `name` is not registered or imports an unregistered file: both are the crate's own
/// constants, checked by `tests/shaders.rs`.
pub fn source(name: &str) -> String {
    let text = file(name).unwrap_or_else(|| panic!("no shader `{name}` in shaders/"));
    preprocess(text, |import| file(&format!("{import}.wgsl")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Replaces every `#import name` line of `text` by the text `lookup(name)` gives (itself
/// preprocessed), each name at most once.
pub fn preprocess<'a>(
    text: &str,
    lookup: impl Fn(&str) -> Option<&'a str>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut seen = Vec::new();
    expand(text, &lookup, &mut seen, &mut out)?;
    Ok(out)
}

fn expand<'a>(
    text: &str,
    lookup: &impl Fn(&str) -> Option<&'a str>,
    seen: &mut Vec<String>,
    out: &mut String,
) -> Result<(), String> {
    for line in text.split_inclusive('\n') {
        let Some(name) = line.trim_start().strip_prefix("#import ") else {
            out.push_str(line);
            continue;
        };
        let name = name.trim();
        if seen.iter().any(|s| s == name) {
            continue;
        }
        seen.push(name.to_string());
        let imported = lookup(name).ok_or_else(|| format!("unknown import `{name}`"))?;
        expand(imported, lookup, seen, out)?;
    }
    Ok(())
}

/// Parses and validates every kernel with naga, as a browser or driver would before compiling:
/// `(file name, error message)` for each one that fails.
pub fn validate_all() -> Vec<(&'static str, String)> {
    kernels()
        .filter_map(|name| validate_wgsl(&source(name)).err().map(|e| (name, e)))
        .collect()
}

/// Parses and validates one WGSL source with naga, allowing subgroup operations in compute
/// shaders (the crate only runs the kernels that use them where the device has `SUBGROUP`) and
/// `pack2x16float`/`unpack2x16float` (core WGSL; naga asks for a capability that every
/// WebGPU, Vulkan, Metal, DX12 and desktop GL device has).
pub fn validate_wgsl(source: &str) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default()
            | naga::valid::Capabilities::SUBGROUP
            | naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32,
    )
    .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
    .subgroup_operations(naga::valid::SubgroupOperationSet::all())
    .validate(&module)
    .map(|_| ())
    .map_err(|e| e.emit_to_string(source))
}

#[cfg(test)]
mod tests {
    use super::preprocess;

    fn lookup(name: &str) -> Option<&'static str> {
        match name {
            "a" => Some("A\n"),
            "b" => Some("#import a\nB\n"),
            _ => None,
        }
    }

    #[test]
    fn imports_are_replaced_once_with_their_own_imports_first() {
        let out = preprocess("#import b\n#import a\nmain\n", lookup).unwrap();
        assert_eq!(out, "A\nB\nmain\n");
    }

    #[test]
    fn an_unknown_import_is_an_error() {
        assert!(preprocess("#import c\n", lookup).is_err());
    }
}
