"""Changes in the history's series: where each series steps (bench.history.changepoint), by how much, and
what else differed between the last run before and the first run after (runtime versions, effbench, model,
machine settings), so a step can be blamed on an upgrade rather than on the code under test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.history.changepoint import ALPHA, StepSize, detect_change_points, step_size
from bench.history.query import SeriesKey, SeriesPoint
from bench.history.rows import ENVIRONMENT_KEYS


@dataclass(frozen=True)
class Change:
    key: SeriesKey
    before: SeriesPoint  # the last run of the old level
    after: SeriesPoint  # the first run of the new level
    step: StepSize  # new level / old level, over the whole segments on either side
    p_value: float
    context: tuple[str, ...]  # what else changed between `before` and `after`

    @property
    def percent(self) -> float:
        return (self.step.ratio - 1.0) * 100.0

    def is_slowdown(self, threshold: float) -> bool:
        """Latency went up by more than `threshold` (0.05 = 5%): what `history changes` exits 1 on. The runs'
        warnings do not enter it, so noise never hides a step the change-point test found (bench.compare.rule)."""
        return self.step.ratio > 1.0 + threshold


def _short(value: Any) -> str:
    if value is None or value == "":
        return "none"
    text = str(value)
    # Hashes (commits, fingerprints) are shown as their first 12 digits, as git does.
    return text[:12] if len(text) >= 32 and all(c in "0123456789abcdef" for c in text) else text


def _diff_maps(before: Mapping[str, Any], after: Mapping[str, Any], suffix: str = "") -> list[str]:
    return [
        f"{name} {_short(before.get(name))} → {_short(after.get(name))}{suffix}"
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]


def what_changed(before: SeriesPoint, after: SeriesPoint) -> tuple[str, ...]:
    """What differs between two runs of one series, besides the code under test, as short phrases."""
    notes = _diff_maps(before.versions, after.versions)
    loaded = set(before.versions) | set(after.versions)
    others_before = {k: v for k, v in before.runtimes.items() if k not in loaded}
    others_after = {k: v for k, v in after.runtimes.items() if k not in loaded}
    notes += _diff_maps(others_before, others_after, " (installed)")
    pairs = (
        ("effbench", before.effbench_version, after.effbench_version),
        ("effbench commit", before.effbench_commit, after.effbench_commit),
        ("model fingerprint", before.model_fingerprint, after.model_fingerprint),
        ("effective precision", before.effective_precision, after.effective_precision),
        ("CPUs", ",".join(map(str, before.cpus)), ",".join(map(str, after.cpus))),
    )
    for name, old, new in pairs:
        if old != new:
            notes.append(f"{name} {_short(old)} → {_short(new)}")
    if before.model_fingerprint == after.model_fingerprint and before.artifact_sha256 != after.artifact_sha256:
        notes.append(f"artifact sha256 {_short(before.artifact_sha256)} → {_short(after.artifact_sha256)}")
    if before.machine_fingerprint != after.machine_fingerprint:
        env_before = {k: before.environment.get(k) for k in ENVIRONMENT_KEYS}
        env_after = {k: after.environment.get(k) for k in ENVIRONMENT_KEYS}
        notes += [f"machine: {note}" for note in _diff_maps(env_before, env_after)] or ["machine settings"]
    return tuple(notes)


def series_changes(
    key: SeriesKey, points: Sequence[SeriesPoint], *, alpha: float = ALPHA, seed: int = 0
) -> list[Change]:
    """The changes of one series: its measured runs in the order given (time, or commit with --order commit)."""
    runs = [p for p in points if p.measured]
    values = [float(p.median_ms or 0.0) for p in runs]
    cuts = detect_change_points(values, alpha=alpha, seed=seed)
    bounds = [0, *(c.index for c in cuts), len(runs)]
    changes = []
    for i, cut in enumerate(cuts):
        start, index, stop = bounds[i], bounds[i + 1], bounds[i + 2]
        step = step_size(values[start:index], values[index:stop])
        before, after = runs[index - 1], runs[index]
        changes.append(Change(key, before, after, step, cut.p_value, what_changed(before, after)))
    return changes


def find_changes(
    series: Mapping[SeriesKey, Sequence[SeriesPoint]],
    *,
    since: str | None = None,
    alpha: float = ALPHA,
    seed: int = 0,
) -> list[Change]:
    """Changes in every series, those whose first new run is at or after `since` (ISO UTC) when given.

    Detection always uses a series' whole history: `since` chooses which changes to report, not which runs
    are evidence.
    """
    found: list[Change] = []
    for key, points in series.items():
        for change in series_changes(key, points, alpha=alpha, seed=seed):
            if since is None or change.after.created >= since:
                found.append(change)
    return found
