"""Statistics and verdicts of `effbench compare` / `effbench ab`: pure functions over per-process medians.

cells = [CellInput("b0 · onnxruntime", base=Arm(medians_ms=(...)), new=Arm(medians_ms=(...)))]
result = compare_cells(cells, CompareSettings(threshold=0.05))
result.cells[0].verdict, result.cells[0].mark, result.summary.line(), exit_code(result, strict=False)

documents (result documents to CellInputs) → effect (ratio, CI, tests) → multiple (Holm/BH across cells) →
verdict (each cell's verdict; power sizes the "more processes" advice) → rule (what busy-CPU or steal-time
warnings do to a verdict, and each verdict's exit code). sequential: the α each look of an adaptive A/B spends.
"""

from bench.compare.cells import CellStatus
from bench.compare.effect import (
    Effect,
    measure_effect,
    measure_paired_effect,
    p90_ratio,
    permutation_p_value,
    sign_flip_p_values,
)
from bench.compare.multiple import CORRECTIONS, Correction, adjust_p_values, benjamini_hochberg, holm
from bench.compare.power import min_processes_for_permutation, processes_needed
from bench.compare.rule import EXIT_OK, EXIT_REGRESSION, EXIT_UNDECIDED, MARKS, Verdict
from bench.compare.verdict import (
    NOISY_SPREAD,
    Arm,
    CellComparison,
    CellInput,
    CompareSettings,
    Comparison,
    ComparisonSummary,
    compare_cells,
    exit_code,
    summarize_verdicts,
)

__all__ = [
    "CORRECTIONS",
    "EXIT_OK",
    "EXIT_REGRESSION",
    "EXIT_UNDECIDED",
    "MARKS",
    "NOISY_SPREAD",
    "Arm",
    "CellComparison",
    "CellInput",
    "CellStatus",
    "CompareSettings",
    "Comparison",
    "ComparisonSummary",
    "Correction",
    "Effect",
    "Verdict",
    "adjust_p_values",
    "benjamini_hochberg",
    "compare_cells",
    "exit_code",
    "holm",
    "measure_effect",
    "measure_paired_effect",
    "min_processes_for_permutation",
    "p90_ratio",
    "permutation_p_value",
    "processes_needed",
    "sign_flip_p_values",
    "summarize_verdicts",
]
