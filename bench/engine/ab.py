"""Interleaved A/B measurement: both arms of each cell in one run, ABBA rounds on the same CPUs, one document.

Round i runs process i of BASE and of NEW back to back, (BASE, NEW) for even i and (NEW, BASE) for odd i: a slow
drift of a shared machine then hits both processes of a block alike (and a steady drift hits BASE first as often
as NEW first), so the per-block ratio cancels it (bench.compare.effect.measure_paired_effect). Every arm gets
the same fixed number of processes, so process i of each arm forms block i. The adaptive A/B (`AdaptiveABBA`) may
instead run each block as one process that measures both arms in alternating bursts (bench.engine.paired), whose
two records are process i of each arm.
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bench.compare.sequential import Look, SpendingPlan, judge_blocks, process_quantile_ms
from bench.document import CellRecord, SequentialDesign
from bench.engine.launchers import Launcher, child_env
from bench.engine.measure import MeasuredRun, measure_into, start_document
from bench.engine.plan import LatencySettings, RunIdentity
from bench.engine.policy import MeasurePolicy
from bench.engine.progress import Progress
from bench.engine.runner import CellPlan, CellRun, Round, StopCheck
from bench.errors import EffbenchError
from bench.machine.activity import interfered

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


def abba_order(cells: Sequence[CellRun], round_index: int) -> list[CellRun]:
    """The cells of round `round_index` in launch order, the cells being pairs (base, new) one after the other:
    (base, new) per pair on even rounds, (new, base) on odd ones."""
    order: list[CellRun] = []
    for base, new in zip(cells[::2], cells[1::2], strict=True):
        order.extend((base, new) if round_index % 2 == 0 else (new, base))
    return order


@dataclass(frozen=True)
class ABBA:
    """The round order of an A/B run: `rounds` rounds in ABBA order, so process i of each arm forms block i; then
    every cell still running stops. A fixed count: the stopping rule's precision target may not end an arm early,
    or blocks would lose partners; it still names the target met or missed."""

    policy: MeasurePolicy
    rounds: int

    def next_round(self, index: int, cells: Sequence[CellRun], check: StopCheck) -> Round:
        if index < self.rounds:
            return Round(launches=tuple(cell for cell in abba_order(cells, index) if not cell.finished))
        fixed = replace(self.policy, cell_max_s=math.inf)
        stops = []
        for cell in cells:
            if not cell.finished:
                stops.append((cell, check(cell, fixed) or f"{len(cell.processes)} processes per arm"))
        return Round(stops=tuple(stops))


@dataclass(frozen=True)
class SequentialRule:
    """How an adaptive A/B judges a pair after each block (bench.compare.sequential.judge_blocks): the verdict
    options' threshold and floor, α spent by `plan`, whose α is each pair's share, and the quantile of its samples
    by which each process enters its block."""

    threshold: float
    floor_ms: float
    plan: SpendingPlan
    quantile: float

    def judge(self, base_ms: Sequence[float], new_ms: Sequence[float]) -> Look:
        return judge_blocks(base_ms, new_ms, self.threshold, self.floor_ms, self.plan)


def block_values_ms(cell: CellRun, quantile: float) -> list[float]:
    """What each process brings to its block: its samples' `quantile`, in ms (bench.compare.sequential)."""
    return [process_quantile_ms(p.samples_ns, quantile) for p in cell.processes if p.samples_ns]


def pairs_of(cells: Sequence[CellRun]) -> list[tuple[CellRun, CellRun]]:
    """The (base, new) pairs of an A/B run's cells, listed base, new per pair."""
    return list(zip(cells[::2], cells[1::2], strict=True))


