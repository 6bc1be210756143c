//! naga validation of every shader, without a GPU.

use muon_wgpu::kernels::{validate_shaders, validate_wgsl, SHADERS};

#[test]
fn every_registered_shader_passes_naga_validation() {
    let failures = validate_shaders();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_wgsl_file_in_shaders_validates_and_optimizer_shaders_are_registered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "wgsl") {
            continue;
        }
        seen += 1;
        let source = std::fs::read_to_string(&path).unwrap();
        // The MLP's activation kernels are compiled with the shared functions of
        // `nn_activations.wgsl` in front; validate them the way they are compiled.
        let include = std::fs::read_to_string(dir.join("nn_activations.wgsl")).unwrap_or_default();
        if let Err(e) = validate_wgsl(&source) {
            if validate_wgsl(&format!("{include}\n{source}")).is_err() {
                panic!("{}: {e}", path.display());
            }
        }
    }
    assert!(
        seen >= SHADERS.len(),
        "found {seen} shader files, {} registered",
        SHADERS.len()
    );
    for (name, source) in SHADERS {
        let on_disk = std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(&on_disk, source, "{name} is registered with other text");
    }
}

#[test]
fn validation_rejects_a_broken_shader() {
    assert!(validate_wgsl("@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }").is_err());
}
