"""Interleaved A/B measurement: both arms of each cell in one run, ABBA rounds on the same CPUs, one document.

Round i runs process i of BASE and of NEW back to back, (BASE, NEW) for even i and (NEW, BASE) for odd i: a slow
drift of a shared machine then hits both processes of a block alike (and a steady drift hits BASE first as often
as NEW first), so the per-block ratio cancels it (bench.compare.effect.measure_paired_effect). Every arm gets
the same fixed number of processes, so process i of each arm forms block i.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.engine.launchers import Launcher, child_env
from bench.engine.measure import MeasuredRun
from bench.engine.plan import LatencySettings, RunIdentity
from bench.engine.policy import CAP_PREFIX, cell_stop_reason
from bench.engine.progress import Progress
from bench.engine.runner import CellPlan, CellRun, Runner, RunOutcome
from bench.errors import EffbenchError

ARMS = ("base", "new")
IN_PROGRESS = "the run stopped before this cell finished"


def pair_plans(base_plans: Sequence[CellPlan], new_plans: Sequence[CellPlan]) -> list[tuple[CellPlan, CellPlan]]:
    """BASE's and NEW's plans of the same backend paired, each marked with its arm (base first, as a document
    of an A/B run lists them and bench.compare.documents.match_ab reads them)."""
    if [p.backend for p in base_plans] != [p.backend for p in new_plans]:
        raise EffbenchError(
            "BASE and NEW did not plan the same backends "
            f"({', '.join(p.backend for p in base_plans)} vs {', '.join(p.backend for p in new_plans)}): "
            "name one model per arm and the backends with --backend"
        )
    return [(replace(b, arm="base"), replace(n, arm="new")) for b, n in zip(base_plans, new_plans, strict=True)]


def abba_order(pairs: Sequence[tuple[CellRun, CellRun]], round_index: int) -> list[CellRun]:
    """The cells of round `round_index` in launch order: (base, new) per pair on even rounds, (new, base) on odd."""
    order: list[CellRun] = []
    for base, new in pairs:
        order.extend((base, new) if round_index % 2 == 0 else (new, base))
    return order


class ABRunner(Runner):
    """Runs pairs of cells in ABBA rounds, exactly `policy.min_processes` processes per arm, each arm's workers
    started by its own launcher. A worker that fails ends its cell (as in Runner); its partner goes on."""

    def __init__(
        self,
        policy: Any,
        launchers: Mapping[str, Launcher],
        *,
        on_round_finished: Callable[[list[CellRun]], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(policy, launchers["base"], **kwargs)
        self.launchers = dict(launchers)
        self.on_round_finished = on_round_finished

    def launcher_for(self, cell: CellRun) -> Launcher:
        return self.launchers[cell.plan.arm or "base"]

    def run_pairs(self, pairs: Sequence[tuple[CellPlan, CellPlan]]) -> RunOutcome:
        runs = [(CellRun(base), CellRun(new)) for base, new in pairs]
        cells = [cell for pair in runs for cell in pair]
        outcome = RunOutcome(cells)
        for cell in cells:
            if cell.plan.skip_reason:
                cell.status = "skipped"
                cell.error = cell.plan.skip_reason
                self._finish(cell)
        # A fixed count: the stop rule's precision target may not end an arm early, or blocks would lose partners.
        fixed = replace(self.policy, cell_max_s=math.inf)
        try:
            for round_index in range(self.policy.min_processes):
                for cell in abba_order(runs, round_index):
                    if not cell.finished:
                        self._run_process(cell)
                if self.on_round_finished is not None:
                    self.on_round_finished(cells)
            for cell in cells:
                if cell.finished:
                    continue
                reason = cell_stop_reason(
                    fixed, cell.samples, cell.elapsed_s, total_min_samples=self.total_min_samples,
                    ci_half_width_rel=self._ci_half_width,
                )  # fmt: skip
                cell.status = "ok"
                cell.stop_reason = reason or f"{len(cell.processes)} processes per arm"
                if cell.stop_reason.startswith(CAP_PREFIX):
                    cell.warnings.append(f"stopped before the precision target: {cell.stop_reason}")
                self._finish(cell)
        except KeyboardInterrupt:
            self.interrupt(outcome)
        return outcome


def check_python(python: str, modules: Sequence[str], arm: str) -> None:
    """EffbenchError (exit 2) unless interpreter `python` runs and imports numpy and `modules`: what an arm's
    workers need besides bench itself, which comes from this project through PYTHONPATH."""
    wanted = ["numpy", *dict.fromkeys(modules)]
    probe = (
        "import importlib, sys\n"
        "missing = []\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n        importlib.import_module(name)\n"
        "    except Exception:\n        missing.append(name)\n"
        "print(' '.join(missing))\n"
    )
    env = child_env()  # as SubprocessLauncher gives the workers
    try:
        done = subprocess.run(
            [python, "-c", probe, *wanted], capture_output=True, text=True, timeout=120, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EffbenchError(
            f"--{arm}-python {python} cannot be run ({exc}): give the path of a Python interpreter"
        ) from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise EffbenchError(f"--{arm}-python {python} failed to start ({tail}): give a working Python interpreter")
    missing = done.stdout.split()
    if missing:
        raise EffbenchError(
            f"--{arm}-python {python} cannot import {', '.join(missing)}: install them in that environment "
            f"(its workers need numpy and the runtime)"
        )


def measure_ab(
    settings: LatencySettings,
    pairs: Sequence[tuple[CellPlan, CellPlan]],
    launchers: Mapping[str, Launcher],
    *,
    command: Sequence[str],
    progress: Progress | None = None,
    say: Callable[[str], Any] = lambda _message: None,
    identity: RunIdentity | None = None,
) -> MeasuredRun:
    """Run `pairs` interleaved and keep the result document on disk up to date: written before the first
    worker, replaced after every round (unfinished cells as "interrupted", so a killed run leaves a truthful
    file) and at the end. The cells are listed base, new per pair."""
    from bench.machine import collect_machine_metadata, system_checks
    from bench.results import new_document, save_progress, write_result

    doc = new_document(collect_machine_metadata(), settings.document_settings(), command)
    if identity is not None:
        doc = identity.apply(doc)
    checks = [c for c in system_checks(list(settings.cpus)) if c.status == "warn"]
    doc = replace(doc, warnings=tuple(f"{c.message}: {c.remedy}" if c.remedy else c.message for c in checks))
    path: Path = write_result(doc, settings.output, settings.results_dir)
    say(f"results: {path}")

    def snapshot(cells: list[CellRun]) -> None:
        nonlocal doc
        records = []
        for cell in cells:
            record = cell.record()
            if not cell.finished:
                record = replace(record, status="interrupted", error=IN_PROGRESS)
            records.append(record)
        doc = replace(doc, cells=tuple(records))
        save_progress(doc, path)

    runner = ABRunner(settings.policy, launchers, progress=progress, on_round_finished=snapshot)
    outcome = runner.run_pairs(pairs)
    doc = replace(
        doc,
        cells=tuple(cell.record() for cell in outcome.cells),
        status="interrupted" if outcome.interrupted else "complete",
    )
    save_progress(doc, path)
    return MeasuredRun(doc, path, outcome.interrupted)
