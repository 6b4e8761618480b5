#!/usr/bin/env bash
# The README's history example, from real runs: EfficientNet-B0 on ONNX Runtime 1.20.1 (a second virtual
# environment) six times, then on the project's ONNX Runtime six times, indexed and searched for change points.
#   scripts/history_demo.sh [OUT_DIR]     (default: results/<machine-id>/history-ort-upgrade)
# Needs an exported B0 (./effbench export --model b0). The second environment is made in /tmp/venv-ort120.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py=.venv/bin/python
mid=$($py -c "from bench.machine import collect_machine_metadata, machine_id; print(machine_id(collect_machine_metadata()))")
out="${1:-results/$mid/history-ort-upgrade}"
entry=$(ls -d models/efficientnet_b0-* | head -n 1)
old=/tmp/venv-ort120
[ -x "$old/bin/python" ] || { python3 -m venv "$old"; "$old/bin/pip" install -q "onnxruntime==1.20.1" numpy scipy rich py-cpuinfo pyperf filelock matplotlib; }
for i in 1 2 3 4 5 6; do  # torch-free: the exported folder is run as it is, effbench from this checkout
  PYTHONPATH="$root" "$old/bin/python" -m bench latency --model "$entry" --backend onnxruntime --cpus 1 --fast \
    --output "$out/ort-1.20.1-$i.json"
done
for i in 1 2 3 4 5 6; do
  $py -m bench latency --model "$entry" --backend onnxruntime --cpus 1 --fast --output "$out/ort-1.32.0-$i.json"
done
db=$(mktemp -d)/history.sqlite
$py -m bench history index "$out" --db "$db"
$py -m bench history show --model b0 --backend onnxruntime --db "$db" --format md --plot "$out/trend.svg"
$py -m bench history show --model b0 --backend onnxruntime --db "$db" --plot "$out/trend.png" > /dev/null
$py -m bench history changes --db "$db"
