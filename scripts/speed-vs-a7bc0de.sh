#!/usr/bin/env bash
# GPT training speed of this tree against commit a7bc0de (before the model products of issue 23),
# measured in one run on one machine: builds a7bc0de's `--example gpt` in a worktree of its own
# (its own target dir), builds this tree's, then runs each ROUNDS times, alternating old and
# new, on lavapipe (Vulkan) and on llvmpipe (GL), and prints the median tokens/s of each and the
# ratio. Both runs of the example (Muon + AdamW, then AdamW) are reported.
#
#   scripts/speed-vs-a7bc0de.sh                 # STEPS=40 ROUNDS=3 BACKENDS="vulkan gl"
#   OLD_TREE=/tmp/old OLD_TARGET=/tmp/old-target scripts/speed-vs-a7bc0de.sh
#
# The old build takes as long as a fresh build of the crate. A shared machine makes single
# timings noisy: the alternation keeps the comparison fair, the median keeps it stable.
set -euo pipefail
cd "$(dirname "$0")/.."

OLD=a7bc0de
STEPS=${STEPS:-40}
ROUNDS=${ROUNDS:-3}
BACKENDS=${BACKENDS:-vulkan gl}
OLD_TREE=${OLD_TREE:-target/speed-old-tree}
OLD_TARGET=${OLD_TARGET:-target/speed-old-target}
NEW_TARGET=${CARGO_TARGET_DIR:-target}

if [ ! -e "$OLD_TREE/Cargo.toml" ]; then
  git worktree add --detach "$OLD_TREE" "$OLD" >/dev/null
fi
(cd "$OLD_TREE" && CARGO_TARGET_DIR="$(realpath -m "$OLD_TARGET")" cargo build --release --example gpt)
cargo build --release --example gpt
old_bin="$(realpath "$OLD_TARGET")/release/examples/gpt"
new_bin="$(realpath "$NEW_TARGET")/release/examples/gpt"

# tokens/s of the Muon + AdamW run and of the AdamW run, from the example's JSON line.
tokens_per_s() {
  MUON_WGPU_BACKEND=$1 "$2" --steps "$STEPS" --eval-every "$STEPS" --sample 0 --json 2>/dev/null \
    | tail -n 1 | grep -o '"tokens_per_s": [0-9.]*' | awk '{printf "%s ", $2}'
}

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

echo "GPT tokens/s, $STEPS steps, median of $ROUNDS alternating runs, $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-8s %-13s %10s %10s %7s\n' backend run "$OLD" new ratio
for backend in $BACKENDS; do
  : >"$NEW_TARGET/speed-$backend.old"
  : >"$NEW_TARGET/speed-$backend.new"
  for _ in $(seq "$ROUNDS"); do
    tokens_per_s "$backend" "$old_bin" >>"$NEW_TARGET/speed-$backend.old"
    echo >>"$NEW_TARGET/speed-$backend.old"
    tokens_per_s "$backend" "$new_bin" >>"$NEW_TARGET/speed-$backend.new"
    echo >>"$NEW_TARGET/speed-$backend.new"
  done
  for column in 1 2; do
    label=$([ "$column" = 1 ] && echo "Muon+AdamW" || echo "AdamW")
    old=$(awk -v c=$column '{print $c}' "$NEW_TARGET/speed-$backend.old" | median)
    new=$(awk -v c=$column '{print $c}' "$NEW_TARGET/speed-$backend.new" | median)
    printf '%-8s %-13s %10s %10s %6.2fx\n' "$backend" "$label" "$old" "$new" \
      "$(awk -v a="$old" -v b="$new" 'BEGIN {print b / a}')"
  done
done
