"""The verdicts of a comparison, their marks and exit codes, and the rule by which interference weighs on them.

The rule: noise may weaken "no change", never hide a regression. Interference (busy-CPU or steal-time warnings
in a worker's timed loop) only slows the processes it hits, so it can fake a slowdown only where it hit NEW more
than BASE, and hide one only where it hit BASE more. A verdict is downgraded only in those two cases, and then to
one that fails the gate with exit 3 (`suspect` for two separate runs, `re-run needed` for an interleaved A/B run),
never to exit 0. The README's verdict table lists every case; tests/test_verdict_table.py checks each.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Verdict(StrEnum):
    REGRESSION = "regression"
    SUSPECT = "suspect"
    RERUN_NEEDED = "re-run needed"
    IMPROVEMENT = "improvement"
    NO_CHANGE = "no change"
    INCONCLUSIVE = "inconclusive"
    NOISY = "noisy"
    FAILED = "failed"
    NEWLY_FAILING = "newly failing"
    NOT_COMPARABLE = "not comparable"


MARKS: dict[Verdict, str] = {
    Verdict.REGRESSION: "+",
    Verdict.SUSPECT: "*",
    Verdict.RERUN_NEEDED: "R",
    Verdict.IMPROVEMENT: "-",
    Verdict.NO_CHANGE: "~",
    Verdict.INCONCLUSIVE: "?",
    Verdict.NOISY: "!",
    Verdict.FAILED: "x",
    Verdict.NEWLY_FAILING: "F",
    Verdict.NOT_COMPARABLE: "x",
}

# Exit codes (2, bad input or not comparable at the file level, is raised by the CLI layer as an EffbenchError).
EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_UNDECIDED = 3

# What fails the gate whatever the options; what fails it only with --strict. A regression outranks an undecided
# cell: CI should report what it knows is wrong first.
FAILING = frozenset({Verdict.REGRESSION, Verdict.NEWLY_FAILING})
UNDECIDED = frozenset({Verdict.SUSPECT, Verdict.RERUN_NEEDED})
UNDECIDED_IF_STRICT = frozenset({Verdict.INCONCLUSIVE, Verdict.NOISY})


def verdicts_exit_code(verdicts: Iterable[Verdict], strict: bool = False) -> int:
    """1 a regression or a newly failing cell; else 3 a suspect or re-run-needed cell (or, with `strict`, an
    inconclusive or noisy one); else 0."""
    found = set(verdicts)
    if found & FAILING:
        return EXIT_REGRESSION
    if found & UNDECIDED or (strict and found & UNDECIDED_IF_STRICT):
        return EXIT_UNDECIDED
    return EXIT_OK


# ------------------------------------------------------------------------------------------ interference

Side = Literal["none", "alike", "base", "new"]

# In an A/B run, interference is lopsided when the blocks in which only one arm's process was hit outnumber those
# in which only the other arm's was by at least this share of the blocks, and never by fewer than 2. Why: a busy
# neighbour slows the process it hits by up to ~25% (the widest between-process spread seen on this host, README),
# so each lopsided block moves the mean log ratio of n blocks by up to 25%/n: at 10 blocks, 2.5% for one block,
# half the default 5% threshold and an outlier the paired t's spread already pays for; two blocks can move it by
# the whole threshold. 2 of 10 is a fifth, hence the share.
UNEVEN_SHARE = 0.2
UNEVEN_MIN_BLOCKS = 2
HIT = "busy CPU or steal time"


@dataclass(frozen=True)
class Interference:
    """Which arm the busy-CPU or steal-time warnings hit more (`side`), and the counts behind it (`detail`)."""

    side: Side
    detail: str = ""


def uneven_blocks_limit(blocks: int) -> int:
    """How many more lopsided blocks one arm needs than the other for interference to count as uneven."""
    return max(UNEVEN_MIN_BLOCKS, math.ceil(UNEVEN_SHARE * blocks))


def unpaired_interference(base_busy: bool, new_busy: bool) -> Interference:
    """Two separate runs: only each arm's overall flag counts (they ran at different times)."""
    if base_busy and new_busy:
        return Interference("alike", f"{HIT} during BASE and NEW")
    if base_busy or new_busy:
        return Interference("base" if base_busy else "new", f"{HIT} during {'BASE' if base_busy else 'NEW'} only")
    return Interference("none")


def paired_interference(base_hits: Sequence[bool], new_hits: Sequence[bool]) -> Interference:
    """An A/B run: block i is process i of each arm. Interference that hits both processes of a block cancels in
    its ratio; only an excess of blocks where one arm's process alone was hit is uneven (uneven_blocks_limit)."""
    if len(base_hits) != len(new_hits):
        raise ValueError(f"blocks need one flag per process of each arm, got {len(base_hits)} and {len(new_hits)}")
    blocks = len(base_hits)
    base_only = sum(b and not n for b, n in zip(base_hits, new_hits, strict=True))
    new_only = sum(n and not b for b, n in zip(base_hits, new_hits, strict=True))
    both = sum(b and n for b, n in zip(base_hits, new_hits, strict=True))
    if not (base_only or new_only or both):
        return Interference("none")
    detail = (
        f"{HIT} in {both + base_only + new_only} of {blocks} blocks ({both} in both processes, {new_only} in NEW's "
        f"only, {base_only} in BASE's only; uneven from {uneven_blocks_limit(blocks)} more on one side)"
    )
    if new_only - base_only >= uneven_blocks_limit(blocks):
        return Interference("new", detail)
    if base_only - new_only >= uneven_blocks_limit(blocks):
        return Interference("base", detail)
    return Interference("alike", detail)


def weigh_interference(verdict: Verdict, interference: Interference, *, paired: bool) -> tuple[Verdict, str]:
    """(the verdict under interference, what to say beside it: '' when there was none), for the verdict the
    effect alone gives: regression, improvement, no change or inconclusive."""
    side, detail = interference.side, interference.detail
    if side == "none":
        return verdict, ""
    undecided = Verdict.RERUN_NEEDED if paired else Verdict.SUSPECT
    remedy = "re-run the A/B comparison" if paired else "re-run both on a quiet machine, or use `effbench ab`"
    if verdict is Verdict.REGRESSION:
        if side == "new":
            return undecided, f"{detail}: the slowdown may be that interference; {remedy}"
        if side == "base":
            return verdict, f"{detail}: it can only have made the slowdown look smaller; confirm with a re-run"
        return verdict, f"conditions were noisy, {detail}: confirm with a re-run"
    if verdict is Verdict.IMPROVEMENT:
        if side == "base":
            return verdict, f"{detail}: part of the speed-up may be that interference; confirm with a re-run"
        return verdict, f"conditions were noisy, {detail}: confirm with a re-run"
    if side == "base":
        return undecided, f"{detail}: it may hide a slowdown of NEW; {remedy}"
    if not paired:
        return Verdict.NOISY, f"{detail}: measured {verdict.value}; {remedy}"
    # Interference on both processes of a block cancels in its ratio; on NEW's alone it can only slow NEW.
    if side == "new":
        return verdict, f"conditions were noisy, {detail}: more on NEW's processes, it cannot hide a slowdown"
    return verdict, f"conditions were noisy, {detail}: too even over the arms to make or hide a slowdown"
