"""`effbench suites`' rows: each suite's source, its model and cell counts on this machine, and an estimated time."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.suite.catalog import suite_catalog
from bench.suite.definition import Suite, load_suite, toolchain_problem

if TYPE_CHECKING:
    from bench.config import Config

# A worker's start before its warm-up: ~0.5 s for ONNX Runtime and OpenVINO plus the model's load, ~3 s for
# torch's import (bench.engine.policy's note on its presets, measured on the project's 2-vCPU machine).
WORKER_START_S = {"torch": 3.0}
DEFAULT_WORKER_START_S = 1.0

ESTIMATE_HELP = (
    "The estimate counts the cells this machine can run, each with its preset's processes: from the fewest "
    "processes with the shortest warm-up and timed loop (the usual case on a quiet machine) up to the most "
    "processes with the longest ones (every cell at its caps), plus a worker's start (about 1 s, 3 s for "
    "torch). It leaves out exports (a first run exports each model once: seconds for B0, about a minute for B7) "
    "and the peak calibration (seconds per thread count)."
)


@dataclass(frozen=True)
class Estimate:
    """A suite's measuring time in seconds: usual (every cell at its preset's minimum) and at most (at its caps)."""

    usual_s: float
    most_s: float


def estimate_time(suite: Suite, runnable: Collection[tuple[str, str]]) -> Estimate:
    """The time to measure `runnable` cells ((model, backend) pairs, one per precision and thread count)."""
    from bench.engine.policy import get_policy

    policy = get_policy(suite.preset)
    usual = most = 0.0
    for _model, backend in runnable:
        start = WORKER_START_S.get(backend, DEFAULT_WORKER_START_S)
        usual += policy.min_processes * (start + policy.warmup_min_s + policy.process_min_s)
        most += policy.max_processes * (start + policy.warmup_max_s + policy.process_max_s)
    return Estimate(usual, most)


def format_estimate(estimate: Estimate) -> str:
    """'3-12 min', 'about 2 min', 'under 1 min' or '20 min-1.5 h': minutes, the precision an estimate has."""

    def span(seconds: float) -> str:
        return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"

    if estimate.most_s < 60:
        return "under 1 min"
    low, high = span(max(estimate.usual_s, 60)), span(estimate.most_s)
    if low == high:
        return f"about {high}"
    if low.endswith(" min") and high.endswith(" min"):
        return f"{low.removesuffix(' min')}-{high}"
    return f"{low}-{high}"


def suite_rows(
    config: Path | str | Config | None,
    cpu_flags: Collection[str] | None = None,
    installed: Callable[[str], bool] | None = None,
    cpu_count: int | None = None,
) -> list[dict[str, Any]]:
    """One row per suite `config` can run (shipped ones first); `cpu_flags` (read from this machine when None) and
    `installed` as in Suite.cells; a thread count above `cpu_count` (default: the CPUs this process may use)
    cannot run here."""
    if cpu_count is None:
        cpu_count = len(os.sched_getaffinity(0))
    if cpu_flags is None:
        from bench.probes.calibrate import read_cpu_description

        cpu_flags = read_cpu_description().flags  # once, not once per suite: py-cpuinfo takes about a second
    rows = []
    for name, entry in suite_catalog(config).tables.items():
        suite = load_suite(config, name)
        cells = suite.cells(cpu_flags, installed)
        runnable = [
            (c.model, c.backend)
            for c in cells
            if c.skip_reason is None and c.threads <= cpu_count and toolchain_problem(c) is None
        ]
        estimate = estimate_time(suite, runnable)
        rows.append(
            {
                "name": name,
                "source": entry.origin,
                "models": len(suite.models),
                "cells": len(runnable),
                "cells_in_matrix": len(cells),
                "threads": ", ".join(str(t) for t in suite.threads),
                "preset": suite.preset,
                "estimate_s": round(estimate.usual_s),
                "estimate_max_s": round(estimate.most_s),
                "estimate": format_estimate(estimate) if runnable else "nothing to run here",
                "description": suite.description,  # in --format json and csv; too wide for the table
            }
        )
    return rows
