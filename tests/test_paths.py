"""Published documents hold no local path: artifacts are recorded relative to the cache, bundle or folder they were
found in, a suite's bundle relative to the result file's folder, the interpreter by its name; old documents with
absolute paths still load and resume."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.cli import build_parser, main
from bench.commands.latency import run_latency
from bench.document import BUNDLE_ROOT, CACHE_ROOT, FOLDER_ROOT, RESULT_FOLDER, SuiteRecord
from bench.engine.launchers import InProcessLauncher
from bench.export.bundle import BUNDLE_INDEX_NAME, artifact_location
from bench.machine import collect_machine_metadata
from bench.results import load_result, write_result

ROOT = Path(__file__).resolve().parent.parent
QUICK = ROOT / "results" / "amd-epyc-cbe573dd" / "quick-20261127T003912Z.json"


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_a_new_latency_document_holds_no_absolute_local_path(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("torch", "onnx", "onnxruntime"):
        pytest.importorskip(module)
    cache = tmp_path_factory.getbasetemp() / "effbench-cache"  # shared with the other tests that export b0:r=32
    (tmp_path / "bench.toml").write_text(f'[paths]\ncache_dir = "{cache}"\nresults_dir = "{tmp_path / "results"}"\n')
    monkeypatch.chdir(tmp_path)
    argv = ["--config", "bench.toml", "latency", "--model", "b0:r=32", "--backend", "onnxruntime", "--fast",
            "--processes", "1", "--output", "run.json"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["effbench", *argv])  # the command the document records, as typed
    assert run_latency(build_parser().parse_args(argv), launcher=InProcessLauncher()) == 0
    text = (tmp_path / "run.json").read_text()
    raw = json.loads(text)
    local = [s for s in _strings(raw) if os.path.isabs(s) or str(tmp_path) in s or str(Path.home()) in s]
    assert local == []
    (cell,) = raw["cells"]
    assert cell["artifact"]["root"] == CACHE_ROOT and (cache / cell["artifact"]["path"]).is_file()
    assert raw["machine"]["python"]["executable"] == Path(sys.executable).name


def test_an_artifact_is_recorded_relative_to_its_cache_bundle_or_folder(tmp_path: Path) -> None:
    cache, bundle, mine = tmp_path / "cache", tmp_path / "bundle", tmp_path / "mine"
    for holder in (cache, bundle, mine):
        (holder / "b0-0123456789abcdef").mkdir(parents=True)
    (bundle / BUNDLE_INDEX_NAME).write_text("{}")
    file = "b0-0123456789abcdef/model.onnx"
    assert artifact_location(cache / file, cache) == (CACHE_ROOT, file)
    assert artifact_location(bundle / file, cache) == (BUNDLE_ROOT, file)
    assert artifact_location(mine / file, cache) == (FOLDER_ROOT, file)


def test_old_documents_keep_their_absolute_paths_as_they_are() -> None:
    doc = load_result(QUICK)
    assert doc.suite is not None and doc.suite.bundle == "/tmp/demo/bundle" and doc.suite.bundle_root is None
    artifact = doc.cells[0].artifact
    assert artifact is not None and artifact.path.startswith("/tmp/demo/bundle/") and artifact.root is None
    assert "root" not in artifact.to_dict() and "bundle_root" not in doc.suite.to_dict()


def test_resume_finds_a_suites_bundle_beside_the_document_not_beside_the_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old = load_result(QUICK)
    machine = collect_machine_metadata()
    assert old.suite is not None
    suite = SuiteRecord(name="quick", definition=old.suite.definition, bundle="../bundle", bundle_root=RESULT_FOLDER)
    doc = replace(old, machine=replace(old.machine, data=machine), suite=suite, status="interrupted", cells=())
    path = write_result(doc, tmp_path / "results" / "quick.json", tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = tmp_path / "bench.toml"
    config.write_text(f'[paths]\ncache_dir = "{tmp_path / "cache"}"\nresults_dir = "{tmp_path / "results"}"\n')
    code = main(["--config", str(config), "run", "--resume", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and f"--bundle {path.parent / '../bundle'} is not a folder" in err, err


def test_a_suite_definition_keeps_no_local_path_and_resolves_back(tmp_path: Path) -> None:
    from bench.document import SuiteRecord

    results = tmp_path / "results" / "machine"
    definition = {
        "name": "mine",
        "models": ["efficientnet_b0", str(tmp_path / "models" / "net.onnx")],
        "source": str(tmp_path / "bench.toml"),
        "output": str(tmp_path / "results"),
        "threads": [1],
    }
    placed = SuiteRecord(name="mine", definition=definition).placed_in(results)
    text = str(placed.to_dict())
    assert str(tmp_path) not in text and placed.definition_root == "result folder"
    assert placed.definition["models"] == ["efficientnet_b0", "../../models/net.onnx"]
    back = placed.resolved_definition(results)
    assert [Path(m).resolve() if m.endswith(".onnx") else m for m in back["models"]] == [
        "efficientnet_b0",
        (tmp_path / "models" / "net.onnx").resolve(),
    ]
    assert Path(back["source"]).resolve() == (tmp_path / "bench.toml").resolve()
    # a document written before definition_root keeps its absolute paths as they are
    assert SuiteRecord(name="mine", definition=definition).resolved_definition(results) == definition
