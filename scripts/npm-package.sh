#!/usr/bin/env bash
# Builds the npm package `muon-wgpu` (the browser bindings of web/pkg plus muon-wgpu/tfjs) and
# packs it; publishing is left to a person (`npm publish target/npm/muon-wgpu-<version>.tgz`).
#
#   bash scripts/npm-package.sh               # build web/pkg, then target/npm/muon-wgpu-<version>.tgz
#   bash scripts/npm-package.sh --no-build    # reuse web/pkg as it is
#   bash scripts/npm-package.sh --test        # and install the tarball into an empty project, serve
#                                             # a page that imports `muon-wgpu` through an import
#                                             # map, and run one optimizer step in headless Chromium
#
# The package: web/pkg's module, declarations and wasm; web/tfjs.js as tfjs.js (its import of
# ./pkg/muon_wgpu.js pointed at ./muon_wgpu.js); web/npm's package.json (version from Cargo.toml),
# tfjs.d.ts, README.md (with the wasm's size filled in) and licence files.
set -euo pipefail
cd "$(dirname "$0")/.."

build=true
test=false
for arg in "$@"; do
  case "$arg" in
    --no-build) build=false ;;
    --test) test=true ;;
    -h | --help)
      sed -n '2,15p' "$0"
      exit 0
      ;;
    *)
      echo "unknown argument: $arg (see --help)" >&2
      exit 2
      ;;
  esac
done

$build && bash scripts/web.sh --build-only

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
out=target/npm/muon-wgpu
rm -rf "$out"
mkdir -p "$out"
cp web/pkg/muon_wgpu.js web/pkg/muon_wgpu.d.ts web/pkg/muon_wgpu_bg.wasm web/pkg/muon_wgpu_bg.wasm.d.ts "$out/"
sed 's#"\./pkg/muon_wgpu\.js"#"./muon_wgpu.js"#' web/tfjs.js >"$out/tfjs.js"
grep -q '"./muon_wgpu.js"' "$out/tfjs.js" || {
  echo "error: web/tfjs.js no longer imports ./pkg/muon_wgpu.js" >&2
  exit 1
}
cp web/npm/tfjs.d.ts web/npm/LICENSE-MIT web/npm/LICENSE-APACHE "$out/"

raw=$(wc -c <"$out/muon_wgpu_bg.wasm")
gz=$(gzip -9 -c "$out/muon_wgpu_bg.wasm" | wc -c)
size=$(awk -v raw="$raw" -v gz="$gz" 'BEGIN { printf "%.0f KiB (%.0f KiB gzipped)", raw / 1024, gz / 1024 }')
sed "s/WASM_SIZE/$size/" web/npm/README.md >"$out/README.md"
sed "s/\"VERSION\"/\"$version\"/" web/npm/package.json >"$out/package.json"

tarball=$(cd target/npm && npm pack ./muon-wgpu --silent)
echo "target/npm/$tarball: muon_wgpu_bg.wasm $size"

if $test; then
  [ -f web/node_modules/playwright-core/package.json ] ||
    (cd web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  node web/npm/test-package.mjs "$PWD/target/npm/$tarball"
fi
