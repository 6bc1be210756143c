#!/usr/bin/env bash
# The browser test (what CI runs; scripts/test.sh calls it last). On a fresh Debian machine it
# installs what it needs: Debian's chromium, node and npm (apt), playwright-core (npm, the
# library only: no browser is downloaded), the wasm32 target and the wasm-bindgen CLI. Then:
#
#   1. builds the wasm into web/pkg (scripts/web.sh --build-only);
#   2. runs the demo's digits race natively (examples/web_parity.rs, the same Rust) for the
#      seed and steps the browser will run, into target/web-native.json;
#   3. web/test.mjs: serves web/ on 127.0.0.1, opens it in headless Chromium with
#      --enable-unsafe-webgpu (SwiftShader's WebGPU), runs ?autorun=N and checks the page, the
#      parity with step 2, the JS API, "fit an image", "TensorFlow.js + Muon" (its parameters
#      after Muon steps on tfjs gradients against `muon-wgpu replay`) and the page without
#      WebGPU; saves target/web-screenshot*.png.
#
# Ends with `web: N passed, M failed`. WEB_TEST_STEPS (30) and WEB_TEST_HIDDEN (64,64) size the
# digits run (SwiftShader runs on the CPU, so keep them small); WEB_TEST_LRS (0.01,0.01,0.01) are
# its learning rates (Muon, AdamW next to Muon, AdamW alone), the same in both runs.
set -uo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
fail() {
  echo "error: $*" >&2
  echo "web: 0 passed, 1 failed"
  exit 1
}

export WEB_TEST_STEPS=${WEB_TEST_STEPS:-30}
export WEB_TEST_HIDDEN=${WEB_TEST_HIDDEN:-64,64}
export WEB_TEST_LRS=${WEB_TEST_LRS:-0.01,0.01,0.01}
IFS=, read -r muon_lr aux_lr adamw_lr <<<"$WEB_TEST_LRS"
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

packages=()
[ -x "$CHROMIUM" ] || packages+=(chromium)
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
if [ ${#packages[@]} -gt 0 ]; then
  echo "== installing ${packages[*]}"
  as_root apt-get update -qq || fail "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null ||
    fail "could not install ${packages[*]}"
fi

bash scripts/web.sh --build-only || fail "the wasm build failed"

# web/package-lock.json pins playwright-core and the tfjs packages of the "TensorFlow.js + Muon" tab.
want=$(sed -n 's/.*"playwright-core": "\([^"]*\)".*/\1/p' web/package.json)
have=$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' web/node_modules/playwright-core/package.json 2>/dev/null || true)
if [ "$have" != "$want" ] || [ ! -f web/node_modules/@tensorflow/tfjs-backend-webgpu/package.json ]; then
  echo "== npm ci (playwright-core $want, tfjs; no browser download)"
  (cd web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) ||
    fail "npm ci in web/ failed"
fi

echo "== native run of the same race: cargo run --example web_parity -- --steps $WEB_TEST_STEPS --hidden $WEB_TEST_HIDDEN"
mkdir -p target
# WEB_TEST_CARGO_FLAGS: scripts/test.sh passes its `--features mpi`, so this reuses its build.
# shellcheck disable=SC2086
cargo run --quiet ${WEB_TEST_CARGO_FLAGS:-} --example web_parity -- --steps "$WEB_TEST_STEPS" --hidden "$WEB_TEST_HIDDEN" --seed 0 \
  --muon-lr "$muon_lr" --aux-lr "$aux_lr" --adamw-lr "$adamw_lr" \
  >target/web-native.json 2> >(grep -v XDG_RUNTIME_DIR >&2) ||
  fail "the native run failed"
export WEB_TEST_NATIVE=target/web-native.json

# The GPT tab's sizes on SwiftShader (web/test.mjs: hidden=32, batch=4; software: 1 block, 2 heads, context 32).
echo "== native run of the same GPT race: cargo run --example web_parity -- --gpt --steps ${WEB_TEST_GPT_STEPS:-10}"
# shellcheck disable=SC2086
cargo run --quiet ${WEB_TEST_CARGO_FLAGS:-} --example web_parity -- --gpt --steps "${WEB_TEST_GPT_STEPS:-10}" --width 32 --heads 2 --layers 1 \
  --context 32 --batch 4 --seed 0 --per-submit 1 \
  >target/web-native-gpt.json 2> >(grep -v XDG_RUNTIME_DIR >&2) ||
  fail "the native GPT run failed"
export WEB_TEST_GPT_NATIVE=target/web-native-gpt.json

echo "== headless Chromium ($("$CHROMIUM" --version 2>/dev/null | head -1)) with SwiftShader WebGPU"
node web/test.mjs
