"""How many processes per arm a comparison needs: a two-sample power calculation on log medians.

Pure scipy, no I/O. Used to turn an inconclusive verdict into advice ("about 4 more processes per arm").
"""

from __future__ import annotations

import math

# More processes than this per arm is not advice anyone can follow in CI; report it as "at least this many".
MAX_PROCESSES = 1000


def processes_needed(spread: float, threshold: float, *, alpha: float = 0.05, power: float = 0.9) -> int:
    """Processes per arm for Welch's one-sided test at `alpha` to detect a change of `threshold` (0.05 = 5%) with
    probability `power`, when the between-process standard deviation of log medians is `spread`.

    The smallest n ≥ 2 (t_{1-α, ν} + t_{power, ν})² σ² / δ² with δ = log(1 + threshold) and ν = 2n - 2 (the t
    quantiles, not z, are what make 3-process cells so hopeless). With that n, a true "no change" comes out with
    its whole (1 - 2α) CI inside ±threshold with probability about 2 power - 1 (0.8 for 0.9): both need the CI's
    half-width plus `power`'s margin to fit within δ. Never fewer than the processes the permutation guard needs
    to reach `alpha` at all (4 per arm at 0.05: 1 / C(8, 4) = 0.014).
    """
    from scipy import stats as sps

    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError(f"alpha and power must lie strictly between 0 and 1, got {alpha} and {power}")
    if threshold <= 0.0 or not math.isfinite(threshold):
        raise ValueError(f"threshold must be a positive fraction (0.05 = 5%), got {threshold}")
    if spread < 0.0 or math.isnan(spread):
        raise ValueError(f"spread must be non-negative, got {spread}")
    floor = min_processes_for_permutation(alpha)
    if spread == 0.0:
        return floor
    if math.isinf(spread):
        return MAX_PROCESSES
    delta = math.log1p(threshold)
    ratio = (spread / delta) ** 2
    z = float(sps.norm.ppf(1.0 - alpha) + sps.norm.ppf(power))
    # Smallest n with n ≥ 2 (σ/δ)² (t_{1-α} + t_power)² at ν = 2n - 2. The t quantiles exceed z, so the normal
    # answer is a lower bound to start from; they shrink as n grows, so counting up finds the first n that fits.
    n = max(floor, math.ceil(2.0 * ratio * z * z))
    while n < MAX_PROCESSES:
        dof = 2 * n - 2
        t_sum = float(sps.t.ppf(1.0 - alpha, dof) + sps.t.ppf(power, dof))
        if n >= 2.0 * ratio * t_sum * t_sum:
            return n
        n += 1
    return MAX_PROCESSES


def min_processes_for_permutation(alpha: float) -> int:
    """Fewest processes per arm (equal arms) for which the exact one-sided permutation test can give p < alpha:
    its smallest p-value is 1 / C(2n, n) (0.05 for 3 vs 3, 0.014 for 4 vs 4)."""
    n = 2
    while 1.0 / math.comb(2 * n, n) >= alpha and n < MAX_PROCESSES:
        n += 1
    return n


def min_blocks_for_sign_flip(alpha: float) -> int:
    """Fewest blocks of a paired A/B run for which the exact one-sided sign-flip test can give p < alpha: its
    smallest p-value is 1 / 2^n (0.0625 for 4 blocks, 0.031 for 5)."""
    n = 2
    while 0.5**n >= alpha and n < MAX_PROCESSES:
        n += 1
    return n
