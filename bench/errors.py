"""The project's own exception types: user errors become one line on stderr and exit code 2."""


class EffbenchError(Exception):
    """A problem the user can fix (bad name, bad file, bad option). The message names the bad value and the fix."""

    exit_code = 2


class ExportError(EffbenchError):
    """An export ran but its result cannot be trusted (e.g. parity with PyTorch failed): exit code 1."""

    exit_code = 1
