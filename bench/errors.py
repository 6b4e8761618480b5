"""The project's own exception types: user errors become one line on stderr and exit code 2."""


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
