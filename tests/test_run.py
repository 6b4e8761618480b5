"""`effbench run --suite`: one interleaved schedule over models x precisions x threads (fake backend), the peak
calibrations, skipped cells, Ctrl-C and --resume into the same file, --label/--commit, bundles and their errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from bench.cli import build_parser
from bench.commands.run import run_run
from bench.engine.job import Job, WorkerJob
from bench.engine.launchers import InProcessLauncher, Launcher, WorkerOutcome
from bench.engine.plan import git_head, resolve_identity
from bench.machine import CpuTopology
from bench.probes.calibrate import CalibrationJob, CalibrationResult, KernelRun, SizeRun
from bench.suite.progress import EtaEstimator, format_eta

if TYPE_CHECKING:
    from conftest import Cli

ROOT = Path(__file__).resolve().parent.parent
# Four CPUs on four cores, whatever this machine has: the in-process launcher pins nothing.
TOPOLOGY = CpuTopology(
    online=frozenset(range(4)), allowed=frozenset(range(4)), isolated=frozenset(), core_of={c: (0, c) for c in range(4)}
)
SUITE = """
[suite.s]
models = ["b0:r=32", "b1:r=32"]
backends = ["fake"]
precisions = ["fp32", "bf16"]
threads = [1, 2]
preset = "fast"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "bench.toml"
    path.write_text(f'[paths]\ncache_dir = "{tmp_path / "cache"}"\nresults_dir = "{tmp_path / "results"}"\n{SUITE}')
    return path


R = TypeVar("R")


class CalibrationStub:
    """Stands in for the calibration worker: 50 GFLOP/s per thread, and remembers every job."""

    def __init__(self) -> None:
        self.jobs: list[CalibrationJob] = []

    def launch(self, job: Job[R], timeout_s: float) -> WorkerOutcome[R]:
        asked = job  # narrowed apart from `job`, which gives the result its type
        assert isinstance(asked, CalibrationJob), job
        self.jobs.append(asked)
        size = SizeRun(n=256, repeats=4, windows_gflops=(50.0 * job.threads,), first_call_s=0.01, call_s=0.001,
                       time_s=0.1)  # fmt: skip
        kernels = (KernelRun(kernel="numpy-blas", library="stub", sizes=(size,)),)
        result = CalibrationResult(precisions=dict.fromkeys(asked.kernels, kernels), duration_s=0.1, cpu_wall_ratio=1.0,
                                   affinity=job.cpus, warnings=())  # fmt: skip
        return WorkerOutcome("ok", record=job.read_result(result.to_dict()))


class InterruptingLauncher(InProcessLauncher):
    """Runs `allowed` workers, then behaves as if the user pressed Ctrl-C; the workers of `crash` crash."""

    def __init__(self, allowed: int, crash: tuple[str, str, int] | None = None) -> None:
        super().__init__()
        self.allowed = allowed
        self.crash = crash

    def launch(self, job: Job[R], timeout_s: float) -> WorkerOutcome[R]:
        if len(self.jobs) >= self.allowed:
            raise KeyboardInterrupt
        if cell_of(job) == self.crash:
            self.jobs.append(job)
            return WorkerOutcome("failed", error="worker killed by signal SIGSEGV")
        return super().launch(job, timeout_s)


def run(
    config: Path,
    *args: str,
    launcher: Launcher | None = None,
    calibration: CalibrationStub | None = None,
) -> int:
    parsed = build_parser().parse_args(["--config", str(config), "run", *args])
    return run_run(
        parsed, launcher=launcher or InProcessLauncher(), calibration_launcher=calibration or CalibrationStub(),
        topology=TOPOLOGY,
    )  # fmt: skip


def cell_of(job: Job[Any]) -> tuple[str, str, int]:
    assert isinstance(job, WorkerJob), job
    return job.target.model_name, job.precision, job.threads


def cell_jobs(launcher: InProcessLauncher) -> list[WorkerJob]:
    return [job for job in launcher.jobs if isinstance(job, WorkerJob)]


