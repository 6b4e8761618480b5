"""Synthetic result documents for the history's tests, its detection simulation and its indexing benchmark.

One real document is measured with the fake backend (bench.backends.fake, in process, on its fake clock: about
a second, once); a series is made from copies of it with every sample scaled by the run's factor, so each copy
is a valid document (bench.results.load_result reads it) whose cell median is the template's times the factor.
"""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import hashlib
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import __version__

SYNTHETIC_MACHINE_ID = "synthetic-cpu-00000000"
START = _dt.datetime(2026, 1, 1, tzinfo=_dt.UTC)


def synthetic_machine(machine_id: str = SYNTHETIC_MACHINE_ID) -> dict[str, Any]:
    """Machine metadata as collect_machine_metadata writes it, with fixed values (no probing of this host)."""
    return {
        "id": machine_id,
        "hostname": "synthetic",
        "cpu": {"brand": "Synthetic CPU", "arch": "x86_64", "flags": []},
        "cores": {"logical": 2, "physical": 2},
        "kernel": "6.0.0-synthetic",
        "os": {"system": "Linux", "name": "Synthetic Linux"},
        "python": {"implementation": "CPython", "version": "3.11.7"},
        "governor": "performance",
        "boost": "off",
        "isolated_cpus": [],
        "cgroup_cpu_quota": "unlimited",
        "aslr": "full",
        "runtimes": {"fake": "1.0", "numpy": "2.0.0"},
        "effbench": {"version": __version__, "git_commit": "0" * 40, "git_dirty": False},
    }


@functools.lru_cache(maxsize=8)
def _template_text(model: str, base_ms: float, noise: float, seed: int) -> str:
    from bench.backends.base import LoadTarget
    from bench.document import Settings
    from bench.engine.launchers import InProcessLauncher
    from bench.engine.policy import MeasurePolicy
    from bench.engine.runner import CellPlan, Runner
    from bench.results import new_document

    policy = MeasurePolicy(
        name="synthetic",
        min_processes=3,
        max_processes=3,
        warmup_window_s=0.05,
        warmup_min_s=0.05,
        warmup_max_s=1.0,
        process_min_s=0.3,
        process_max_s=5.0,
        target_ci_rel=0.5,
        cell_max_s=60.0,
    )
    target = LoadTarget(model_name=model, input_shape=(1, 3, 4, 4), options={"base_ms": base_ms, "noise": noise,
                                                                              "seed": seed})  # fmt: skip
    plan = CellPlan(model, "fake", "fp32", 1, (0,), target, fingerprint=hashlib.sha256(model.encode()).hexdigest())
    outcome = Runner(policy, InProcessLauncher(), total_min_samples=0).run([plan])
    settings = Settings(threads=1, cpus=(0,), precision="fp32", preset=policy.name, policy=policy.to_dict(),
                        backends=("fake",), models=(model,), seed=seed)  # fmt: skip
    doc = new_document(synthetic_machine(), settings, ["effbench", "latency", "--model", model, "--backend", "fake"])
    run_id = hashlib.sha256(f"template {model} {base_ms} {noise} {seed}".encode()).hexdigest()[:32]
    doc = replace(doc, cells=tuple(cell.record() for cell in outcome.cells), status="complete",
                  effbench=replace(doc.effbench, run_id=run_id))  # fmt: skip
    return json.dumps(doc.to_dict())


def fake_document(
    model: str = "efficientnet_b1", base_ms: float = 10.0, noise: float = 0.01, seed: int = 0
) -> dict[str, Any]:
    """A complete result document of one cell (`model` on the fake backend, 3 processes), measured now."""
    return dict(json.loads(_template_text(model, base_ms, noise, seed)))


def _scale(value: Any, factor: float) -> Any:
    if isinstance(value, list):
        return [_scale(v, factor) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value * factor
    return value


def scaled_document(
    template: Mapping[str, Any],
    factor: float,
    *,
    created: _dt.datetime,
    index: int,
    label: str | None = None,
    commit: str | None = None,
    machine_id: str | None = None,
    versions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A copy of `template` as run number `index`, created at `created`, every sample (and every *_ms figure of
    the summaries) multiplied by `factor`; `versions` replaces the runtime versions its workers report."""
    doc = copy.deepcopy(dict(template))
    doc["created"] = created.astimezone(_dt.UTC).isoformat(timespec="seconds")
    info = doc["effbench"]
    info["run_id"] = hashlib.sha256(f"{info['run_id']} {index} {doc['created']}".encode()).hexdigest()[:32]
    if label is not None:
        info["label"] = label
    if commit is not None:
        info["commit_under_test"] = commit
    if machine_id is not None:
        doc["machine"]["id"] = machine_id
    if versions is not None:
        doc["machine"]["runtimes"] = {**doc["machine"].get("runtimes", {}), **versions}
    for cell in doc["cells"]:
        for process in cell.get("processes") or []:
            for key in ("samples_ns", "warmup_ns"):
                process[key] = [max(1, round(v * factor)) for v in process.get(key) or []]
            if versions is not None:
                process["versions"] = dict(versions)
        summary = cell.get("summary") or {}
        for key, value in summary.items():
            if key.endswith("_ms"):
                summary[key] = _scale(value, factor)
    return doc


def step_factors(n_before: int, n_after: int, step: float, noise: float, rng: random.Random) -> list[float]:
    """Per-run factors: log-normal run-to-run noise of relative size `noise`, times `step` from run n_before on."""
    return [math.exp(rng.gauss(0.0, noise)) * (step if i >= n_before else 1.0) for i in range(n_before + n_after)]


def write_series(
    folder: Path,
    factors: Sequence[float],
    *,
    template: Mapping[str, Any] | None = None,
    start: _dt.datetime = START,
    every: _dt.timedelta = _dt.timedelta(hours=1),
    first_index: int = 0,
    machine_id: str | None = None,
    versions_from: tuple[int, Mapping[str, str]] | None = None,
    commits: Sequence[str | None] | None = None,
) -> list[Path]:
    """Write one document per factor under folder/<machine id>/ (bench.results.write_result, never overwriting),
    runs `every` apart from `start`, labelled run-<index>; with `versions_from` = (i, versions), runs from i on
    report those runtime versions; `commits` gives each run's commit under test (None: none; default: a made-up
    hash per run). Returns the paths in run order."""
    from bench.document import document_from_json
    from bench.results import write_result

    template = template if template is not None else fake_document()
    paths = []
    for offset, factor in enumerate(factors):
        index = first_index + offset
        versions = versions_from[1] if versions_from is not None and index >= versions_from[0] else None
        doc = scaled_document(
            template,
            factor,
            created=start + index * every,
            index=index,
            label=f"run-{index:04d}",
            commit=hashlib.sha1(f"commit {index}".encode()).hexdigest() if commits is None else commits[offset],
            machine_id=machine_id,
            versions=versions,
        )
        paths.append(write_result(document_from_json(doc), None, Path(folder)))
    return paths
