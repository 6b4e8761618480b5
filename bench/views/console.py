"""Where views are printed: a rich console that is not squeezed to 80 columns when piped, and `emit`."""

from __future__ import annotations

import sys
from typing import Any

# A piped or captured console has no width of its own; rich assumes 80, which would fold the latency table.
PIPED_MIN_WIDTH = 180


def make_console(*, stderr: bool = False, highlight: bool = False, min_width: int = PIPED_MIN_WIDTH) -> Any:
    """A rich Console on stdout (or stderr): the terminal's width, or at least `min_width` when piped."""
    from rich.console import Console

    console = Console(stderr=stderr, highlight=highlight)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=highlight, width=max(console.width, min_width))
    return console


def emit(view: Any, console: Any = None, *, stderr: bool = False) -> None:
    """Print what a view returned: text as it is (md, csv, json stay byte-exact), a renderable on a console."""
    if isinstance(view, str):
        (sys.stderr if stderr else sys.stdout).write(view)
        return
    # crop=False: lines a view marks no_wrap (warnings) stay whole beyond the width instead of being cut.
    (console or make_console(stderr=stderr)).print(view, crop=False)


def print_rows(rows: Any, columns: Any, fmt: str, title: str | None = None) -> None:
    """Rows in one of bench.views.tables.FORMATS on stdout: the whole of a plain listing command's output."""
    from bench.views.tables import render_rows

    emit(render_rows(rows, columns, fmt, title), make_console(highlight=True, min_width=160))
