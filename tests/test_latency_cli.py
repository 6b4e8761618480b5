"""`effbench latency` end to end with real runtimes on a tiny model, and every bad input it refuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import bench.backends
from bench.cli import build_parser
from bench.commands.latency import run_latency
from bench.config import load_config
from bench.engine.job import Job
from bench.engine.launchers import InProcessLauncher, Launcher, WorkerOutcome
from bench.engine.plan import choose_backends, plan_cells, resolve_settings

if TYPE_CHECKING:
    from conftest import Cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def config(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The model cache is shared with test_backends.py (same session base folder): b0:r=32 is exported once.
    cache = tmp_path_factory.getbasetemp() / "effbench-cache"
    path = tmp_path / "bench.toml"
    path.write_text(f'[paths]\ncache_dir = "{cache}"\nresults_dir = "{tmp_path / "results"}"\n')
    return path


@pytest.mark.onnxruntime
@pytest.mark.openvino
@pytest.mark.torch
def test_latency_end_to_end_json(config: Path, tmp_path: Path) -> None:
    for module in ("torch", "onnxruntime", "openvino", "onnx"):
        pytest.importorskip(module)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--config",
            str(config),
            "latency",
            "--model",
            "b0:r=32",
            "--fast",
            "--processes",
            "1",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    cells = json.loads(out.stdout)  # stdout holds only the JSON summary
    assert [c["backend"] for c in cells] == ["torch", "onnxruntime", "openvino"]
    cpu = max(os.sched_getaffinity(0)) if len(os.sched_getaffinity(0)) > 1 else min(os.sched_getaffinity(0))
    for cell in cells:
        assert cell["model"] == "efficientnet_b0:r=32"
        assert cell["status"] == "ok" and cell["precision"] == "fp32" and cell["effective_precision"] == "fp32"
        assert cell["threads"] == 1 and cell["cpus"] == [cpu]
        assert 0 < cell["median_ms"] <= cell["p90_ms"] <= cell["p99_ms"]
        assert cell["n"] >= 64 and cell["processes"] == 1
    assert "results written to" in out.stderr
    files = list((tmp_path / "results").rglob("*.json"))
    assert len(files) == 1
    doc = json.loads(files[0].read_text())
    assert doc["status"] == "complete" and len(doc["cells"]) == 3
    assert doc["settings"]["preset"] == "fast" and doc["settings"]["cpus"] == [cpu]
    assert all(len(c["processes"]) == 1 and c["processes"][0]["samples_ns"] for c in doc["cells"])
    assert doc["cells"][1]["artifact"]["format"] == "onnx" and doc["cells"][1]["fingerprint"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "tensorflow"], "unknown backend 'tensorflow'; known backends: torch, onnxruntime, openvino"),
        (["--threads", "64"], "--threads 64: this process may use"),
        (["--threads", "0"], "--threads 0: must be at least 1"),
        (["--cpus", "77"], "--cpus: CPU 77 does not exist"),
        (["--cpus", "1-x"], "--cpus '1-x': invalid CPU list item"),
        (["--processes", "0"], "--processes 0: must be at least 1"),
        (["--model", "b9"], "unknown model 'b9'"),
        (["--weights", "/nonexistent/w.pt"], "weights file /nonexistent/w.pt does not exist"),
        (["--input-shape", "1,x,3"], "--input-shape"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli: Cli, config: Path, args: list[str], message: str) -> None:
    model = [] if "--model" in args else ["--model", "b0:r=32"]
    code, out, err = cli("--config", config, "latency", *model, *args)
    assert out == ""
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("effbench: error: ")
    assert message in err


def test_cpus_not_matching_threads(cli: Cli, config: Path) -> None:
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        pytest.skip("needs two allowed CPUs")
    code, out, err = cli("--config", config, "latency", "--model", "b0:r=32", "--cpus", f"{allowed[0]},{allowed[1]}")
    assert out == ""
    assert code == 2 and "names 2 CPU(s) but --threads is 1" in err and err.count("\n") == 1


def test_named_backend_not_installed(cli: Cli, config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench.backends, "is_installed", lambda name: name != "openvino")
    code, out, err = cli("--config", config, "latency", "--model", "b0:r=32", "--backend", "onnxruntime,openvino")
    assert out == ""
    assert code == 2
    assert (
        err == "effbench: error: backend 'openvino' is not installed: pip install 'effbench[openvino]', or "
        "drop it from --backend\n"
    )


def test_missing_backend_is_skipped_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench.backends, "is_installed", lambda name: name != "torch")
    notes: list[str] = []
    assert choose_backends(None, notes) == ["onnxruntime", "openvino"]
    assert notes == ["backend torch is not installed, skipped (pip install 'effbench[torch]')"]
    assert choose_backends(["ov", "openvino", "ort"], []) == ["openvino", "onnxruntime"]


@pytest.mark.parametrize(
    ("content", "message"), [(b"garbage", "is not a readable ONNX model"), (b"\x08\x07\x12\x03abc\xff", "ONNX")]
)
def test_corrupt_model_file(cli: Cli, config: Path, tmp_path: Path, content: bytes, message: str) -> None:
    pytest.importorskip("onnx")
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(content)
    code, out, err = cli("--config", config, "latency", "--model", str(bad), "--backend", "onnxruntime")
    assert out == ""
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("effbench: error:")]
    assert len(lines) == 1 and message in lines[0] and str(bad) in lines[0]


def test_ir_file_cannot_run_on_onnxruntime(cli: Cli, config: Path, tmp_path: Path) -> None:
    ir = tmp_path / "model.xml"
    ir.write_text("<net/>")
    code, out, err = cli("--config", config, "latency", "--model", str(ir), "--backend", "onnxruntime")
    assert out == ""
    assert code == 2 and "none of the backends onnxruntime can run this file" in err


def test_unknown_precision_is_one_line_and_exit_2(cli: Cli, config: Path) -> None:
    code, _, err = cli("--config", config, "latency", "--model", "b0", "--precision", "int8,fp16")
    assert code == 2
    assert "precision fp16 is not one of fp32, bf16, int8" in err and len(err.strip().splitlines()) == 1


class InterruptingLauncher(InProcessLauncher):
    """Runs the first worker, then behaves as if the user pressed Ctrl-C."""

    def launch(self, job: Job[Any], timeout_s: float) -> WorkerOutcome[Any]:
        if self.jobs:
            raise KeyboardInterrupt
        return super().launch(job, timeout_s)


class FailingLauncher(InProcessLauncher):
    def launch(self, job: Job[Any], timeout_s: float) -> WorkerOutcome[Any]:
        return WorkerOutcome("failed", error="worker killed by signal SIGSEGV", stderr_tail="Segmentation fault")


def run_with_launcher(config: Path, launcher: Launcher, *args: str) -> int:
    """`effbench latency ARGS` with the given launcher instead of real worker processes."""
    parsed = build_parser().parse_args(["--config", str(config), "latency", *args])
    return run_latency(parsed, launcher=launcher)


def test_ctrl_c_writes_what_was_measured_and_exits_130(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run.json"
    launcher = InterruptingLauncher()
    code = run_with_launcher(
        config, launcher, "--model", "b0:r=32", "--backend", "fake", "--fast", "--output", str(out)
    )
    assert len(launcher.jobs) == 1  # the second worker was "interrupted" before it started
    captured = capsys.readouterr()
    assert code == 130
    assert "interrupted: the finished cells are in the result file" in captured.err
    doc = json.loads(out.read_text())
    assert doc["status"] == "interrupted"
    (cell,) = doc["cells"]
    assert cell["status"] == "interrupted" and len(cell["processes"]) == 1
    assert cell["summary"]["n"] == len(cell["processes"][0]["samples_ns"]) > 0


def test_failed_cell_exits_1(capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    args = ("--model", "b0:r=32", "--backend", "fake", "--fast", "--json", "--output", str(out))
    code = run_with_launcher(config, FailingLauncher(), *args)
    captured = capsys.readouterr()
    assert code == 1
    (summary,) = json.loads(captured.out)
    assert summary["status"] == "failed" and summary["median_ms"] is None and summary["n"] == 0
    assert "process 1 failed: worker killed by signal SIGSEGV: Segmentation fault" in summary["error"]
    assert json.loads(out.read_text())["status"] == "complete"


def test_weights_reach_the_torch_worker_and_the_document(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench.backends, "is_installed", lambda name: True)  # torch need not be installed
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"checked by the torch worker, not here")
    settings = resolve_settings(
        load_config(config), models=["b0:r=32"], backends="torch", seed=3, weights=str(weights),
        cache_dir=tmp_path / "cache",
    )  # fmt: skip
    recorded = settings.document_settings()
    assert recorded.weights == str(weights) and recorded.seed == 3 and recorded.backends == ("torch",)
    plans = plan_cells(settings)
    assert [p.backend for p in plans] == ["torch"]
    assert plans[0].target.weights == str(weights) and plans[0].target.seed == 3
    assert not (tmp_path / "cache").exists()  # torch alone needs no export


def test_command_line_wins_over_bench_toml_and_toml_over_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench.backends, "is_installed", lambda name: True)
    cpu = min(os.sched_getaffinity(0))
    toml = tmp_path / "bench.toml"
    toml.write_text(
        f'[paths]\ncache_dir = "c"\nresults_dir = "r"\n[latency]\nprecision = "bf16"\npreset = "fast"\n'
        f'backends = ["onnxruntime"]\ncpus = [{cpu}]\n'
    )
    config = load_config(toml)
    from_toml = resolve_settings(config, models=["b1"])
    assert (from_toml.precision, from_toml.preset, from_toml.backends) == ("bf16", "fast", ("onnxruntime",))
    assert from_toml.cpus == (cpu,) and from_toml.threads == 1 and from_toml.seed == 0
    assert from_toml.cache_dir == tmp_path / "c" and from_toml.results_dir == tmp_path / "r"
    assert from_toml.output is None and from_toml.weights is None and from_toml.input_shape is None
    from_cli = resolve_settings(
        config, models=["b1", "b2"], backends=["ov", "torch"], precision="fp32", preset="rigorous", processes=2,
        seed=7, input_shape="1,3,64,64", cache_dir="elsewhere", output=tmp_path / "o.json",
    )  # fmt: skip
    assert (from_cli.precision, from_cli.preset, from_cli.backends) == ("fp32", "rigorous", ("openvino", "torch"))
    assert from_cli.policy.min_processes == from_cli.policy.max_processes == 2
    assert from_cli.models == ("b1", "b2") and from_cli.seed == 7 and from_cli.input_shape == (1, 3, 64, 64)
    assert from_cli.cache_dir == Path("elsewhere") and from_cli.output == tmp_path / "o.json"
    recorded = from_cli.document_settings().to_dict()
    assert recorded["preset"] == "rigorous" and recorded["policy"]["max_processes"] == 2
    assert recorded["input_shape"] == [1, 3, 64, 64] and recorded["models"] == ["b1", "b2"]
