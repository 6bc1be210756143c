#!/usr/bin/env bash
# The figures of docs/src/performance.md, on this machine's Vulkan adapter:
# numpy sgemm (before and after), `muon-wgpu bench` and burn's Muon on the same shape sets.
#
#   scripts/peers/run.sh [--no-burn] [--f16] [MODEL...]     (default models: nano conv)
#
# Results go to ${OUT:-target/peers}/: numpy_*.txt, <model>.json (ours, the tuned kernel),
# <model>_f16.json (--f16: ours with the f16-operand kernel), burn_<model>.txt.
# The burn harness (scripts/peers/burn) is copied to ${BURN_DIR:-/tmp/burn-muon-bench} and
# built there, outside this crate: the first build takes about half an hour on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
burn=1
f16=0
models=()
for arg in "$@"; do
    case "$arg" in
        --no-burn) burn=0 ;;
        --f16) f16=1 ;;
        *) models+=("$arg") ;;
    esac
done
[ ${#models[@]} -gt 0 ] || models=(nano conv)
out=${OUT:-target/peers}
mkdir -p "$out"
python3 -c 'import numpy' 2>/dev/null || python3 -m pip install --quiet numpy

cargo build --release --bin muon-wgpu
if [ $burn = 1 ]; then
    dir=${BURN_DIR:-/tmp/burn-muon-bench}
    mkdir -p "$dir"
    cp -r scripts/peers/burn/. "$dir"/
    (cd "$dir" && cargo build --release)
fi

{ date -Is; uptime; } > "$out/machine.txt"
python3 scripts/peers/numpy_sgemm.py 1024 9 | tee "$out/numpy_before.txt"
for model in "${models[@]}"; do
    ./target/release/muon-wgpu bench --model "$model" --backend vulkan --steps 5 --warmup 1 \
        --json > "$out/$model.json"
    summary='import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[2], "muon-wgpu", d["ns_kernel"], "median", d["step_ms"]["median"], "ms, first", d["first_step_ms"], "ms,", d["gflops"], "GFLOP/s")'
    python3 -c "$summary" "$out/$model.json" "$model"
    if [ $f16 = 1 ]; then
        ./target/release/muon-wgpu bench --model "$model" --backend vulkan --steps 5 --warmup 1 \
            --kernel lanes64-broadcast-f16 --json > "$out/${model}_f16.json"
        python3 -c "$summary" "$out/${model}_f16.json" "$model"
    fi
    if [ $burn = 1 ]; then
        BURN_DEVICE=wgpu "$dir/target/release/burn-muon-bench" "$model" 3 1 \
            2> "$out/burn_$model.log" | tee "$out/burn_$model.txt"
    fi
done
python3 scripts/peers/numpy_sgemm.py 1024 9 | tee "$out/numpy_after.txt"
