"""Number formatting shared by the views: milliseconds with sensible digits, durations in ms or s, file sizes."""

from __future__ import annotations

from collections.abc import Sequence

MISSING = "–"  # shown where a value is absent (a skipped cell has no median)


def format_ms(value: float | None) -> str | None:
    """Latency in ms with 4 significant digits up to 1000 ms: 0.123, 19.91, 257.3 (None stays None)."""
    if value is None:
        return None
    return f"{value:.3f}" if value < 10 else f"{value:.2f}" if value < 100 else f"{value:.1f}"


def format_seconds(value: float | None) -> str:
    """A duration given in seconds, as "350 ms" below a second and "1.25 s" above."""
    if value is None:
        return MISSING
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def format_size(size: float) -> str:
    """Bytes in kB, MB or GB (decimal units, as `ls -h --si` and the export summary print them)."""
    if size >= 1e9:
        return f"{size / 1e9:.1f} GB"
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"


def upper_median(values: Sequence[float]) -> float | None:
    """The middle value (the upper one of an even count: an observed value, not an average); None if empty."""
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else None
