"""Multiple-comparison control across the cells of one comparison: Holm (family-wise) or Benjamini–Hochberg (FDR).

Pure Python, no I/O. A suite compares tens of cells at once; at α = 0.05 each, twenty unchanged cells would give
a 64% chance of at least one false verdict. The adjusted p-values are compared with α directly.

Holm is the default because a CI job fails on any one false regression, which is a family-wise question.
scripts/compare_simulation.py, suites of 20 cells (19 unchanged, 1 slowed by 10%), 9 processes per arm, 400
suites on the same draws: at 3% between-process spread Holm / BH / none give 0.8 / 0.8 / 1.2% of suites with a
false regression and catch the slow cell in 100%; at 5% spread 4.0 / 6.5 / 29.5% and 76 / 78 / 97%. (The
threshold on the point estimate does most of the work at low spread; the correction matters when processes
disagree.) BH suits large exploratory comparisons where a few false flags among many real changes are fine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Correction = Literal["holm", "bh", "none"]

CORRECTIONS: dict[str, str] = {
    "holm": "Holm (family-wise error rate)",
    "bh": "Benjamini–Hochberg (false discovery rate)",
    "none": "none (each cell at α on its own)",
}


def _check(p_values: Sequence[float]) -> list[float]:
    values = [float(p) for p in p_values]
    for p in values:
        if not 0.0 <= p <= 1.0:  # also refuses NaN
            raise ValueError(f"p-values must lie in [0, 1], got {p}")
    return values


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order.

    Sorted ascending, the k-th smallest (k from 0) becomes max over j ≤ k of min(1, (m - j) p_(j)): rejecting
    where the adjusted value is below α controls the chance of any false rejection at α, whatever the dependence
    between cells (cells of one run share the machine, so they are not independent).
    """
    values = _check(p_values)
    m = len(values)
    order = sorted(range(m), key=lambda i: values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[index]))
        adjusted[index] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg step-up adjusted p-values (q-values), in the input order.

    Sorted ascending, the k-th smallest (k from 1) becomes min over j ≥ k of min(1, m p_(j) / j): rejecting where
    it is below α keeps the expected share of false verdicts among the flagged cells at α (for independent or
    positively dependent tests). More power than Holm when many cells really changed, at the price of allowing
    some false ones among them.
    """
    values = _check(p_values)
    m = len(values)
    order = sorted(range(m), key=lambda i: values[i])
    adjusted = [0.0] * m
    running = 1.0
    for rank in range(m - 1, -1, -1):
        index = order[rank]
        running = min(running, m * values[index] / (rank + 1))
        adjusted[index] = min(1.0, running)
    return adjusted


def adjust_p_values(p_values: Sequence[float], method: Correction = "holm") -> list[float]:
    """Adjusted p-values by `method`: "holm" (the default), "bh", or "none" (unchanged)."""
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    if method == "none":
        return _check(p_values)
    raise ValueError(f"unknown multiple-comparison correction '{method}'; known: {', '.join(CORRECTIONS)}")
