#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment in .venv with the small CPU build of torch.
# Idempotent: skips pip when pyproject.toml has not changed since the last successful install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${EFFBENCH_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
stamp="$venv/.effbench-installed"
want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "effbench: setting up $venv (first run takes about a minute)" >&2
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
# torch==2.13.0 is the CPU build (pinned in pyproject's [torch] extra); a looser pin would pull a multi-GB CUDA build.
"$venv/bin/python" -m pip install --quiet -e "$root[all,dev]" >&2
echo "$want" > "$stamp"
