"""Ordering a history series by the git history of the code under test (`--order commit`) instead of by run
time: the position of each run's commit_under_test in `git rev-list --topo-order --reverse HEAD`."""

from __future__ import annotations

import bisect
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import EffbenchError
from bench.history.query import SeriesKey, SeriesPoint

ORDERS = ("time", "commit")


@dataclass(frozen=True)
class CommitOrder:
    """Every commit reachable from HEAD, oldest first (parents before children, as --topo-order guarantees)."""

    commits: tuple[str, ...]
    positions: dict[str, int] = field(init=False, repr=False, compare=False)
    by_hash: tuple[str, ...] = field(init=False, repr=False, compare=False)  # sorted: prefix search

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", {c: i for i, c in enumerate(self.commits)})
        object.__setattr__(self, "by_hash", tuple(sorted(self.commits)))

    def position(self, commit: str | None) -> int | None:
        """The commit's place in the history, None when it is not there. An abbreviated hash (7 or more hex
        digits, as `git log --oneline` shows) is found when it names one commit only."""
        if not commit:
            return None
        commit = commit.strip().lower()
        found = self.positions.get(commit)
        if found is not None or len(commit) < 7:
            return found
        at = bisect.bisect_left(self.by_hash, commit)
        matches = [c for c in self.by_hash[at : at + 2] if c.startswith(commit)]
        return self.positions[matches[0]] if len(matches) == 1 else None


def read_commit_order(repo: Path | None = None) -> CommitOrder:
    """The history of HEAD in `repo` (default: the current folder), read once with git, quietly.
    EffbenchError (one line) when there is no git, no repository or no commit."""
    try:
        done = subprocess.run(
            ["git", "rev-list", "--topo-order", "--reverse", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise EffbenchError(
            f"--order commit needs git, which could not be run ({exc.strerror or exc}): use --order time"
        ) from None
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["git rev-list HEAD failed"])[0]
        where = Path(repo) if repo is not None else Path.cwd()
        raise EffbenchError(
            f"--order commit orders runs by the git history of the current folder, but {where} has none "
            f"({why}): run it inside the checkout of the code under test, or use --order time"
        )
    return CommitOrder(tuple(done.stdout.split()))


def order_by_commit(
    series: Mapping[SeriesKey, Sequence[SeriesPoint]], order: CommitOrder
) -> tuple[dict[SeriesKey, list[SeriesPoint]], list[SeriesPoint]]:
    """Each series' runs in commit order (runs of one commit keep their time order), and the runs whose
    commit under test is missing or not in the history: those go last, in time order."""
    ordered: dict[SeriesKey, list[SeriesPoint]] = {}
    unplaced: list[SeriesPoint] = []
    for key, points in series.items():
        places = [order.position(p.commit_under_test) for p in points]
        unplaced.extend(p for p, place in zip(points, places, strict=True) if place is None)
        # sorted() is stable and the points come in time order: ties (one commit, or no place) keep it.
        ranked = sorted(zip(places, points, strict=True), key=lambda item: (item[0] is None, item[0] or 0))
        ordered[key] = [point for _, point in ranked]
    return ordered, unplaced


def unplaced_note(unplaced: Sequence[SeriesPoint]) -> str:
    """One line for stderr about the runs --order commit could not place."""
    runs = sorted({(p.run_id, p.commit_under_test) for p in unplaced}, key=lambda r: r[0])
    missing = sum(1 for _, commit in runs if not commit)
    foreign = sorted({commit[:12] for _, commit in runs if commit})
    parts = []
    if foreign:
        shown = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
        parts.append(f"{len(runs) - missing} with a commit not in the history of HEAD ({shown})")
    if missing:
        parts.append(f"{missing} without a commit under test")
    return f"note: {len(runs)} run(s) shown last, in time order: {' and '.join(parts)}"
