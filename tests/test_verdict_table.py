"""The README's verdict table, row by row: fake result documents whose processes carry injected busy-CPU or
steal-time readings, judged by `effbench compare` (two runs, or one A/B document), with each verdict's exit code.
No timing: every median is given."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bench.compare import Arm, CellInput, CompareSettings, Verdict, compare_cells, exit_code
from bench.compare.documents import arm_of
from bench.compare.rule import (
    MARKS,
    Interference,
    paired_interference,
    uneven_blocks_limit,
    unpaired_interference,
    verdicts_exit_code,
    weigh_interference,
)
from bench.document import CellRecord, ResultDocument
from bench.machine.activity import activity_warnings
from bench.results import document_text, load_result

if TYPE_CHECKING:
    from conftest import Cli

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "format1-result.json"

Activity = dict[str, float | None]
QUIET: Activity = {"other_cpus_busy": 0.01, "own_cpus_steal": 0.0}
BUSY: Activity = {"other_cpus_busy": 0.6, "own_cpus_steal": 0.0}  # another job on the other CPUs
STEAL: Activity = {"other_cpus_busy": 0.0, "own_cpus_steal": 0.05}  # the hypervisor took 5% of ours

# Ten processes (blocks) per arm, about 1.3% between-process spread.
BASE = (10.0, 10.2, 9.9, 10.1, 9.8, 10.05, 10.15, 9.95, 10.0, 10.1)
# Per-block noise of an A/B run: about 2.5% spread of the block ratios.
JITTER = (0.97, 1.03, 0.99, 1.01, 0.96, 1.04, 0.98, 1.02, 1.0, 1.0)

# NEW's medians for each effect. Two runs: NEW's processes in another order (they are not blocks). Paired:
# block i of NEW is block i of BASE times the effect, with a small jitter (or JITTER, for "unclear").
EFFECTS = {
    "slower": 1.256,  # the +25.6% of issue 17
    "faster": 0.8,
    "same": 1.005,
    "unclear": 1.045,  # paired: CI about +3% to +6%, across the 5% threshold
}


def medians(effect: str, paired: bool) -> tuple[list[float], list[float]]:
    """(BASE, NEW) medians for an effect of EFFECTS, or "wide": 9% spread and +2%, inconclusive in any mode."""
    if effect == "wide":
        base = [10.0 * f for f in (0.88, 1.1, 0.95, 1.05, 0.9, 1.12, 1.0, 0.93, 1.08, 0.99)]
        jitter = [1.0 + 6 * (j - 1.0) for j in JITTER]  # ~15% spread of the block ratios
        new = [b * 1.02 * j for b, j in zip(base, jitter, strict=True)] if paired else [b * 1.02 for b in base[::-1]]
        return base, new
    ratio = EFFECTS[effect]
    if not paired:
        return list(BASE), [m * ratio for m in reversed(BASE)]
    jitter = list(JITTER) if effect == "unclear" else [1.0 + (j - 1.0) / 5 for j in JITTER]
    return list(BASE), [b * ratio * j for b, j in zip(BASE, jitter, strict=True)]


def cell(
    medians_ms: list[float], busy: set[int], arm: str | None = None, activity: Activity | None = None
) -> CellRecord:
    """The fixture's first cell with one process per median; processes in `busy` carry a busy (or `activity`)
    reading and the warnings the worker writes for it."""
    template = load_result(FIXTURE).cells[0]
    processes = []
    for i, m in enumerate(medians_ms):
        reading = (BUSY if activity is None else activity) if i in busy else QUIET
        processes.append(
            replace(
                template.processes[0],
                process_index=i,
                samples_ns=(round(m * 1e6),) * 100,
                machine_activity=dict(reading),
                warnings=tuple(activity_warnings(reading, list(template.cpus))),
            )
        )
    assert template.summary is not None
    summary = replace(template.summary, process_medians_ms=tuple(medians_ms))
    # "target met": the fixture's cell stopped at a cap, which would make an inconclusive cell noisy
    return replace(template, processes=tuple(processes), summary=summary, stop_reason="target met: synthetic", arm=arm)


def doc_of(*cells: CellRecord) -> ResultDocument:
    return replace(load_result(FIXTURE), cells=cells)


def write(tmp_path: Path, name: str, doc: ResultDocument) -> str:
    path = tmp_path / name
    path.write_text(document_text(doc))
    return str(path)


ALL = set(range(10))


@dataclass(frozen=True)
class Case:
    """One row of the README table under one condition: effect, which processes were busy, what comes out."""

    name: str
    paired: bool
    effect: str
    base_busy: frozenset[int]
    new_busy: frozenset[int]
    verdict: Verdict
    said: str = ""  # a phrase the reason must contain

    def files(self, tmp_path: Path) -> list[str]:
        base, new = medians(self.effect, self.paired)
        if self.paired:
            doc = doc_of(cell(base, set(self.base_busy), "base"), cell(new, set(self.new_busy), "new"))
            return [write(tmp_path, "ab.json", doc)]
        return [
            write(tmp_path, "base.json", doc_of(cell(base, set(self.base_busy)))),
            write(tmp_path, "new.json", doc_of(cell(new, set(self.new_busy)))),
        ]


def case(name: str, paired: bool, effect: str, base: set[int], new: set[int], verdict: Verdict, said: str = "") -> Case:
    return Case(name, paired, effect, frozenset(base), frozenset(new), verdict, said)


NOISY_NOTE = "conditions were noisy"
CASES = [
    # two separate runs: an arm is busy when any of its processes is
    case("runs: slower, quiet", False, "slower", set(), set(), Verdict.REGRESSION),
    case("runs: slower, both busy", False, "slower", {3}, {0, 5}, Verdict.REGRESSION, NOISY_NOTE),
    case("runs: slower, BASE busy", False, "slower", {2}, set(), Verdict.REGRESSION, "look smaller"),
    case("runs: slower, NEW busy", False, "slower", set(), {4}, Verdict.SUSPECT, "may be that interference"),
    case("runs: same, BASE busy", False, "same", ALL, set(), Verdict.SUSPECT, "may hide a slowdown of NEW"),
    case("runs: unclear, BASE busy", False, "unclear", {1}, set(), Verdict.SUSPECT, "may hide a slowdown"),
    case("runs: faster, BASE busy", False, "faster", {1}, set(), Verdict.IMPROVEMENT, "part of the speed-up"),
    case("runs: faster, NEW busy", False, "faster", set(), {1}, Verdict.IMPROVEMENT, NOISY_NOTE),
    case("runs: same, quiet", False, "same", set(), set(), Verdict.NO_CHANGE),
    case("runs: same, both busy", False, "same", {0}, {0}, Verdict.NOISY, "measured no change"),
    case("runs: same, NEW busy", False, "same", set(), {7}, Verdict.NOISY, "measured no change"),
    case("runs: unclear, NEW busy", False, "unclear", set(), {7}, Verdict.NOISY, "measured inconclusive"),
    case("runs: unclear, quiet", False, "unclear", set(), set(), Verdict.INCONCLUSIVE, "more per arm"),
    case("runs: wide spread", False, "wide", set(), set(), Verdict.NOISY, "between-process spread"),
    # one A/B document: block i is process i of each arm
    case("ab: slower, quiet", True, "slower", set(), set(), Verdict.REGRESSION),
    case("ab: slower, every block busy", True, "slower", ALL, ALL, Verdict.REGRESSION, NOISY_NOTE),
    case("ab: slower, NEW alone in 1 of 10", True, "slower", set(), {6}, Verdict.REGRESSION, "1 in NEW's only"),
    case("ab: slower, NEW alone in 2 of 10", True, "slower", set(), {2, 6}, Verdict.RERUN_NEEDED, "2 in NEW's only"),
    case("ab: slower, NEW alone 3, BASE alone 2", True, "slower", {0, 1}, {2, 3, 4}, Verdict.REGRESSION),
    case("ab: slower, NEW alone 4, BASE alone 2", True, "slower", {0, 1}, {2, 3, 4, 5}, Verdict.RERUN_NEEDED),
    case("ab: slower, BASE alone in 5", True, "slower", {0, 2, 4, 6, 8}, set(), Verdict.REGRESSION, "look smaller"),
    case("ab: same, BASE alone in 2", True, "same", {3, 9}, set(), Verdict.RERUN_NEEDED, "may hide a slowdown"),
    case("ab: same, BASE alone in 1", True, "same", {3}, set(), Verdict.NO_CHANGE, "too even over the arms"),
    case("ab: same, NEW alone in all", True, "same", set(), ALL, Verdict.NO_CHANGE, "it cannot hide a slowdown"),
    case("ab: same, every block busy", True, "same", ALL, ALL, Verdict.NO_CHANGE, NOISY_NOTE),
    case("ab: same, quiet", True, "same", set(), set(), Verdict.NO_CHANGE),
    case("ab: unclear, BASE alone in 2", True, "unclear", {0, 5}, set(), Verdict.RERUN_NEEDED, "may hide"),
    case("ab: unclear, NEW alone in 3", True, "unclear", set(), {1, 2, 3}, Verdict.INCONCLUSIVE, NOISY_NOTE),
    case("ab: unclear, quiet", True, "unclear", set(), set(), Verdict.INCONCLUSIVE),
    case("ab: faster, BASE alone in 4", True, "faster", {1, 3, 5, 7}, set(), Verdict.IMPROVEMENT, "part of the"),
    case("ab: wide spread", True, "wide", set(), set(), Verdict.NOISY, "between-process spread"),
]


def judged(cli: Cli, files: list[str], *options: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = cli("compare", *files, "--format", "json", *options)
    (cell_json,) = json.loads(out)["cells"]
    return code, cell_json


@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_every_row_of_the_verdict_table(cli: Cli, tmp_path: Path, c: Case) -> None:
    files = c.files(tmp_path)
    code, got = judged(cli, files)
    assert (got["verdict"], got["mark"]) == (c.verdict.value, MARKS[c.verdict]), got["reason"]
    assert code == verdicts_exit_code([c.verdict])
    assert c.said in got["reason"]
    strict, _ = judged(cli, files, "--strict")
    assert strict == verdicts_exit_code([c.verdict], strict=True)
    if c.effect == "slower":  # a significant slowdown beyond the threshold never exits 0
        assert code != 0 and strict != 0


def test_the_cases_reach_every_measured_verdict() -> None:
    measured = set(Verdict) - {Verdict.FAILED, Verdict.NEWLY_FAILING, Verdict.NOT_COMPARABLE}
    assert {c.verdict for c in CASES} == measured


def test_failed_rows(cli: Cli, tmp_path: Path) -> None:
    ok = cell(list(BASE), set())
    failed = replace(ok, status="failed", error="worker killed by signal SIGSEGV")
    rows = [(ok, failed, Verdict.NEWLY_FAILING), (failed, failed, Verdict.FAILED), (failed, ok, Verdict.NOT_COMPARABLE)]
    for base, new, verdict in rows:
        files = [write(tmp_path, "base.json", doc_of(base)), write(tmp_path, "new.json", doc_of(new))]
        code, got = judged(cli, files)
        assert (got["verdict"], got["mark"], code) == (verdict.value, MARKS[verdict], verdicts_exit_code([verdict]))


def readme_table() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    start = text.index("| verdict | mark | exit | condition | what to do |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([part.strip() for part in line.strip("|").split(" | ")])
    return rows


def test_the_readme_table_gives_each_verdict_its_mark_and_exit_code() -> None:
    seen = set()
    for name, mark, exit_text, *_ in readme_table():
        plain, _, strict = exit_text.partition("; ")
        for verdict in (Verdict(v) for v in name.split(", ")):
            seen.add(verdict)
            assert mark == f"`{MARKS[verdict]}`", name
            assert int(plain) == verdicts_exit_code([verdict]), name
            assert re.fullmatch(r"(\d) with `--strict`", strict or f"{plain} with `--strict`"), exit_text
            assert int((strict or plain)[0]) == verdicts_exit_code([verdict], strict=True), name
    assert seen == set(Verdict)


# ---- the rule on its own -----------------------------------------------------------------------------------------


def test_uneven_means_a_fifth_of_the_blocks_and_at_least_two() -> None:
    assert [uneven_blocks_limit(n) for n in (2, 4, 5, 10, 11, 20, 40)] == [2, 2, 2, 2, 3, 4, 8]
    no, yes = [False] * 10, [True] * 10
    assert paired_interference(no, no) == Interference("none")
    assert paired_interference(yes, yes).side == "alike"
    one_new = paired_interference(no, [True] + [False] * 9)
    assert one_new.side == "alike" and "1 of 10 blocks (0 in both processes, 1 in NEW's only" in one_new.detail
    assert paired_interference(no, [True, True] + [False] * 8).side == "new"
    assert paired_interference([True] * 2 + [False] * 8, [False] * 2 + [True] * 3 + [False] * 5).side == "alike"
    assert paired_interference([True] * 3 + [False] * 7, no).side == "base"
    with pytest.raises(ValueError, match="one flag per process"):
        paired_interference([True], [True, False])


def test_two_runs_count_each_arm_as_a_whole() -> None:
    assert [unpaired_interference(b, n).side for b, n in itertools.product((False, True), repeat=2)] == [
        "none",
        "new",
        "base",
        "alike",
    ]


def test_noise_never_turns_a_failing_verdict_into_a_passing_one() -> None:
    measured = (Verdict.REGRESSION, Verdict.IMPROVEMENT, Verdict.NO_CHANGE, Verdict.INCONCLUSIVE)
    sides = [Interference(side, "x") for side in ("none", "alike", "base", "new")]
    for verdict, interference, paired in itertools.product(measured, sides, (False, True)):
        weighed, note = weigh_interference(verdict, interference, paired=paired)
        assert bool(note) is (interference.side != "none")
        for strict in (False, True):
            if verdicts_exit_code([verdict], strict=strict) != 0:
                assert verdicts_exit_code([weighed], strict=strict) != 0, (verdict, interference, paired)
        # interference that hit BASE more may hide a slowdown behind no change or inconclusive: exit 3
        if interference.side == "base" and verdict in (Verdict.NO_CHANGE, Verdict.INCONCLUSIVE):
            assert verdicts_exit_code([weighed]) == 3


def test_a_significant_slowdown_exits_non_zero_under_every_pattern_of_busy_blocks() -> None:
    """Every split of 10 blocks into both-hit / BASE-only / NEW-only / quiet counts, with and without a cap hit."""
    base, new = medians("slower", paired=True)
    cells = []
    for both, base_only, new_only in itertools.product(range(11), repeat=3):
        if both + base_only + new_only > 10:
            continue
        base_busy = [i < both + base_only for i in range(10)]
        new_busy = [i < both or both + base_only <= i < both + base_only + new_only for i in range(10)]
        for cap in (False, True):
            arm_b = Arm(tuple(base), process_busy=tuple(base_busy), cap_hit=cap)
            arm_n = Arm(tuple(new), process_busy=tuple(new_busy), processes_disagree=cap)
            cells.append(CellInput(f"{both}/{base_only}/{new_only}/{cap}", arm_b, arm_n, paired=True))
    # one cell per comparison: the correction across 572 cells would be another question
    for one in cells:
        result = compare_cells([one], CompareSettings(correction="none"))
        assert result.cells[0].verdict in (Verdict.REGRESSION, Verdict.RERUN_NEEDED), one.key
        assert exit_code(result) != 0 and exit_code(result, strict=True) != 0


def test_a_process_is_busy_from_the_levels_of_its_own_warnings() -> None:
    levels: list[tuple[Activity, bool]] = [
        ({"other_cpus_busy": 0.25, "own_cpus_steal": 0.0}, True),
        ({"other_cpus_busy": 0.24, "own_cpus_steal": 0.019}, False),
        (STEAL, True),
        ({"other_cpus_busy": None, "own_cpus_steal": None}, False),
        ({}, False),
    ]
    for activity, busy in levels:
        arm = arm_of(cell([10.0, 10.1], {1}, activity=activity))
        assert arm.process_busy == (False, busy) and arm.machine_busy is busy, activity
        assert bool(activity_warnings(activity, [1])) is busy


def test_an_arm_without_per_process_flags_stands_for_all_its_blocks() -> None:
    base, new = medians("slower", paired=True)
    (result,) = compare_cells([CellInput("c", Arm(tuple(base)), Arm(tuple(new), machine_busy=True), paired=True)]).cells
    assert result.verdict is Verdict.RERUN_NEEDED and "10 in NEW's only" in result.reason
    with pytest.raises(ValueError, match="one flag per process median"):
        Arm((10.0, 10.1), process_busy=(True,))


@pytest.mark.parametrize("blocks", [1, 3])
def test_an_adaptive_ab_stopped_before_its_first_look_needs_a_re_run_however_large_its_estimate(blocks: int) -> None:
    from bench.compare.sequential import SpendingPlan

    base = Arm(medians_ms=(10.0,) * blocks)
    new = Arm(medians_ms=(13.0,) * blocks)  # +30%: a point estimate, not a verdict
    settings = CompareSettings(sequential=SpendingPlan(0.05, 4))
    (judged,) = compare_cells([CellInput("b0", base, new, paired=True)], settings).cells
    assert judged.verdict is Verdict.RERUN_NEEDED and exit_code([judged]) == 3
    assert f"{blocks} block(s)" in judged.reason and "first look at 4 blocks" in judged.reason
    # four blocks reach the first look: a verdict, a regression here
    four = compare_cells(
        [CellInput("b0", Arm(medians_ms=(10.0,) * 4), Arm(medians_ms=(13.0,) * 4), paired=True)], settings
    )
    assert four.cells[0].verdict is Verdict.REGRESSION
