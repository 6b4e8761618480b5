"""bench.document: typed records that keep what they do not know and write a document back byte for byte (every
committed document is read and written back in tests/test_formats.py)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.backends.base import LoadTarget
from bench.calibration import PeakCalibration, PrecisionPeak
from bench.document import (
    FORMAT_VERSION,
    CellRecord,
    DocumentError,
    ProcessRecord,
    ResultDocument,
    Settings,
    SuiteRecord,
    read_run_id,
)
from bench.engine.job import WorkerJob
from bench.engine.policy import PRESETS, ProcessStopRule
from bench.errors import EffbenchError
from bench.results import document_text, load_result, write_result

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "format1-result.json"


def test_format2_keys_are_written_only_when_used_and_read_back(tmp_path: Path) -> None:
    doc = load_result(FIXTURE)
    assert "label" not in doc.effbench.to_dict() and "arm" not in doc.cells[0].to_dict()
    assert "suite" not in doc.to_dict() and "calibrations" not in doc.to_dict()
    used = replace(
        doc,
        effbench=replace(doc.effbench, label="nightly", commit_under_test="abc123"),
        cells=(replace(doc.cells[0], arm="base"),),
        suite=SuiteRecord(name="quick", definition={"models": ["b0"]}),
        calibrations=(PeakCalibration(cpus=(1,), threads=1, peaks=(PrecisionPeak(precision="fp32", gflops=200.0),)),),
    )
    path = write_result(used, tmp_path / "v2.json", tmp_path)
    back = load_result(path)
    assert back.format_version == FORMAT_VERSION == 2
    assert (back.effbench.label, back.effbench.commit_under_test) == ("nightly", "abc123")
    assert back.cells[0].arm == "base" and back.suite == SuiteRecord(name="quick", definition={"models": ["b0"]})
    calibration = back.calibration_for(1)
    assert calibration is not None and calibration.gflops("fp32") == 200.0 and calibration.peaks[0].status == "measured"
    assert json.loads(path.read_text())["calibrations"][0]["peaks"]["fp32"]["status"] == "measured"
    assert back.calibration_for(2) is None
    assert document_text(back) == path.read_text(encoding="utf-8")


def test_calibrations_and_suite_are_typed_and_keep_unknown_keys(tmp_path: Path) -> None:
    source = ROOT / "results" / "amd-epyc-cbe573dd" / "paper-20261127T021740Z.json"
    raw = _raw(source)
    raw["suite"]["from_the_future"] = 1
    raw["calibrations"][0]["numa_node"] = 0
    raw["calibrations"][0]["peaks"]["fp32"]["turbo"] = "on"
    raw["calibrations"][0]["peaks"]["fp32"]["kernels"][0]["sizes"][0]["cache_misses"] = 12
    raw["calibrations"][0]["rounds"][0]["cpu_mhz"] = 2600
    path = tmp_path / "future.json"
    path.write_text(json.dumps(raw, indent=1) + "\n")
    doc = load_result(path)
    assert doc.suite is not None and doc.suite.name == "paper" and doc.suite.extra == {"from_the_future": 1}
    assert doc.suite.definition["models"] == raw["suite"]["definition"]["models"]
    calibration = doc.calibration_for(1)
    assert calibration is not None and calibration.extra == {"numa_node": 0} and calibration.cpus == (1,)
    fp32 = calibration.peak("fp32")
    assert fp32 is not None and fp32.extra == {"turbo": "on"} and fp32.status == "measured"  # status: derived
    assert fp32.gflops == raw["calibrations"][0]["peaks"]["fp32"]["gflops"]
    assert fp32.kernels[0].sizes[0].extra == {"cache_misses": 12}
    assert [r.when for r in calibration.rounds] == ["before the cells", "after the cells"]
    assert calibration.rounds[0].extra == {"cpu_mhz": 2600}
    assert json.loads(document_text(doc)) == raw


def test_a_version_1_calibration_keeps_its_stamp_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    source = ROOT / "results" / "amd-epyc-cbe573dd" / "paper-20261127T000540Z.json"
    doc = load_result(source)
    assert [c.version for c in doc.calibrations] == [1] and doc.calibrations[0].rounds == ()
    raw = _raw(source)
    raw["calibrations"][0]["version"] = 3
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(raw))
    with pytest.raises(EffbenchError, match=r"calibrations\[0\] was written by a newer effbench \(peak calibration "
                       r"version 3 > 2\): upgrade effbench$"):  # fmt: skip
        load_result(newer)


def test_format1_fixture_loads_typed() -> None:
    # This file must load forever: a new format version adds an upgrade, it never drops format 1.
    doc = load_result(FIXTURE)
    assert doc.format_version == FORMAT_VERSION and doc.status == "complete"  # upgraded on loading
    assert doc.machine.id == "intel-xeon-bf96a8ca" and doc.machine.cpu_brand
    assert "avx2" in doc.machine.cpu_flags
    assert doc.settings.precision == "bf16" and doc.settings.cpus == (1,) and doc.settings.backends == ("openvino",)
    assert doc.effbench.command[:2] == ("effbench", "latency") and doc.effbench.run_id == read_run_id(
        FIXTURE.read_text()
    )
    cell = doc.cells[0]
    assert (cell.model, cell.backend, cell.status) == ("efficientnet_b1", "openvino", "ok")
    assert cell.artifact is not None and cell.artifact.format == "openvino"
    assert cell.summary is not None and cell.summary.n == sum(len(p.samples_ns) for p in cell.processes)
    assert cell.summary.median_ci95_ms is not None and len(cell.summary.median_ci95_ms) == 2
    process = cell.processes[0]
    assert process.cold_start is not None and process.cold_start.load_s > 0
    assert process.compute_precisions == {"f32": 69, "bf16": 164}


def test_the_oldest_committed_document_keeps_its_missing_keys_missing() -> None:
    # Written before settings had weights/input_shape: they read as None and are not added on writing.
    path = ROOT / "results" / "intel-xeon-bf96a8ca" / "20261126T065235Z.json"
    doc = load_result(path)
    assert doc.settings.weights is None and doc.settings.input_shape is None
    assert "weights" not in doc.settings.to_dict()
    # Given a value, the key is written.
    assert replace(doc.settings, weights="w.pt").to_dict()["weights"] == "w.pt"


def _raw(path: Path = FIXTURE) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return raw


def test_unknown_keys_survive_a_round_trip(tmp_path: Path) -> None:
    raw = _raw()
    raw["from_the_future"] = {"a": 1}
    raw["cells"][0]["new_cell_fact"] = [1, 2]
    raw["cells"][0]["processes"][0]["cold_start"]["jit_s"] = 0.5
    raw["settings"]["affinity_mode"] = "strict"
    source = tmp_path / "future.json"
    source.write_text(json.dumps(raw, indent=1) + "\n")
    doc = load_result(source)
    assert doc.extra == {"from_the_future": {"a": 1}}
    assert doc.cells[0].extra == {"new_cell_fact": [1, 2]}
    assert doc.settings.extra == {"affinity_mode": "strict"}
    assert json.loads(document_text(doc)) == {**raw, "format_version": FORMAT_VERSION}  # format 1 upgraded


def test_key_order_of_a_loaded_record_is_kept() -> None:
    raw = _raw()["cells"][0]
    reordered = {key: raw[key] for key in reversed(list(raw))}
    assert list(CellRecord.from_dict(reordered).to_dict()) == list(reordered)


def test_records_are_frozen() -> None:
    doc = load_result(FIXTURE)
    with pytest.raises(AttributeError):
        doc.status = "complete"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: raw["cells"].append(3), r"document\.cells\[2\] is not an object"),
        (lambda raw: raw["cells"][0].pop("backend"), r"document\.cells\[0\]: 'backend' is missing"),
        (
            lambda raw: raw["cells"][1].update(processes={}),
            r"document\.cells\[1\] \(\S+ · \S+\)\.processes is not a list",
        ),
        (lambda raw: raw.pop("created"), r"document: 'created' is missing"),
        (lambda raw: raw["effbench"].pop("version"), r"document\.effbench: 'version' is missing"),
    ],
)
def test_malformed_records_are_one_line_user_errors(tmp_path: Path, mutate: Any, message: str) -> None:
    raw = _raw()
    mutate(raw)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(EffbenchError, match=message) as info:
        load_result(path)
    text = str(info.value)
    assert text.startswith(f"{path} is not a valid effbench result: ") and text.endswith("; re-run the measurement")
    assert "\n" not in text


def test_a_written_document_reads_back_equal(tmp_path: Path) -> None:
    doc = load_result(FIXTURE)
    built = ResultDocument(
        created=doc.created,
        effbench=doc.effbench,
        machine=doc.machine,
        settings=Settings(threads=1, cpus=(1,), precision="fp32"),
        cells=doc.cells[:1],
    )
    path = write_result(built, tmp_path / "r.json", tmp_path)
    assert load_result(path) == built


def _job() -> WorkerJob:
    target = LoadTarget(model_name="m", files={"onnx": "/m.onnx"}, input_shape=(1, 3, 8, 8), options={"x": 1})
    return WorkerJob(
        backend="fake",
        target=target,
        threads=2,
        cpus=(0, 1),
        precision="fp32",
        policy=PRESETS["fast"],
        stop=ProcessStopRule(min_samples=10, min_s=1.0, max_s=5.0),
        process_index=3,
        cell="m · fake · fp32",
        result_path="/tmp/r.json",
    )


def test_worker_job_survives_json() -> None:
    job = _job()
    back = WorkerJob.from_dict(json.loads(json.dumps(job.to_dict())))
    assert back == job and back.target.input_shape == (1, 3, 8, 8)


def test_a_worker_record_reads_back_through_its_job() -> None:
    record = ProcessRecord(process_index=1, samples_ns=(5, 6), warnings=("w",))
    job = WorkerJob.from_dict(json.loads(json.dumps(_job().to_dict())))
    assert job.read_result(json.loads(json.dumps(record.to_dict()))) == record
    with pytest.raises(DocumentError, match="'samples_ns' is missing"):
        job.read_result({"ok": True})


def test_read_run_id() -> None:
    assert read_run_id('{"effbench": {"run_id": "' + "a" * 32 + '"}}') == "a" * 32
    assert read_run_id('{"effbench": {"run_id": "short"}}') == "short"  # not the usual form: parsed
    assert read_run_id("not json") is None and read_run_id('{"effbench": {}}') is None


# ------------------------------------------------------------------------------- a damaged document, everywhere

SUITE_DOCUMENT = ROOT / "results" / "amd-epyc-cbe573dd" / "quick-20261127T003912Z.json"


def _damaged(tmp_path: Path, where: str, value: Any) -> Path:
    raw = _raw(SUITE_DOCUMENT)
    cell = raw["cells"][1]
    if where == "samples":
        cell["processes"][1]["samples_ns"] = value
    else:
        cell["summary"][where] = value
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    return path


def _commands(path: Path, tmp_path: Path) -> dict[str, list[str]]:
    config = tmp_path / "bench.toml"
    config.write_text(f'[paths]\ncache_dir = "{tmp_path / "cache"}"\nresults_dir = "{tmp_path / "results"}"\n')
    return {
        "compare": ["compare", str(SUITE_DOCUMENT), str(path)],
        "report": ["report", str(path)],
        "history index": ["history", "index", str(path), "--db", str(tmp_path / "h.sqlite")],
        "run --resume": ["--config", str(config), "run", "--resume", str(path)],
    }


@pytest.mark.parametrize(
    ("where", "value", "shown"),
    [
        ("samples", ["x", None], r"processes\[1\]\.samples_ns\[0\] is 'x', expected an integer >= 0"),
        ("samples", [812000, None], r"processes\[1\]\.samples_ns\[1\] is None, expected an integer >= 0"),
        ("samples", [True, 3], r"samples_ns\[0\] is True, expected an integer >= 0"),
        ("samples", [-5, 3], r"samples_ns\[0\] is -5, expected an integer >= 0"),
        ("samples", "fast", r"samples_ns is 'fast', expected a list of numbers"),
        ("median_ms", "fast", r"summary\.median_ms is 'fast', expected a number >= 0 or null"),
        ("median_ci95_ms", [1.0], r"summary\.median_ci95_ms is \[1\.0\], expected a list of 2 numbers"),
    ],
)
def test_a_damaged_document_is_one_line_and_exit_2_in_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, value: Any, shown: str
) -> None:
    from bench.cli import main

    path = _damaged(tmp_path, where, value)
    for command, argv in _commands(path, tmp_path).items():
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (command, err)
        # the file, the cell (its index, model and backend) and the bad value
        pattern = rf"^effbench: error: {path} is not a valid effbench result: document\.cells\[1\] \(efficientnet_b0 · "
        assert re.match(pattern + r"onnxruntime\)\.", err), (command, err)
        assert re.search(shown, err), (command, err)
