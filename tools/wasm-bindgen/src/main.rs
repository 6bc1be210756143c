//! `muon-wgpu-bindgen WASM OUT_DIR`: what `wasm-bindgen --target web --out-dir OUT_DIR WASM` does,
//! through the `wasm-bindgen-cli-support` library that the CLI itself wraps. Being a workspace
//! member, its version is pinned by this repository's Cargo.lock, so the glue always matches the
//! `wasm-bindgen` crate the wasm was built with, and nothing has to be installed.
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [wasm, out_dir] = args.as_slice() else {
        eprintln!("usage: muon-wgpu-bindgen WASM OUT_DIR");
        return ExitCode::from(2);
    };
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    // The CLI's defaults where the library's differ: TypeScript declarations, and `init()`
    // without arguments fetching `<name>_bg.wasm` next to the glue (the library omits that path).
    let result = bindgen.input_path(wasm).web(true).and_then(|b| {
        b.typescript(true)
            .omit_default_module_path(false)
            .generate(out_dir)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: wasm-bindgen {wasm} -> {out_dir}: {err:#}");
            ExitCode::FAILURE
        }
    }
}
