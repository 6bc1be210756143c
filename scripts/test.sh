#!/usr/bin/env bash
# The project's test command (what CI runs). On a fresh Debian machine it first installs what the
# tests need, then runs every check: formatting, clippy, the wasm32 build of the library, the whole
# Rust test suite on every adapter found, and the browser demo in headless Chromium.
#
# Each stage prints its time; the last line counts every test and check it ran:
# `N passed, M failed` (the Rust tests, the browser tests, and fmt / clippy / wasm32 as one each).
# Exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

passed=0
failed=0
failures=()
started=$SECONDS

# stage NAME COMMAND...: runs the command, prints its time, counts it as one check.
stage() {
  local name=$1
  shift
  local t0=$SECONDS
  echo "== $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$name")
  fi
  echo "   ($name: $((SECONDS - t0)) s)"
}

# counted NAME LOG COMMAND...: runs a test runner with its output kept in LOG, prints its time, and
# adds the runner's own counts (`test result: ... N passed; M failed` or `web: N passed, M failed`).
counted() {
  local name=$1 log=$2
  shift 2
  local t0=$SECONDS status
  echo "== $name"
  "$@" 2>&1 | grep -v 'XDG_RUNTIME_DIR' | tee "$log"
  status=${PIPESTATUS[0]}
  local p f
  p=$(sed -nE 's/^(test result: .*[^0-9]|web: |npm package: )([0-9]+) passed.*/\2/p' "$log" | awk '{ s += $1 } END { print s + 0 }')
  f=$(sed -nE 's/^(test result: .*; |(web|npm package): [0-9]+ passed, )([0-9]+) failed.*/\3/p' "$log" | awk '{ s += $1 } END { print s + 0 }')
  if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1 # the runner itself failed (a build error, a crash): one failure
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  [ "$f" -eq 0 ] || failures+=("$name")
  echo "   ($name: $((SECONDS - t0)) s, $p passed, $f failed)"
}

# --- installs (each only when missing) ---
t0=$SECONDS
# A Vulkan adapter: Mesa's lavapipe when no Vulkan driver is installed.
# (wgpu's GL backend on llvmpipe is present without it, and is tested too.)
packages=()
if ! compgen -G "/usr/share/vulkan/icd.d/*.json" >/dev/null && ! compgen -G "/etc/vulkan/icd.d/*.json" >/dev/null; then
  packages+=(mesa-vulkan-drivers)
fi
if ! ldconfig -p | grep -q 'libEGL.so.1'; then
  packages+=(libegl1 libgl1-mesa-dri)
fi
# Open MPI for the distributed tests (`--features mpi`): the launcher, the headers and libclang
# (the `mpi` crate generates its bindings with bindgen).
command -v mpirun >/dev/null || packages+=(openmpi-bin)
command -v mpicc >/dev/null || packages+=(libopenmpi-dev)
dpkg -s libclang-dev >/dev/null 2>&1 || packages+=(libclang-dev) # its headers too, not only libclang.so
if [ ${#packages[@]} -gt 0 ]; then
  echo "== installing ${packages[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"
fi
if command -v rustup >/dev/null; then
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  rustup component list --installed | grep -q '^clippy' || rustup component add clippy
  rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
fi
echo "   (installs: $((SECONDS - t0)) s)"

stage "cargo fmt --check" cargo fmt --all --check
stage "cargo clippy --all-targets" cargo clippy --workspace --all-targets --quiet -- -D warnings
# (burn's crate is linted once, above: the mpi feature changes syn's features, which would check
# burn's proc macros and everything under them a second time)
stage "cargo clippy --all-targets --features mpi" \
  cargo clippy --workspace --exclude muon-wgpu-burn --all-targets --quiet --features mpi -- -D warnings
# The library alone compiles no command-line crate: no clap, and libc only through others.
stage "library without the cli feature: no clap, no direct libc" \
  bash -c '! cargo tree -p muon-wgpu --no-default-features -e normal --depth 1 --prefix none | grep -E "^(clap|libc) "'
stage "cargo clippy --lib --target wasm32-unknown-unknown" \
  cargo clippy --lib --quiet --target wasm32-unknown-unknown -- -D warnings
echo "== adapters"
cargo run --quiet --features mpi --bin muon-wgpu -- info 2>/dev/null | grep -E '^adapter|backend:'
mkdir -p target
# With the MPI feature: the same suite plus tests/distributed.rs (mpirun on loopback), in one build.
counted "cargo test (every adapter)" target/test-rust.log cargo test --no-fail-fast --features mpi
# The burn integration (crates/muon-wgpu-burn, burn 0.22.1, Rust >= 1.95): its tests against
# burn's own Muon and the golden files, in release like its example; burn's first build is the
# longest stage of this script.
counted "cargo test -p muon-wgpu-burn" target/test-burn.log \
  cargo test --release -p muon-wgpu-burn --no-fail-fast

# The browser: the wasm build of web/, then the demo in headless Chromium with SwiftShader's
# WebGPU, its parity with a native run, the JS API. Installs chromium, node and playwright-core
# when missing. Ends with `web: N passed, M failed`.
counted "browser: scripts/web-test.sh" target/test-web.log \
  env WEB_TEST_CARGO_FLAGS="--features mpi" bash scripts/web-test.sh

# The npm package: packed from the web/pkg just built, installed from its tarball into an empty
# project, one optimizer step in headless Chromium. Ends with `npm package: N passed, M failed`.
counted "npm package: scripts/npm-package.sh" target/test-npm.log \
  bash scripts/npm-package.sh --no-build --test

echo "== total: $((SECONDS - started)) s"
[ ${#failures[@]} -eq 0 ] || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
