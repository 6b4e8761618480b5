#!/usr/bin/env bash
# The targets of `effbench ab` on this machine, each comparison a real A/B (scripts/compare_proof.py), k per row:
#   scripts/ab_proof.sh OUTDIR [MODEL] [K] [SCENARIO ...]
# Scenarios (all of them when none is named), in this order:
#   aa5        A/A, quiet CPU, threshold 5%, budget 90 s
#   p10        a real ~10% slowdown (a resolution step), quiet, budget 45 s
#   p25i       a real ~25% slowdown under interference (a spinner on the measured CPU 30% of the time), 45 s
#   p10i       the ~10% slowdown under interference, 45 s
#   step       the latency ratio of the MACs-chosen 4.5% step, measured first (a fixed-size A/B of 24 blocks)
#   p45        that step at --threshold 2%, budget 90 s
#   aa2        A/A, quiet, threshold 2%, budget 90 s
#   aa5i aa2i  A/A under interference at 5% and 2%
#   p3         a ~3% step at --threshold 2%, budget 180 s (a goal to see, not a gate; B0: 225 against 233 px)
# Each row writes OUTDIR/MODEL-SCENARIO.json (the summary) and keeps its result documents in
# results/_scratch/ab-proof/MODEL-SCENARIO/ (tens of MB in all: not committed). Pins the A/Bs to CPU 1: keep it idle.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:?usage: scripts/ab_proof.sh OUTDIR [MODEL] [K] [SCENARIO ...]}"
model="${2:-mobilenet_v2}"
k="${3:-20}"
shift $(( $# < 3 ? $# : 3 ))
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(aa5 p10 p25i p10i step p45 aa2 aa5i aa2i p3)
py="$root/.venv/bin/python"
proof="$root/scripts/compare_proof.py"
mkdir -p "$out"
interfere=0.3

run() {  # run SCENARIO ARGS...: one row
  local name="$1"; shift
  local summary="$out/$model-$name.json" keep="$root/results/_scratch/ab-proof/$model-$name"
  if [ -e "$summary" ]; then echo "$summary exists: skipped"; return; fi
  rm -rf "$keep"
  echo "== $name: compare_proof.py $*"
  "$py" "$proof" --model "$model" --cpus 1 --k "$k" --keep "$keep" --output "$summary" "$@"
}

step_pair() {  # BASE,NEW of the measured 4.5% step
  "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["base"] + "," + d["new"])' "$out/$model-step.json"
}

for scenario in "${scenarios[@]}"; do
  case "$scenario" in
    aa5) run aa5 --threshold 5% --budget 90 --no-power ;;
    p10) run p10 --no-aa --ratio 1.10 --budget 45 ;;
    p25i) run p25i --no-aa --ratio 1.25 --budget 45 --interfere "$interfere" ;;
    p10i) run p10i --no-aa --ratio 1.10 --budget 45 --interfere "$interfere" ;;
    step)
      if [ ! -e "$out/$model-step.json" ]; then
        "$py" "$proof" --model "$model" --cpus 1 --measure-step 1.045 --blocks 24 \
          --keep "$root/results/_scratch/ab-proof/$model-step" --output "$out/$model-step.json"
      fi ;;
    p45) run p45 --no-aa --pair "$(step_pair)" --threshold 2% --budget 90 ;;
    aa2) run aa2 --threshold 2% --budget 90 --no-power ;;
    aa5i) run aa5i --threshold 5% --budget 90 --interfere "$interfere" --no-power ;;
    aa2i) run aa2i --threshold 2% --budget 90 --interfere "$interfere" --no-power ;;
    p3)  # B0's MACs move in jumps: the pair chosen for ×1.03 MACs is the 4.5% step, so its ~3% step is named
      case "$model" in
        b0|efficientnet_b0) run p3 --no-aa --pair b0:r=225,b0:r=233 --threshold 2% --budget 180 ;;
        *) run p3 --no-aa --ratio 1.03 --threshold 2% --budget 180 ;;
      esac ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
  esac
done
