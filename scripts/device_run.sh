#!/usr/bin/env bash
# Measures a machine under test that has Python, torch, onnx and ONNX Runtime but no OpenVINO, no pyperf and no
# network, from this checkout and the carry that scripts/device_prepare.sh made (CARRY_DIR/site.zip):
#
#   OUT=DIR scripts/device_run.sh [ONE_CORE_SUITE] [SCALING_SUITE]      # defaults: paper-short scaling-wide
#
# It unpacks the carried packages to /tmp and puts them on PYTHONPATH (nothing is installed), prints
# `effbench system`, exports the suites' models with the machine's own torch, then runs ONE_CORE_SUITE on CPU 1 and
# SCALING_SUITE on CPUs 0..N-1. Each run is stopped with SIGINT (effbench keeps every finished cell) when its time
# is up, so the whole script ends within about 8 minutes and always leaves documents in OUT:
# system.txt, ONE_CORE_SUITE.json, SCALING_SUITE.json, layers.json and layers-ov-bf16.json (+ .md each: `effbench
# layers` for B0 and ResNet-50 on ONNX Runtime, and on OpenVINO bf16, AMX where the CPU has it) and log.txt: 8 files.
# Environment: OUT (default results/_scratch/device), CARRY_DIR (.carry), PYTHON (python3),
# ONE_CORE_S (200), SCALING_S (130: five calibrations and ten cells) and LAYERS_S (35, each): the time limits of
# the runs; with about a minute of exports on 16 cores, 7.5 minutes at most.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
one_core="${1:-paper-short}"
scaling="${2:-scaling-wide}"
out="${OUT:-results/_scratch/device}"
carry="${CARRY_DIR:-.carry}"
python="${PYTHON:-python3}"
mkdir -p "$out"
exec > >(tee -a "$out/log.txt") 2>&1
site="$(mktemp -d)/site"
if [ -f "$carry/site.zip" ]; then
    "$python" -m zipfile -e "$carry/site.zip" "$site" || exit 2
else
    echo "device_run: no $carry/site.zip: run scripts/device_prepare.sh here first (or set CARRY_DIR)"
fi
export PYTHONPATH="$root:$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
effbench() { "$python" -m bench "$@"; }
started=$SECONDS
effbench system | tee "$out/system.txt"
last=$(( $("$python" -c 'import os; print(len(os.sched_getaffinity(0)))') - 1 ))
# Exports (and the int8 quantizations) first, unpinned and untimed by the suites' limits (the parity checks use
# every core).
models=$("$python" - "$one_core" "$scaling" <<'PY'
import sys
from bench.suite.definition import load_suite
names = dict.fromkeys(m for suite in sys.argv[1:] for m in load_suite(None, suite).models)
print(" ".join(f"--model {m}" for m in names))
PY
)
# shellcheck disable=SC2086
effbench export $models --precision fp32,int8 --quiet || exit 2
echo "device_run: exports done after $((SECONDS - started)) s"
timeout -s INT "${ONE_CORE_S:-200}" "$python" -m bench run --suite "$one_core" --cpus 1 --output "$out/$one_core.json"
echo "device_run: $one_core finished (exit $?) after $((SECONDS - started)) s"
timeout -s INT "${SCALING_S:-130}" "$python" -m bench run --suite "$scaling" --cpus "0-$last" \
    --output "$out/$scaling.json"
echo "device_run: $scaling finished (exit $?) after $((SECONDS - started)) s"
timeout -s INT "${LAYERS_S:-35}" "$python" -m bench layers --model efficientnet_b0 --model resnet50 --cpus 1 \
    --format md --output "$out/layers.json" > "$out/layers.md"
echo "device_run: layers finished (exit $?) after $((SECONDS - started)) s"
timeout -s INT "${LAYERS_S:-35}" "$python" -m bench layers --model efficientnet_b0 --model resnet50 --cpus 1 \
    --backend openvino --precision bf16 --format md --output "$out/layers-ov-bf16.json" > "$out/layers-ov-bf16.md"
echo "device_run: OpenVINO bf16 layers finished (exit $?) after $((SECONDS - started)) s"
ls -la "$out"
