"""The project's published result documents (results/<machine-id>/*.json), for the tests that must read them all.

results/_scratch/ holds scratch runs (ignored by git) and is left out, so a local scratch run cannot fail a test
that CI would pass.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "results"


def published_documents() -> list[Path]:
    return sorted(p for p in RESULTS.glob("*/*.json") if p.parent.name != "_scratch")
