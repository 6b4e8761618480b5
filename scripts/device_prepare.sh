#!/usr/bin/env bash
# Prepares a carry folder for a machine under test that has Python, torch, onnx and ONNX Runtime but no OpenVINO,
# no pyperf and no network (the project's lent 16-core Xeon: Python 3.12, no openvino).
#
#   scripts/device_prepare.sh [PYTHON_VERSION] [CARRY_DIR]     # defaults: 3.12 .carry
#
# It downloads the wheels that machine lacks for PYTHON_VERSION (openvino and its telemetry, pyperf), unpacks them,
# drops what a CPU benchmark never loads (OpenVINO's GPU and NPU plugins, the GPU kernel cache, the frontends other
# than ONNX and IR) and packs the rest into CARRY_DIR/site.zip, which scripts/device_run.sh unpacks there and puts
# on PYTHONPATH: nothing is installed. The whole working tree that travels (git's tracked files plus the carry) must
# stay under 64 MiB; the script checks it. CARRY_DIR must be ignored by git (.carry/ is).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
pyver="${1:-3.12}"
carry="${2:-.carry}"
python="${EFFBENCH_PYTHON:-$root/.venv/bin/python}"
tag="cp${pyver/./}"
openvino_version="$("$python" -c 'import openvino; print(openvino.__version__.split("-")[0])' 2>/dev/null || echo 2026.4.1)"
wheels="$carry/wheels-$tag"
site="$(mktemp -d)/site"
trap 'rm -rf "$(dirname "$site")"' EXIT
mkdir -p "$wheels" "$site"
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
    "${platforms[@]}" -d "$wheels" "openvino==$openvino_version" "openvino-telemetry" "pyperf"
for wheel in "$wheels"/*.whl; do
    "$python" -m zipfile -e "$wheel" "$site"
done
# What a CPU benchmark of ONNX and IR files never loads (each listed so that a rename upstream shows here).
drop=(
    "openvino/libs/libopenvino_intel_gpu_plugin.so"
    "openvino/libs/libopenvino_intel_npu_plugin.so"
    "openvino/libs/cache.json"
)
for name in tensorflow tensorflow_lite paddle pytorch jax gguf; do
    drop+=("openvino/libs/libopenvino_${name}_frontend.so.*")
done
for path in "${drop[@]}"; do
    # shellcheck disable=SC2206
    matches=( $site/$path )
    [ -e "${matches[0]}" ] || { echo "device_prepare: $path is not in the openvino wheel any more; check the list" >&2; exit 1; }
    rm -f "${matches[@]}"
done
"$python" - "$site" "$carry/site.zip" <<'PY'
import os, sys, zipfile
site, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for folder, _dirs, files in sorted(os.walk(site)):
        for name in sorted(files):
            path = os.path.join(folder, name)
            z.write(path, os.path.relpath(path, site))
PY
tracked=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
carried=$(stat -c %s "$carry/site.zip")
total=$((tracked + carried))
limit=$((64 * 1024 * 1024))
echo "device_prepare: $carry/site.zip $((carried / 1048576)) MiB + tracked files $((tracked / 1048576)) MiB = $((total / 1048576)) MiB (limit 64)"
if [ "$total" -ge "$limit" ]; then
    echo "device_prepare: the working tree would not travel (over 64 MiB); carry less" >&2
    exit 1
fi
