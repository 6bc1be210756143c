//! naga validation of every shader, without a GPU.

use muon_wgpu::kernels::{validate_shaders, validate_wgsl, INCLUDES, SHADERS};

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
        // Some kernels are compiled with a file of shared declarations in front (`INCLUDES`);
        // validate each file alone or the way it is compiled.
        if let Err(e) = validate_wgsl(&source) {
            let with_include = INCLUDES.iter().any(|include| {
                let text = std::fs::read_to_string(dir.join(include)).unwrap();
                validate_wgsl(&format!("{text}{source}")).is_ok()
            });
            assert!(with_include, "{}: {e}", path.display());
        }
    }
    assert!(
        seen >= SHADERS.len(),
        "found {seen} shader files, {} registered",
        SHADERS.len()
    );
    for (name, source) in SHADERS {
        let on_disk = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(
            source.ends_with(&on_disk),
            "{name} is registered with other text"
        );
    }
}

#[test]
fn validation_rejects_a_broken_shader() {
    assert!(validate_wgsl("@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }").is_err());
}