@dataclass
class AdaptiveABBA:
    """The round order of an adaptive A/B (`effbench ab --budget S`): one ABBA block per round for every pair
    still undecided, judged after each block by `rule`; a pair stops when its look decides, and every pair stops
    when the next block would not fit in the time left before `deadline` (a clock reading) or at `max_blocks`.

    A block's duration is estimated as the longest round so far: a round that starts must end within the
    budget, since a half-measured block has no partner.

    A block whose interference landed on one arm only (one process crossed a busy-CPU, steal-time or own-CPU
    warning level, bench.machine.activity.interfered, and its partner did not) is measured again, once: its two
    processes move to the cells' `superseded` list (kept in the document) and the block runs anew. Interference
    that hit both processes of a block is left alone: it cancels in the block's ratio, which is what the ABBA
    design is for, and re-measuring it would spend the budget on a busy runner's every block.

    With `burst_s`, a block is one process that measures both arms in alternating bursts (bench.engine.paired):
    interference then always hits both arms, and nothing is measured again."""

    rule: SequentialRule
    deadline: float
    max_blocks: int | None = None
    burst_s: float | None = None  # set: each block is one process measuring both arms (bench.engine.paired)
    clock: Callable[[], float] = time.monotonic
    started: float | None = None
    _last_start: float | None = None
    _longest_round_s: float = 0.0
    decisions: dict[int, tuple[int, Look]] = field(default_factory=dict)  # pair index -> (blocks, its look)
    retried: set[tuple[int, int]] = field(default_factory=set)  # (pair index, block index) measured again

    def next_round(self, index: int, cells: Sequence[CellRun], check: StopCheck) -> Round:
        now = self.clock()
        if self.started is None:
            self.started = now
        if self._last_start is not None:
            self._longest_round_s = max(self._longest_round_s, now - self._last_start)
        stops: list[tuple[CellRun, str]] = []
        running: list[CellRun] = []
        for pair_index, (base, new) in enumerate(pairs_of(cells)):
            if base.finished or new.finished:
                stops += [(cell, "its partner stopped") for cell in (base, new) if not cell.finished]
                continue
            if self._remeasure(pair_index, base, new, now):
                running += [base, new]
                continue
            reason = self._pair_reason(pair_index, base, new, index, now)
            if reason is None:
                running += [base, new]
            else:
                stops += [(base, reason), (new, reason)]
        self._last_start = now
        if self.burst_s is not None:
            pairs = tuple(pair for pair in pairs_of(cells) if pair[0] in running)
            return Round(stops=tuple(stops), pairs=pairs, burst_s=self.burst_s)
        order = [cell for cell in abba_order(cells, index) if cell in running]
        return Round(stops=tuple(stops), launches=tuple(order))

    def _remeasure(self, pair_index: int, base: CellRun, new: CellRun, now: float) -> bool:
        """Supersede the pair's last block when interference hit one of its processes only (once per block, and
        only while another round fits in the budget); True when it did."""
        if self.burst_s is not None or not base.processes or len(base.processes) != len(new.processes):
            return False  # a paired process's interference hit both arms alike
        block = len(base.processes) - 1
        threads = base.plan.threads
        hits = [
            interfered(c.processes[-1].machine_activity, c.processes[-1].cpu_wall_ratio, threads) for c in (base, new)
        ]
        if hits[0] == hits[1] or (pair_index, block) in self.retried or now + self._longest_round_s > self.deadline:
            return False
        self.retried.add((pair_index, block))
        for cell in (base, new):
            cell.superseded.append(cell.processes.pop())
        return True

    def _pair_reason(self, pair_index: int, base: CellRun, new: CellRun, index: int, now: float) -> str | None:
        """Why a running pair stops before round `index`, or None while it needs another block."""
        base_ms, new_ms = (
            block_values_ms(base, self.rule.quantile),
            block_values_ms(new, self.rule.quantile),
        )  # each sorts every process's samples: once
        blocks = min(len(base_ms), len(new_ms))
        started = now if self.started is None else self.started
        spent = now - started
        if blocks >= 2:
            verdict = self.rule.judge(base_ms[:blocks], new_ms[:blocks])
            self.decisions[pair_index] = (blocks, verdict)
            if verdict.decided:
                return f"decided after {blocks} blocks in {spent:.0f} s: {verdict.decision}"
        if self.max_blocks is not None and blocks >= self.max_blocks:
            return f"undecided after {blocks} blocks, the most asked for"
        if index > 0 and now + self._longest_round_s > self.deadline:
            budget = self.deadline - started
            return f"undecided after {blocks} blocks: the budget of {budget:.0f} s is spent ({spent:.0f} s)"
        return None


def ab_cells(cells: Sequence[CellRun]) -> tuple[CellRecord, ...]:
    """An A/B document's cells, base and new per pair: every cell, an unfinished one as interrupted, so a killed
    run leaves a truthful file with the blocks it finished."""
    records = []
    for cell in cells:
        record = cell.record()
        if not cell.finished:
            record = replace(record, status="interrupted", error=IN_PROGRESS)
        records.append(record)
    return tuple(records)


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
    adaptive: tuple[AdaptiveABBA, SequentialDesign] | None = None,
) -> MeasuredRun:
    """Run `pairs` in ABBA rounds, each arm's workers started by its launcher, into a new document
    (bench.engine.measure.start_document) that lists base, new per pair and is saved after every round: a fixed
    number of blocks (the policy's minimum), or with `adaptive` as its round order says, the design recorded."""
    recorded = settings.document_settings()
    if adaptive is not None:
        recorded = replace(recorded, sequential=adaptive[1])
    doc, path = start_document(
        recorded, command, output=settings.output, results_dir=settings.results_dir, identity=identity, say=say
    )
    policy = settings.policy
    plans = [plan for pair in pairs for plan in pair]
    order = adaptive[0] if adaptive is not None else ABBA(policy, policy.min_processes)
    return measure_into(
        doc, path, plans, policy, launchers["base"], order=order, arms=launchers, progress=progress, layout=ab_cells
    )
