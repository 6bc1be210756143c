#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, then runs every check:
# formatting, clippy, the wasm32 build of the library, and the whole test suite on every adapter.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# A Vulkan adapter: Mesa's lavapipe when no Vulkan driver is installed.
# (wgpu's GL backend on llvmpipe is present without it, and is tested too.)
packages=()
if ! compgen -G "/usr/share/vulkan/icd.d/*.json" >/dev/null && ! compgen -G "/etc/vulkan/icd.d/*.json" >/dev/null; then
  packages+=(mesa-vulkan-drivers)
fi
if ! ldconfig -p | grep -q 'libEGL.so.1'; then
  packages+=(libegl1 libgl1-mesa-dri)
fi
if [ ${#packages[@]} -gt 0 ]; then
  echo "== installing ${packages[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"
fi

if command -v rustup >/dev/null; then
  rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  rustup component list --installed | grep -q '^clippy' || rustup component add clippy
  rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
fi

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo check --lib --target wasm32-unknown-unknown"
cargo check --lib --quiet --target wasm32-unknown-unknown
echo "== adapters"
cargo run --quiet --bin muon-wgpu -- info 2>/dev/null | grep -E '^adapter|backend:'
echo "== cargo test"
cargo test --no-fail-fast 2>&1 | grep -v 'XDG_RUNTIME_DIR'

# --- browser (issue 4, owned by the web demo): the wasm build of web/, then the demo in headless
# Chromium with SwiftShader's WebGPU, its parity with a native run, the JS API. Installs chromium,
# node and playwright-core when missing. Ends with `web: N passed, M failed`.
echo "== web: scripts/web-test.sh"
bash scripts/web-test.sh
# --- end browser ---
