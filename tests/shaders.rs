//! naga validation of every shader, without a GPU, through the same `#import` preprocessor the
//! crate compiles them with.

use muon_wgpu::shaders::{self, validate_wgsl, FILES};

#[test]
fn every_registered_kernel_passes_naga_validation() {
    let failures = shaders::validate_all();
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(shaders::kernels().count(), 43);
}

#[test]
fn every_wgsl_file_in_shaders_is_registered_with_its_text() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "wgsl") {
            continue;
        }
        seen += 1;
        let name = path.file_name().unwrap().to_str().unwrap();
        let on_disk = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            shaders::file(name),
            Some(on_disk.as_str()),
            "{name} is not registered in src/shaders.rs, or with other text"
        );
    }
    assert_eq!(
        seen,
        FILES.len(),
        "src/shaders.rs registers files not on disk"
    );
}

#[test]
fn every_import_names_a_file_that_is_not_a_kernel() {
    for (name, text) in FILES {
        for line in text.lines() {
            if let Some(import) = line.trim_start().strip_prefix("#import ") {
                let file = format!("{}.wgsl", import.trim());
                let imported = shaders::file(&file)
                    .unwrap_or_else(|| panic!("{name} imports {file}, which is not registered"));
                assert!(
                    !imported.contains("@compute"),
                    "{name} imports the kernel {file}"
                );
            }
        }
    }
}

#[test]
fn validation_rejects_a_broken_shader() {
    assert!(validate_wgsl("@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }").is_err());
}
