#!/usr/bin/env bash
# The check-and-time sequence for a machine with a GPU, in one command: a tiny training probe,
# the default training run, the small preset, and the kernels (with each convolution variant
# forced, then autotuned), step (autotuned) and matmul benchmarks.
# Expects in .gpu/: the bundles of bench/index.ts and src/cli/train.ts (as scripts/run.mjs makes
# them) beside node_modules, and setup.sh, which puts node and the Vulkan loader on the paths.
# On NVIDIA the Vulkan driver (libGLX_nvidia) needs libglvnd, without which Dawn finds no adapter:
#   (cd .gpu && apt-get download libglvnd0 libglx0 libgl1 libegl1 libopengl0 libgles2)
# Run `OUT=DIR bash scripts/gpu-checks.sh [SECONDS_OF_TRAINING]`. Everything lands in $OUT:
# log.txt (all output) and res.tgz (logs, grids, bench JSON, small checkpoints). Each step has
# its own time limit, so one failure does not cost the rest.
set -u
T=${1:-120}
source .gpu/setup.sh
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
L=$OUT/log.txt
R=/tmp/gpu-res
mkdir -p "$R"
# The autotune's picks land with the results (and start empty, so every run here times its own).
export DCIGN_AUTOTUNE=$R/autotune.json
rm -f "$DCIGN_AUTOTUNE"
say() { echo "=== $(date -u +%T) $*" | tee -a "$L"; }
# --foreground: SIGINT to node alone, which saves a checkpoint and exits.
run() {
  local t=$1; shift
  say "$* (limit ${t}s)"
  timeout --foreground -s INT -k 20 "$t" "$@" 2>&1 | tr '\r' '\n' | grep -v -e '^\s*$' -e 'artificially reduced' >> "$L"
  say "rc=${PIPESTATUS[0]}"
}
nvidia-smi -L >> "$L" 2>&1
run 60 node .gpu/src/cli/train.mjs --preset tiny --steps 20 --out "$R/probe"
grep -q 'done at step 20' "$L" || { say 'no adapter: see the log'; exit 1; }
run "$T" node .gpu/src/cli/train.mjs --out "$R/paper" --sample-every 500 --checkpoint-every 1000000
run "$T" node .gpu/src/cli/train.mjs --preset small --steps 1000000 --sample-every 1000 --checkpoint-every 1000000 --out "$R/small"
run 120 node .gpu/bench/index.mjs kernels --batch 20 --conv-variant register --json "$R/kernels.json"
run 90 node .gpu/bench/index.mjs kernels --batch 20 --conv-variant tiled --no-tfjs --no-jax --json "$R/kernels-tiled.json"
run 120 node .gpu/bench/index.mjs kernels --batch 20 --conv-variant auto --no-tfjs --no-jax --json "$R/kernels-auto.json"
run 120 node .gpu/bench/index.mjs step --preset paper --conv-variant auto --json "$R/step-paper.json"
run 60 node .gpu/bench/index.mjs step --preset small --conv-variant auto --json "$R/step-small.json"
run 60 node .gpu/bench/index.mjs matmul --json "$R/matmul.json"
rm -f "$R"/paper/model.safetensors "$R"/*/train-state-*
tar czf "$OUT/res.tgz" -C /tmp gpu-res
say end
