"""The project's published result documents (results/<machine-id>/*.json), for the tests that must read them all.

Published means committed: in a git checkout only the documents git tracks count, so the documents a user's own
`effbench latency` run writes next to them (results/<machine-id>/<time>.json) cannot fail a test. Outside a
checkout (an unpacked archive) every document there counts. results/_scratch/ (ignored by git) never does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"


def published_documents() -> list[Path]:
    found = sorted(p for p in RESULTS.glob("*/*.json") if p.parent.name != "_scratch")
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", "results"], cwd=ROOT, capture_output=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return found
    tracked = {ROOT / name for name in listed.decode().split("\0") if name}
    return [p for p in found if p in tracked] if tracked else found
