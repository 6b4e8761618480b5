"""What must not load a runtime: the command line and its help, `effbench models`, the export and cache modules,
the machine metadata, and `effbench cache list|prune`, each checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUNTIMES = ("torch", "onnxruntime", "openvino", "onnx")

# (code run in a fresh interpreter, modules it must not have imported); `CACHE` is replaced by a real cache folder.
CASES = {
    "cli-and-registry": (
        "import bench.cli, bench.backends, bench.engine.runner, bench.commands.latency\n"
        "bench.cli.build_parser()\n"
        "bench.backends.available_backends()\n",
        RUNTIMES,
    ),
    "help-and-models": (
        "import io, contextlib\n"
        "from bench.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['models']) == 0\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n",
        RUNTIMES,
    ),
    "export-modules-and-help": (
        "from bench.cli import build_parser\n"
        "import bench.export, bench.export.build, bench.export.convert, bench.export.parity, bench.export.userfiles\n"
        "import bench.export.inventory, bench.commands.cache\n"
        "build_parser()\n",
        RUNTIMES,
    ),
    "machine-metadata": (
        "import bench.machine, bench.results, bench.engine.stats, bench.commands.system, bench.views.system\n"
        "bench.machine.collect_machine_metadata()\n",
        RUNTIMES,
    ),
    # Judging whether this code still hits an entry re-hashes files and reads versions, not runtimes (nor numpy).
    "cache-list-and-prune": (
        "from bench.cli import main\n"
        "assert main(['cache', 'list', '--cache-dir', CACHE]) == 0\n"
        "assert main(['cache', 'prune', '--dry-run', '--cache-dir', CACHE]) == 0\n",
        (*RUNTIMES, "numpy"),
    ),
}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(name, marks=[pytest.mark.torch, pytest.mark.onnxruntime] if "CACHE" in CASES[name][0] else [])
        for name in CASES
    ],
)
def test_no_runtime_is_imported(case: str, request: pytest.FixtureRequest) -> None:
    code, forbidden = CASES[case]
    cache = request.getfixturevalue("exported") if "CACHE" in code else None
    script = (
        "import sys\n"
        + code.replace("CACHE", "sys.argv[1]")
        + f"loaded = [m for m in {forbidden!r} if m in sys.modules]\n"
        + "assert not loaded, f'imported {loaded}'\n"
    )
    argv = [sys.executable, "-c", script, *([str(cache)] if cache else [])]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    if cache is not None:  # the listing really judged the entry
        (entry,) = (p.name for p in cache.iterdir() if not p.name.startswith("."))
        assert entry in done.stdout
