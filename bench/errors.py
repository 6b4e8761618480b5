"""The project's own exception types: user errors become one line on stderr and exit code 2; message helpers."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class EffbenchError(Exception):
    """A problem the user can fix (bad name, bad file, bad option). The message names the bad value and the fix."""

    exit_code = 2


class ExportError(EffbenchError):
    """An export ran but its result cannot be trusted (e.g. parity with PyTorch failed): exit code 1."""

    exit_code = 1


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's text (at most 300 characters), for one-line error messages."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


def nearest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to a misspelled `word`, or None when nothing is close (difflib's ratio >= 0.6)."""
    close = difflib.get_close_matches(word.lower(), [str(c) for c in choices], n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """The suffix " (did you mean 'x'?)" for an error message, or an empty string when no choice is close."""
    guess = nearest(word, choices)
    return f" (did you mean '{guess}'?)" if guess else ""
