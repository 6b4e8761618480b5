#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment in .venv with the small CPU build of torch.
# Idempotent: skips pip when neither pyproject.toml nor constraints.txt changed since the last successful install.
# Every package is pinned by constraints.txt: machines set up from one commit export the same model bytes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${EFFBENCH_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
stamp="$venv/.effbench-installed"
want="$(cat "$root/pyproject.toml" "$root/constraints.txt" | sha256sum | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "effbench: setting up $venv (first run takes about a minute)" >&2
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
# torch==2.13.0 is the CPU build (pinned in pyproject's [torch] extra); a looser pin would pull a multi-GB CUDA build.
"$venv/bin/python" -m pip install --quiet -c "$root/constraints.txt" -e "$root[all,dev]" >&2
echo "$want" > "$stamp"