def test_suite_runs_in_one_interleaved_schedule_with_calibrations(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "suite.json"
    launcher, calibration = InProcessLauncher(), CalibrationStub()
    code = run(config, "--suite", "s", "--output", str(out), "--commit", "none", launcher=launcher,
               calibration=calibration)  # fmt: skip
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["status"] == "complete"
    measured = [(c["model"], c["precision"], c["threads"]) for c in doc["cells"] if c["status"] == "ok"]
    assert measured == [
        ("efficientnet_b0:r=32", "fp32", 1),
        ("efficientnet_b0:r=32", "fp32", 2),
        ("efficientnet_b1:r=32", "fp32", 1),
        ("efficientnet_b1:r=32", "fp32", 2),
    ]
    # One schedule: the first round starts every measured cell once before any cell gets its second process.
    jobs = cell_jobs(launcher)
    first_round = [cell_of(job) for job in jobs[:4]]
    assert sorted(first_round) == sorted(measured) and len(set(first_round)) == 4
    assert all(job.process_index == 0 for job in jobs[:4])
    assert [job.process_index for job in jobs[4:8]] == [1, 1, 1, 1]
    assert {cell_of(j): j.cpus for j in jobs} == {
        (m, "fp32", t): (2,) if t == 1 else (2, 3) for m in ("efficientnet_b0:r=32", "efficientnet_b1:r=32")
        for t in (1, 2)
    }  # fmt: skip
    # bf16 cells: skipped with the reason, never launched.
    skipped = [c for c in doc["cells"] if c["status"] == "skipped"]
    assert len(skipped) == 4 and all(c["precision"] == "bf16" and c["error"] for c in skipped)
    assert all(c["processes"] == [] for c in skipped)
    # The suite as run, the preset, the command, the calibrations (fp32 only: no cell runs bf16).
    assert doc["suite"]["name"] == "s" and doc["suite"]["definition"]["threads"] == [1, 2]
    assert doc["suite"]["definition"]["models"] == ["efficientnet_b0:r=32", "efficientnet_b1:r=32"]
    assert doc["settings"]["preset"] == "fast" and doc["settings"]["threads"] == 2 and doc["settings"]["cpus"] == [2, 3]
    assert doc["effbench"]["command"][0] == "effbench"
    assert "commit_under_test" not in doc["effbench"] and "label" not in doc["effbench"]
    assert [(c["threads"], c["cpus"]) for c in doc["calibrations"]] == [(1, [2]), (2, [2, 3])]
    # Calibrated before the cells and again after them, per thread count; one record keeps both rounds.
    assert [job.cpus for job in calibration.jobs] == [(2,), (2, 3), (2,), (2, 3)]
    assert list(calibration.jobs[0].kernels) == ["fp32"]
    assert doc["calibrations"][1]["peaks"]["fp32"]["gflops"] == 100.0
    assert [r["when"] for r in doc["calibrations"][0]["rounds"]] == ["before the cells", "after the cells"]


def test_no_calibrate_leaves_calibrations_empty_and_label_commit_are_stored(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "suite.json"
    calibration = CalibrationStub()
    sha = "0123456789abcdef0123456789abcdef01234567"
    code = run(config, "--suite", "s", "--output", str(out), "--no-calibrate", "--label", "nightly", "--commit", sha,
               calibration=calibration)  # fmt: skip
    assert code == 0 and calibration.jobs == []
    doc = json.loads(out.read_text())
    assert "calibrations" not in doc
    assert doc["effbench"]["label"] == "nightly" and doc["effbench"]["commit_under_test"] == sha


def test_preset_option_replaces_the_suites_and_is_recorded(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "suite.json"
    assert run(config, "--suite", "s", "--output", str(out), "--no-calibrate", "--preset", "rigorous") == 0
    doc = json.loads(out.read_text())
    assert doc["settings"]["preset"] == "rigorous" and doc["settings"]["policy"]["name"] == "rigorous"
    assert doc["suite"]["definition"]["preset"] == "rigorous"  # what --resume re-expands


def test_default_output_is_under_the_machine_id_named_for_the_suite(config: Path, tmp_path: Path) -> None:
    assert run(config, "--suite", "s", "--no-calibrate") == 0
    (found,) = (tmp_path / "results").rglob("*.json")
    doc = json.loads(found.read_text())
    assert found.parent.name == doc["machine"]["id"] and found.name.startswith("s-")


def test_ctrl_c_keeps_finished_cells_and_resume_measures_only_the_rest(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "suite.json"
    # Fast preset: 2 interleaved rounds over the 4 measured cells. The first cell's worker crashes (the cell is
    # finished: failed), then Ctrl-C in the second round: 3 cells interrupted.
    crashed = ("efficientnet_b0:r=32", "fp32", 1)
    first = InterruptingLauncher(allowed=6, crash=crashed)
    assert run(config, "--suite", "s", "--output", str(out), launcher=first) == 130
    doc = json.loads(out.read_text())
    assert doc["status"] == "interrupted"
    status = Counter(c["status"] for c in doc["cells"])
    assert status == {"skipped": 4, "failed": 1, "interrupted": 3}
    finished = {(c["model"], c["precision"], c["threads"]): c for c in doc["cells"] if c["status"] != "interrupted"}
    run_id, calibrations = doc["effbench"]["run_id"], doc["calibrations"]

    again, calibration = InProcessLauncher(), CalibrationStub()
    assert run(config, "--resume", str(out), launcher=again, calibration=calibration) == 1  # the failed cell
    resumed = json.loads(out.read_text())
    assert resumed["status"] == "complete" and resumed["effbench"]["run_id"] == run_id
    assert resumed["calibrations"] == calibrations and calibration.jobs == []
    launched = Counter(cell_of(job) for job in again.jobs)
    interrupted = {(c["model"], c["precision"], c["threads"]) for c in doc["cells"] if c["status"] == "interrupted"}
    assert set(launched) == interrupted and crashed not in launched  # only the unfinished cells ran again
    assert all(n == 2 for n in launched.values())  # measured afresh: the fast preset's 2 processes each
    by_key = {(c["model"], c["precision"], c["threads"]): c for c in resumed["cells"]}
    statuses = Counter(c["status"] for c in resumed["cells"])
    assert len(resumed["cells"]) == 8 and statuses == {"ok": 3, "failed": 1, "skipped": 4}
    for key, cell in finished.items():
        assert by_key[key] == cell  # finished cells untouched
    assert [c["model"] for c in resumed["cells"]] == [c["model"] for c in doc["cells"]]  # matrix order kept
    assert any(w.startswith("resumed:") for w in resumed["warnings"])

    # Resuming a finished document measures nothing.
    idle = InProcessLauncher()
    assert run(config, "--resume", str(out), launcher=idle) == 0 and idle.jobs == []
    assert json.loads(out.read_text()) == resumed


def test_a_killed_run_resumes_the_cells_it_never_recorded(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "suite.json"
    assert run(config, "--suite", "s", "--output", str(out)) == 0
    doc = json.loads(out.read_text())
    doc["cells"] = doc["cells"][:3]  # as the file is when the run is killed after its third cell
    doc["status"] = "interrupted"
    out.write_text(json.dumps(doc))
    again = InProcessLauncher()
    assert run(config, "--resume", str(out), launcher=again) == 0
    models = {(j.target.model_name, j.threads) for j in cell_jobs(again)}
    assert models == {("efficientnet_b1:r=32", 1), ("efficientnet_b1:r=32", 2)}  # the first model's cells kept
    assert len(json.loads(out.read_text())["cells"]) == 8


def _error(cli: Cli, config: Path, *args: str) -> str:
    code, _, err = cli("--config", config, "run", *args)
    assert code == 2 and err.count("\n") == 1 and err.startswith("effbench: error: "), err
    return err


def test_resume_errors_are_one_line(capsys: pytest.CaptureFixture[str], cli: Cli, config: Path, tmp_path: Path) -> None:
    out = tmp_path / "suite.json"
    assert run(config, "--suite", "s", "--output", str(out), "--no-calibrate") == 0
    capsys.readouterr()
    doc = json.loads(out.read_text())

    other = tmp_path / "other-machine.json"
    other.write_text(json.dumps({**doc, "machine": {**doc["machine"], "id": "elsewhere-00000000"}}))
    assert "was measured on machine elsewhere-00000000" in _error(cli, config, "--resume", str(other))

    plain = tmp_path / "latency.json"
    plain.write_text(json.dumps({k: v for k, v in doc.items() if k != "suite"}))
    assert "is not a suite run" in _error(cli, config, "--resume", str(plain))

    assert "does not exist" in _error(cli, config, "--resume", str(tmp_path / "missing.json"))

    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({**doc, "format_version": 99}))
    assert "newer effbench" in _error(cli, config, "--resume", str(newer))

    assert "--label applies to a new run" in _error(cli, config, "--resume", str(out), "--label", "x")


def test_bundle_without_a_suite_model_exits_2(cli: Cli, config: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "index.json").write_text(json.dumps({"format": "effbench-bundle", "format_version": 1, "entries": []}))
    err = _error(cli, config, "--suite", "s", "--bundle", str(bundle))
    assert f"the bundle {bundle} has no efficientnet_b0:r=32" in err
    assert "not an effbench bundle" in _error(cli, config, "--suite", "s", "--bundle", str(tmp_path))


def test_unknown_suite_and_bad_commit(cli: Cli, config: Path) -> None:
    # (paper is shipped: a name no file defines is unknown)
    assert "unknown suite 'nope'" in _error(cli, config, "--suite", "nope")
    assert "--commit 'no-such-rev'" in _error(cli, config, "--suite", "s", "--commit", "no-such-rev")


def test_identity_resolution(tmp_path: Path) -> None:
    head = git_head(ROOT)
    if head is not None:
        assert resolve_identity(None, None, ROOT).commit == head
        assert resolve_identity("x", "HEAD", ROOT).commit == head
    assert resolve_identity(None, None, tmp_path).commit is None  # not a checkout
    assert resolve_identity("n", "none", ROOT).commit is None
    assert resolve_identity(None, "ABCDEF1", tmp_path).commit == "abcdef1"
    assert git_head(ROOT, "--all") is None


def test_latency_stores_label_and_commit(config: Path, tmp_path: Path) -> None:
    from bench.commands.latency import run_latency

    out = tmp_path / "run.json"
    args = ["--model", "b0:r=32", "--backend", "fake", "--fast", "--output", str(out), "--label", "pr-7"]
    parsed = build_parser().parse_args(["--config", str(config), "latency", *args, "--commit", "abc1234"])
    assert run_latency(parsed, launcher=InProcessLauncher()) == 0
    info = json.loads(out.read_text())["effbench"]
    assert info["label"] == "pr-7" and info["commit_under_test"] == "abc1234"


def test_eta_is_a_lower_bound_until_a_cell_finishes() -> None:
    eta = EtaEstimator(cells=3, min_processes=2)
    assert eta.estimate() == (None, True)
    for cell in range(3):
        eta.process_done(cell, 2.0)
    assert eta.estimate() == (6.0, True)  # 3 cells x 1 more process x 2 s
    for cell in range(3):
        eta.process_done(cell, 4.0)  # mean process: 3 s
    eta.process_done(0, 3.0)
    eta.cell_done(0)  # took 3 processes: the others are expected to as well
    assert eta.estimate() == (6.0, False)  # cells 1 and 2: one more each, 3 s
    assert format_eta(6.0, False) == "ETA 0:06" and format_eta(3725, True) == "ETA ≥ 1:02:05"


# ------------------------------------------------------------------------------- a machine without torch

# A `torch` package first on PYTHONPATH: any import of torch, in the CLI process or a worker, is logged and fails,
# as on a machine without torch. (sys.modules["torch"] = None would also block it, but libraries such as scipy read
# sys.modules["torch"] and trip over the None; a failed import leaves no entry, as on a machine without torch.)
TORCH_BLOCKER = """
import os, sys
with open(os.environ["EFFBENCH_TORCH_LOG"], "a") as log:
    log.write(" ".join(sys.argv) + "\\n")
raise ImportError("torch is blocked in this test: the run must not need it")
"""


@pytest.mark.torch
@pytest.mark.onnxruntime
def test_bundle_run_needs_no_torch(tmp_path: Path) -> None:
    """Export a tiny bundle (with torch), then run a suite from it with torch unimportable in the CLI process and
    in every worker: cells measured on ONNX Runtime, torch's cells skipped with the reason, torch never imported."""
    for module in ("torch", "onnx", "onnxruntime"):
        pytest.importorskip(module)
    bundle = tmp_path / "bundle"
    exported = subprocess.run(
        [sys.executable, "-m", "bench", "export", "--model", "b0:r=32", "--format", "onnx", "--cache-dir",
         str(tmp_path / "cache"), "--bundle", str(bundle), "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    blocker, log = tmp_path / "no-torch", tmp_path / "torch-imports.log"
    (blocker / "torch").mkdir(parents=True)
    (blocker / "torch" / "__init__.py").write_text(TORCH_BLOCKER)
    config = tmp_path / "bench.toml"
    config.write_text(
        f'[paths]\ncache_dir = "{tmp_path / "empty-cache"}"\nresults_dir = "{tmp_path / "results"}"\n'
        '[suite.tiny]\nmodels = ["b0:r=32"]\nbackends = ["onnxruntime", "torch"]\npreset = "fast"\n'
    )
    out = tmp_path / "tiny.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), str(ROOT)]), "EFFBENCH_TORCH_LOG": str(log)}
    proof = "import importlib.util; print(importlib.util.find_spec('torch').origin)"
    found = subprocess.run([sys.executable, "-c", proof], env=env, capture_output=True, text=True, timeout=60)
    assert found.stdout.strip() == str(blocker / "torch" / "__init__.py")  # the blocker is what `import torch` finds
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--config", str(config), "run", "--suite", "tiny", "--bundle", str(bundle),
         "--output", str(out), "--no-calibrate", "--commit", "none"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not log.exists(), log.read_text()  # no process tried to import torch
    doc = json.loads(out.read_text())
    ort, torch_cell = doc["cells"]
    assert ort["backend"] == "onnxruntime" and ort["status"] == "ok" and len(ort["processes"]) >= 2
    assert ort["artifact"]["root"] == "bundle" and (bundle / ort["artifact"]["path"]).is_file()  # no local path
    assert all(p["torch_imported"] is False and p["samples_ns"] for p in ort["processes"])
    assert all(p["runtimes_loaded"] == ["onnxruntime"] for p in ort["processes"])
    assert torch_cell["backend"] == "torch" and torch_cell["status"] == "skipped" and "bundle" in torch_cell["error"]
    assert doc["suite"]["bundle_root"] == "result folder"
    assert (out.parent / doc["suite"]["bundle"]).resolve() == bundle.resolve()
    assert not (tmp_path / "empty-cache").exists()  # nothing exported


def test_cpus_per_thread_count_come_from_one_pool() -> None:
    from bench.errors import EffbenchError
    from bench.suite.run import cpus_by_threads

    assert cpus_by_threads([1, 2], None, TOPOLOGY) == {1: (2,), 2: (2, 3)}  # CPU 0 kept out by default
    assert cpus_by_threads([1, 2], "0-3", TOPOLOGY) == {1: (0,), 2: (0, 1)}  # a longer pool: its first CPUs
    assert cpus_by_threads([1], (3,), TOPOLOGY) == {1: (3,)}  # the suite's cpus
    with pytest.raises(EffbenchError, match=r"names 1 CPU.* but the suite runs 2 threads"):
        cpus_by_threads([1, 2], "1", TOPOLOGY)


def test_config_is_accepted_before_and_after_run(config: Path) -> None:
    parser = build_parser()
    assert parser.parse_args(["run", "--suite", "s", "--config", str(config)]).config == str(config)
    assert parser.parse_args(["--config", str(config), "run", "--suite", "s"]).config == str(config)
    assert parser.parse_args(["run", "--suite", "s"]).config is None


def test_a_project_suite_named_like_a_shipped_one_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """bench.toml's [suite.quick] replaces the shipped quick suite for this project; the run says so on stderr and
    records the project's definition (the file it came from, no 'shipped' mark)."""
    path = tmp_path / "bench.toml"
    path.write_text(f'[paths]\ncache_dir = "{tmp_path / "cache"}"\n{SUITE.replace("[suite.s]", "[suite.quick]")}')
    out = tmp_path / "quick.json"
    assert run(path, "--suite", "quick", "--output", str(out), "--no-calibrate") == 0
    err = capsys.readouterr().err
    assert f"note: suite 'quick' is {path}'s own, not the one effbench ships ('effbench suites')" in err
    definition = json.loads(out.read_text())["suite"]["definition"]
    assert definition["backends"] == ["fake"] and definition["source"] == "bench.toml" and "shipped" not in definition
