"""`effbench ab`: ABBA scheduling, the two-arm document, paired verdicts and exit codes, on the fake backend."""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from bench.cli import build_parser, main
from bench.commands.ab import run_ab
from bench.compare import Arm, CellInput, Verdict, compare_cells, measure_paired_effect, sign_flip_p_values
from bench.compare.documents import match_ab
from bench.compare.power import min_blocks_for_sign_flip
from bench.document import ProcessRecord
from bench.engine.ab import ABBA, abba_order, check_python
from bench.engine.job import Job, PairedJob, PairedRecord, WorkerJob
from bench.engine.launchers import InProcessLauncher, WorkerOutcome
from bench.engine.policy import PRESETS, MeasurePolicy
from bench.engine.runner import CellPlan, CellRun
from bench.errors import EffbenchError
from bench.results import load_result

MODEL = "b0:r=32"
CELL = "efficientnet_b0:r=32 · fake · fp32 · 1t/1cpu"
R = TypeVar("R")


class ArmLauncher(InProcessLauncher):
    """Runs the worker in this process with the fake backend's options of its arm (e.g. base_ms 11 for a 10%
    slower NEW), and logs (arm, process index) into a log shared by both arms. A paired process (both arms in one
    worker) gets each arm's options from `options`, keyed by arm."""

    def __init__(self, arm: str, log: list[tuple[str, int]], options: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.arm, self.log, self.options = arm, log, options

    def _with_options(self, job: WorkerJob, arm: str) -> WorkerJob:
        return replace(job, target=replace(job.target, options={**job.target.options, **self.options.get(arm, {})}))

    def launch(self, job: Job[R], timeout_s: float) -> WorkerOutcome[R]:
        if isinstance(job, PairedJob):
            arms = ("new", "base") if job.new_first else ("base", "new")
            self.log.extend((arm, job.base.process_index) for arm in arms)
            paired = replace(job, base=self._with_options(job.base, "base"), new=self._with_options(job.new, "new"))
            both = super().launch(paired, timeout_s)
            if both.record is not None:
                both = replace(both, record=PairedRecord(_quiet(both.record.base), _quiet(both.record.new)))
            return both  # type: ignore[return-value]  # narrowed to a paired job: a WorkerOutcome[R]
        assert isinstance(job, WorkerJob), job
        self.log.append((self.arm, job.process_index))
        outcome = super().launch(self._with_options(job, self.arm), timeout_s)
        if outcome.record is not None:
            outcome = replace(outcome, record=_quiet(outcome.record))
        return outcome  # type: ignore[return-value]  # narrowed to a cell job: its outcome is a WorkerOutcome[R]


def _quiet(record: ProcessRecord) -> ProcessRecord:
    # The fake worker still reads this machine's /proc/stat: a busy test machine would weigh on the verdicts. The
    # timings are fake, so the machine's activity is set aside too.
    return replace(record, machine_activity={}, warnings=())


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "bench.toml"
    path.write_text(f'[paths]\ncache_dir = "{tmp_path / "cache"}"\nresults_dir = "{tmp_path / "results"}"\n')
    return path


def run(
    config: Path,
    *args: str,
    base: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    log: list[tuple[str, int]] | None = None,
) -> int:
    parsed = build_parser().parse_args(["--config", str(config), "ab", MODEL, MODEL, "--backend", "fake", *args])
    log = [] if log is None else log
    options = {"base": base or {}, "new": new or {}}
    return run_ab(parsed, {"base": ArmLauncher("base", log, options), "new": ArmLauncher("new", log, options)})


def _cell(name: str) -> CellRun:
    return CellRun(CellPlan(name, "fake", "fp32", 1, (0,), target=None))  # type: ignore[arg-type]


def test_abba_order_alternates_within_each_pair() -> None:
    cells = [_cell("a1"), _cell("b1"), _cell("a2"), _cell("b2")]
    names = [[c.plan.model for c in abba_order(cells, i)] for i in range(3)]
    assert names == [["a1", "b1", "a2", "b2"], ["b1", "a1", "b2", "a2"], ["a1", "b1", "a2", "b2"]]


def test_abba_round_order_runs_a_fixed_count_then_stops_every_cell_on_the_fixed_policy() -> None:
    cells = [_cell("a1"), _cell("b1"), _cell("a2"), _cell("b2")]
    a1, b2 = cells[0], cells[3]
    b2.status = "failed"  # its partner goes on alone
    asked: list[tuple[str, float]] = []

    def check(cell: CellRun, policy: MeasurePolicy) -> str | None:
        asked.append((cell.plan.model, policy.cell_max_s))
        return "target met: tight" if cell is a1 else None

    order = ABBA(PRESETS["ci"], rounds=3)
    assert [c.plan.model for c in order.next_round(1, cells, check).launches] == ["b1", "a1", "a2"]
    assert order.next_round(1, cells, check).stops == () and asked == []  # no stop check within the blocks
    done = order.next_round(3, cells, check)
    assert done.launches == ()
    assert [(c.plan.model, reason) for c, reason in done.stops] == [
        ("a1", "target met: tight"), ("b1", "0 processes per arm"), ("a2", "0 processes per arm"),
    ]  # fmt: skip
    # the stopping rule sees the fixed count: no time cap may end an arm before its partner
    assert asked == [("a1", math.inf), ("b1", math.inf), ("a2", math.inf)]


def test_launch_order_is_abba_and_the_document_keeps_both_arms_in_pairs(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log: list[tuple[str, int]] = []
    out = tmp_path / "ab.json"
    code = run(config, "--processes", "4", "--output", str(out), log=log)
    assert code == 0
    assert log == [
        ("base", 0), ("new", 0), ("new", 1), ("base", 1), ("base", 2), ("new", 2), ("new", 3), ("base", 3),
    ]  # fmt: skip
    doc = load_result(out)
    assert doc.status == "complete" and doc.settings.preset == "ci"
    assert [c.arm for c in doc.cells] == ["base", "new"]
    assert all(len(c.processes) == 4 and c.status == "ok" for c in doc.cells)
    assert [p.process_index for p in doc.cells[1].processes] == [0, 1, 2, 3]
    matched = match_ab(doc)
    assert [c.paired for c in matched.cells] == [True]
    capsys.readouterr()


def test_label_and_commit_are_recorded(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ab.json"
    assert run(config, "--processes", "2", "--label", "pr-42", "--commit", "ABC1234DEF", "--output", str(out)) == 0
    doc = load_result(out)
    assert (doc.effbench.label, doc.effbench.commit_under_test) == ("pr-42", "abc1234def")
    capsys.readouterr()


def test_processes_alone_fix_the_block_count(config: Path, tmp_path: Path) -> None:
    log: list[tuple[str, int]] = []
    assert run(config, "--processes", "10", "--output", str(tmp_path / "ab.json"), log=log) == 0
    assert sum(arm == "base" for arm, _ in log) == sum(arm == "new" for arm, _ in log) == 10
    assert load_result(tmp_path / "ab.json").settings.sequential is None


def test_the_default_is_adaptive_and_compare_of_its_file_judges_it_the_same(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log: list[tuple[str, int]] = []
    out = tmp_path / "ab.json"
    assert run(config, "--output", str(out), "-f", "json", new={"base_ms": 11.0}, log=log) == 1
    first = json.loads(capsys.readouterr().out)["cells"][0]
    # 10% slower in every block: decided at the first look, four blocks per arm
    assert sum(arm == "base" for arm, _ in log) == sum(arm == "new" for arm, _ in log) == 4
    doc = load_result(out)
    design = doc.settings.sequential
    assert design is not None and design.budget_s == 90 and design.cells == 1 and design.min_blocks == 4
    assert all(
        re.fullmatch(r"decided after 4 blocks in \d+ s: regression", cell.stop_reason or "") for cell in doc.cells
    )
    assert main(["compare", str(out), "-f", "json"]) == 1
    again = json.loads(capsys.readouterr().out)["cells"][0]
    assert again["verdict"] == first["verdict"] == "regression" and again["reason"] == first["reason"]
    assert "after 4 blocks of paired processes' medians" in first["reason"]


def test_the_default_pairs_both_arms_in_one_process_new_first_on_odd_blocks(config: Path, tmp_path: Path) -> None:
    log: list[tuple[str, int]] = []
    out = tmp_path / "ab.json"
    assert run(config, "--output", str(out), new={"base_ms": 11.0}, log=log) == 1
    assert log == [("base", 0), ("new", 0), ("new", 1), ("base", 1), ("base", 2), ("new", 2), ("new", 3), ("base", 3)]
    doc = load_result(out)
    design = doc.settings.sequential
    assert design is not None and design.burst_s == 0.05 and design.quantile == 0.5
    base, new = doc.cells
    # one worker per block: both arms' records of a block come from the same process
    assert [p.pid for p in base.processes] == [p.pid for p in new.processes]
    assert all(p.samples_ns for p in (*base.processes, *new.processes))


def test_processes_pairing_keeps_abba_blocks_of_separate_processes(config: Path, tmp_path: Path) -> None:
    log: list[tuple[str, int]] = []
    out = tmp_path / "ab.json"
    assert run(config, "--output", str(out), "--pairing", "processes", new={"base_ms": 11.0}, log=log) == 1
    assert log[:4] == [("base", 0), ("new", 0), ("new", 1), ("base", 1)]
    design = load_result(out).settings.sequential
    assert design is not None and design.burst_s is None and design.quantile == 0.1
    assert "burst_s" not in json.loads(out.read_text())["settings"]["sequential"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--processes", "6"], "--pairing bursts is for the adaptive A/B"),
        (["--new-python", "/usr/bin/python3"], "cannot run two interpreters"),
    ],
)
def test_bursts_where_one_process_cannot_hold_both_arms_is_refused(
    config: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--config", str(config), "ab", MODEL, MODEL, "-b", "fake", "--pairing", "bursts", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_paired_process_that_fails_ends_both_arms(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "ab.json"
    code = run(config, "--output", str(out), new={"fail_at": "run", "fault_process": 1})
    doc = load_result(out)
    assert [(c.arm, c.status, len(c.processes), len(c.failed_processes)) for c in doc.cells] == [
        ("base", "failed", 1, 1),
        ("new", "failed", 1, 1),
    ]
    assert "process 2 failed" in (doc.cells[0].error or "") and "fake failure" in (doc.cells[1].error or "")
    assert code == 0  # both arms failed: "failed, not comparable" in the verdict table (README)


def test_an_adaptive_run_re_measures_a_block_that_interference_hit_on_one_arm(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parsed = build_parser().parse_args(
        ["--config", str(config), "ab", MODEL, MODEL, "-b", "fake", "-f", "json", "-o", str(tmp_path / "ab.json"),
         "--pairing", "processes"]
    )  # fmt: skip
    log: list[tuple[str, int]] = []
    launchers = {"base": BusyLauncher("base", log, set()), "new": BusyLauncher("new", log, {1}, base_ms=11.0)}
    assert run_ab(parsed, launchers) == 1
    doc = load_result(tmp_path / "ab.json")
    base, new = doc.cells
    # block 2 (process index 1 of each arm) ran again; the first attempt is kept, out of the statistics
    assert [p.process_index for p in new.superseded_processes] == [1]
    assert [p.process_index for p in base.superseded_processes] == [1]
    assert [p.process_index for p in new.processes] == [0, 2, 3, 4] == [p.process_index for p in base.processes]
    assert json.loads(capsys.readouterr().out)["cells"][0]["verdict"] == "regression"


@pytest.mark.parametrize("budget", ["0", "-5", "inf"])
def test_a_budget_that_is_not_a_time_is_refused(config: Path, budget: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "ab", MODEL, MODEL, "-b", "fake", f"--budget={budget}"]) == 2
    err = capsys.readouterr().err
    assert "--budget" in err and "give the seconds" in err and len(err.strip().splitlines()) == 1


def test_slower_new_arm_is_a_regression_and_compare_of_the_file_agrees(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ab.json"
    code = run(config, "--format", "json", "--output", str(out), new={"base_ms": 11.0})
    printed = json.loads(capsys.readouterr().out)
    assert code == 1
    (cell,) = printed["cells"]
    assert cell["verdict"] == "regression" and cell["mark"] == "+" and cell["cell"] == CELL
    assert math.isclose(cell["ratio"], 1.1, rel_tol=1e-3)
    assert printed["summary"]["counts"]["regression"] == 1

    again = main(["compare", str(out), "--format", "json"])
    captured = capsys.readouterr()
    assert again == 1
    assert json.loads(captured.out)["cells"] == printed["cells"]
    assert captured.err.strip().endswith(printed["summary"]["line"])


def test_equal_arms_give_no_regression(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(config, "--output", str(tmp_path / "ab.json"), base={"noise": 0.01}, new={"noise": 0.01})
    out = capsys.readouterr().out
    assert code == 0
    assert "~ " + CELL in out and "1 no change" in out.splitlines()[-1]


def test_strict_with_an_inconclusive_cell_exits_3(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 4 blocks: the sign-flip guard cannot go below 1/16 > 0.05, so even an exact +10% stays inconclusive.
    args = ("--processes", "4", "--new-python", sys.executable)
    assert run(config, *args, "--output", str(tmp_path / "a.json"), new={"base_ms": 11.0}) == 0
    assert "1 inconclusive" in capsys.readouterr().out
    assert run(config, *args, "--strict", "--output", str(tmp_path / "b.json"), new={"base_ms": 11.0}) == 3
    assert "about 1 more" in capsys.readouterr().out


class BusyLauncher(ArmLauncher):
    """An arm whose processes in `busy` report the other CPUs 60% busy during their timed loop."""

    def __init__(self, arm: str, log: list[tuple[str, int]], busy: set[int], **options: Any) -> None:
        super().__init__(arm, log, {arm: options})
        self.busy = busy

    def launch(self, job: Job[R], timeout_s: float) -> WorkerOutcome[R]:
        outcome = super().launch(job, timeout_s)
        record = outcome.record
        if isinstance(record, ProcessRecord) and record.process_index in self.busy:
            busy = replace(record, machine_activity={"other_cpus_busy": 0.6, "own_cpus_steal": 0.0})
            outcome = replace(outcome, record=busy)
        return outcome


@pytest.mark.parametrize(
    ("base_busy", "new_busy", "verdict", "code"),
    [
        (set(range(10)), set(range(10)), "regression", 1),  # every block hit on both arms: the blocks cancel it
        (set(), {3}, "regression", 1),  # one block of ten, NEW alone: below the uneven limit
        (set(), {3, 7}, "re-run needed", 3),  # two blocks, NEW alone: the slowdown may be the interference
    ],
)
def test_a_slower_new_arm_is_never_passed_whatever_the_busy_blocks(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], base_busy: set[int], new_busy: set[int],
    verdict: str, code: int,
) -> None:  # fmt: skip
    parsed = build_parser().parse_args(
        ["--config", str(config), "ab", MODEL, MODEL, "-b", "fake", "-f", "json", "-o", str(tmp_path / "ab.json"),
         "--processes", "10"]
    )  # fmt: skip
    log: list[tuple[str, int]] = []
    launchers = {
        "base": BusyLauncher("base", log, base_busy),
        "new": BusyLauncher("new", log, new_busy, base_ms=11.0),
    }
    assert run_ab(parsed, launchers) == code
    (cell,) = json.loads(capsys.readouterr().out)["cells"]
    assert cell["verdict"] == verdict and math.isclose(cell["ratio"], 1.1, rel_tol=1e-3)


class InterruptAfter(ArmLauncher):
    def launch(self, job: Job[R], timeout_s: float) -> WorkerOutcome[R]:
        if len(self.log) >= 3:
            raise KeyboardInterrupt
        return super().launch(job, timeout_s)


def test_ctrl_c_keeps_the_finished_processes_and_exits_130(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ab.json"
    parsed = build_parser().parse_args(
        ["--config", str(config), "ab", MODEL, MODEL, "-b", "fake", "-o", str(out), "--pairing", "processes"]
    )
    log: list[tuple[str, int]] = []
    code = run_ab(parsed, {"base": InterruptAfter("base", log, {}), "new": InterruptAfter("new", log, {})})
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    doc = load_result(out)
    assert doc.status == "interrupted"
    assert [(c.arm, c.status, len(c.processes)) for c in doc.cells] == [
        ("base", "interrupted", 1),
        ("new", "interrupted", 2),
    ]


def test_bad_options_are_one_line_and_exit_2(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["--new-python", "/nonexistent/python"], "--new-python /nonexistent/python cannot be run"),
        (["--processes", "1"], "--processes 1: an A/B run needs at least 2"),
        (["--threshold", "abc"], "--threshold 'abc' is not a number"),
        (["--alpha", "0.7"], "alpha 0.7 is out of range"),
        (["--preset", "slowest"], "unknown preset 'slowest'"),
    ]
    for args, message in cases:
        code = main(["--config", str(config), "ab", MODEL, MODEL, "--backend", "fake", *args])
        err = capsys.readouterr().err
        assert code == 2, args
        assert err.count("\n") == 1 and err.startswith("effbench: error: ") and message in err, err


def test_an_interpreter_without_the_runtime_is_named() -> None:
    with pytest.raises(EffbenchError, match=r"--base-python .* cannot import no_such_runtime_xyz: install them"):
        check_python(sys.executable, ["no_such_runtime_xyz"], "base")
    check_python(sys.executable, ["bench.backends.fake"], "new")  # bench comes from the project, as for workers


# ------------------------------------------------------------------------------------- the paired statistics


def test_constant_ratio_in_every_block_is_exact() -> None:
    effect = measure_paired_effect([10.0, 12.0, 9.0, 11.0, 10.5], [11.0, 13.2, 9.9, 12.1, 11.55])
    assert effect.paired and math.isclose(effect.ratio, 1.1)
    assert math.isclose(effect.ci_low, 1.1) and math.isclose(effect.ci_high, 1.1)
    assert effect.permutation_p_slower == pytest.approx(1 / 32) and effect.permutation_exact
    assert effect.welch_p_slower < 1e-12 and effect.df == 4  # rounding leaves a spread of ~1e-16


def test_sign_flip_known_answers() -> None:
    p, exact = sign_flip_p_values([0.1, 0.2, 0.05, 0.3, 0.15])
    assert exact and p["greater"] == pytest.approx(1 / 32) and p["less"] == 1.0
    assert p["two-sided"] == pytest.approx(2 / 32)
    # one block of five faster: the patterns at least as large are all-positive and the one flipping the
    # smallest of the others: 2/32
    p, _ = sign_flip_p_values([0.1, 0.2, -0.05, 0.3, 0.15])
    assert p["greater"] == pytest.approx(2 / 32)
    assert min_blocks_for_sign_flip(0.05) == 5
    p, exact = sign_flip_p_values(np.full(20, 0.01))
    assert not exact and p["greater"] < 0.001


def test_paired_ci_matches_the_t_distribution() -> None:
    from scipy import stats as sps

    base = [10.0, 10.4, 9.8, 10.1, 10.3, 9.9]
    new = [10.9, 11.6, 10.6, 11.2, 11.1, 10.95]
    d = np.log(new) - np.log(base)
    low, high = sps.t.interval(0.9, len(d) - 1, loc=d.mean(), scale=d.std(ddof=1) / math.sqrt(len(d)))
    effect = measure_paired_effect(base, new)
    assert math.isclose(effect.ci_low, math.exp(low)) and math.isclose(effect.ci_high, math.exp(high))
    assert effect.pair_spread == pytest.approx(d.std(ddof=1))
    with pytest.raises(ValueError, match="as many processes"):
        measure_paired_effect(base, new[:-1])


def test_paired_blocks_cancel_a_shared_drift_that_welch_cannot() -> None:
    # The machine slows by 3% per round; NEW is 2% slower in every block.
    base = tuple(10.0 * 1.03**i for i in range(9))
    new = tuple(m * 1.02 for m in base)
    paired, unpaired = compare_cells(
        [CellInput("paired", Arm(base), Arm(new), paired=True), CellInput("welch", Arm(base), Arm(new))]
    ).cells
    assert paired.verdict is Verdict.NO_CHANGE and paired.ratio == pytest.approx(1.02)
    assert unpaired.verdict in (Verdict.INCONCLUSIVE, Verdict.NOISY)
    # unequal arms cannot form blocks: Welch is used even when asked for pairs
    (cell,) = compare_cells([CellInput("c", Arm(base), Arm(new[:-1]), paired=True)]).cells
    assert cell.effect is not None and not cell.effect.paired


# ------------------------------------------------------------------------------- adaptive A/B (--budget)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(median_ms: float, busy: bool = False) -> ProcessRecord:
    activity: dict[str, float | None] = {"other_cpus_busy": 0.9 if busy else 0.0, "own_cpus_steal": 0.0}
    return ProcessRecord(ok=True, samples_ns=(int(median_ms * 1e6),) * 3, machine_activity=activity)


def _adaptive(ratio: float, *, blocks: int, budget_s: float = 1e9, clock: FakeClock | None = None) -> tuple:
    from bench.compare.sequential import BLOCK_QUANTILE, SpendingPlan
    from bench.engine.ab import AdaptiveABBA, SequentialRule

    rule = SequentialRule(threshold=0.05, floor_ms=0.0, plan=SpendingPlan(), quantile=BLOCK_QUANTILE)
    clock = clock or FakeClock()
    order = AdaptiveABBA(rule, deadline=budget_s, clock=clock)
    base, new = _cell("base"), _cell("new")
    jitter = (0.004, -0.003, 0.002, -0.001, 0.0, 0.003, -0.002, 0.001)
    for i in range(blocks):
        base.processes.append(_record(10.0))
        new.processes.append(_record(10.0 * ratio * (1 + jitter[i % len(jitter)])))
    return order, base, new, clock


def _no_check(cell: CellRun, policy: MeasurePolicy) -> str | None:
    return None


def test_adaptive_order_adds_blocks_until_the_first_look() -> None:
    order, base, new, _ = _adaptive(1.10, blocks=3)
    step = order.next_round(3, [base, new], _no_check)
    assert not step.stops and step.launches == (new, base)  # round 3 is odd: NEW first


def test_adaptive_order_stops_a_decided_pair_with_its_decision() -> None:
    order, base, new, _ = _adaptive(1.10, blocks=4)
    step = order.next_round(4, [base, new], _no_check)
    assert not step.launches
    assert [reason for _, reason in step.stops] == ["decided after 4 blocks in 0 s: regression"] * 2
    assert order.decisions[0][1].decision == "regression"


def test_adaptive_order_stops_when_the_next_block_would_overrun_the_budget() -> None:
    order, base, new, clock = _adaptive(1.0, blocks=2, budget_s=100.0)
    order.next_round(2, [base, new], _no_check)  # round 2 starts at 0 s
    clock.now = 40.0  # the round took 40 s: the next would end at 80 s, inside the budget
    assert order.next_round(3, [base, new], _no_check).launches
    clock.now = 70.0  # 70 + 40 > 100
    step = order.next_round(4, [base, new], _no_check)
    assert not step.launches
    assert step.stops[0][1].startswith("undecided after 2 blocks: the budget of 100 s is spent")


def test_adaptive_order_stops_at_the_most_blocks_asked_for() -> None:
    from bench.compare.sequential import BLOCK_QUANTILE, SpendingPlan
    from bench.engine.ab import AdaptiveABBA, SequentialRule

    rule = SequentialRule(threshold=0.05, floor_ms=0.0, plan=SpendingPlan(), quantile=BLOCK_QUANTILE)
    order = AdaptiveABBA(rule, deadline=1e9, max_blocks=2, clock=FakeClock())
    base, new = _cell("base"), _cell("new")
    for _ in range(2):
        base.processes.append(_record(10.0))
        new.processes.append(_record(10.2))
    step = order.next_round(2, [base, new], _no_check)
    assert step.stops[0][1] == "undecided after 2 blocks, the most asked for"
