#!/usr/bin/env bash
# Builds the browser demo and serves it:
#
#   bash scripts/web.sh                 # build, then serve web/ on http://127.0.0.1:8000/
#   PORT=9000 bash scripts/web.sh       # another port
#   bash scripts/web.sh --build-only    # build web/pkg and stop (scripts/web-test.sh uses this)
#
# The build: the library for wasm32-unknown-unknown (release), then `wasm-bindgen --target web`
# into web/pkg (ES module + TypeScript declarations; no bundler). The wasm32 target and the
# wasm-bindgen CLI at exactly the version in Cargo.lock are installed when missing.
# Serving on 127.0.0.1 matters: browsers give WebGPU only to secure contexts, and localhost is one.
set -euo pipefail
cd "$(dirname "$0")/.."

build_only=false
for arg in "$@"; do
  case "$arg" in
    --build-only) build_only=true ;;
    -h | --help)
      sed -n '2,11p' "$0"
      exit 0
      ;;
    *)
      echo "unknown argument: $arg (see --help)" >&2
      exit 2
      ;;
  esac
done

if command -v rustup >/dev/null; then
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
fi

# The CLI must match the wasm-bindgen crate exactly, or the generated glue does not fit the wasm.
version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if [ -z "$version" ]; then
  echo "error: no wasm-bindgen in Cargo.lock" >&2
  exit 1
fi
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $version" ]; then
  echo "== installing wasm-bindgen-cli $version (a few minutes, once)"
  cargo install wasm-bindgen-cli --version "$version" --locked --quiet
fi

echo "== cargo build --lib --release --target wasm32-unknown-unknown"
cargo build --lib --release --quiet --target wasm32-unknown-unknown
echo "== wasm-bindgen --target web --out-dir web/pkg"
wasm-bindgen --target web --out-dir web/pkg target/wasm32-unknown-unknown/release/muon_wgpu.wasm

wasm=web/pkg/muon_wgpu_bg.wasm
raw=$(wc -c <"$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
awk -v raw="$raw" -v gz="$gz" 'BEGIN { printf "web/pkg/muon_wgpu_bg.wasm: %.0f KiB raw, %.0f KiB gzipped (%d / %d bytes)\n", raw / 1024, gz / 1024, raw, gz }'

if $build_only; then
  exit 0
fi

port=${PORT:-8000}
echo "== serving web/ on http://127.0.0.1:$port/ (Ctrl-C to stop)"
echo "   open it in a browser with WebGPU: Chrome/Edge 113+, Safari 26+, Firefox 141+ on Windows;"
echo "   on Linux, Chrome with --enable-unsafe-webgpu"
if command -v node >/dev/null; then
  exec node web/serve.mjs "$port"
else
  exec python3 -m http.server --bind 127.0.0.1 --directory web "$port"
fi
