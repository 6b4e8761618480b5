#!/usr/bin/env python3
"""How long `effbench history index` takes on 1,000 result documents: a first build, an incremental run
with nothing new, a --rebuild, and a query plus change detection over the biggest series.

The documents are copies of a real committed result (by default the largest under results/, a few cells and
several hundred samples per cell) with their samples scaled, written with bench.results.write_result.

    python scripts/history_bench.py --documents 1000
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.document import document_from_json
from bench.history import (
    find_changes,
    group_series,
    index_documents,
    open_database,
    query_points,
    resolve_filter,
)
from bench.history.synthetic import START, fake_document, scaled_document
from bench.results import load_result, write_result

ROOT = Path(__file__).resolve().parent.parent


def _template(path: Path | None) -> tuple[dict, str]:
    if path is None:
        committed = sorted((ROOT / "results").glob("*/*.json"), key=lambda p: p.stat().st_size)
        path = committed[-1] if committed else None
    if path is None:
        return fake_document(), "a fake-backend document"
    return load_result(path).to_dict(), str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--template", type=Path, help="result document to copy (default: the largest committed)")
    parser.add_argument("--folder", type=Path, help="where to write the documents (default: a temporary folder)")
    args = parser.parse_args()
    template, source = _template(args.template)
    with tempfile.TemporaryDirectory(prefix="effbench-history-bench-") as tmp:
        folder = args.folder or Path(tmp)
        results = folder / "results"
        rng = random.Random(0)
        start = time.perf_counter()
        size = 0
        for i in range(args.documents):
            factor = rng.lognormvariate(0, 0.02)
            doc = scaled_document(template, factor, created=START + timedelta(hours=i), index=i, label=f"run-{i:04d}")
            size += write_result(document_from_json(doc), None, results).stat().st_size
        written = time.perf_counter() - start
        cells = len(template["cells"])
        print(f"{args.documents} documents of {cells} cells copied from {source}: {size / 1e6:.0f} MB, written in "
              f"{written:.1f} s")  # fmt: skip
        db = results / "history.sqlite"
        for name, rebuild in (("first build", False), ("incremental, nothing new", False), ("--rebuild", True)):
            start = time.perf_counter()
            report = index_documents(db, [results], rebuild=rebuild)
            elapsed = time.perf_counter() - start
            print(f"{name:>26}: {elapsed:6.2f} s ({len(report.added)} added, {report.unchanged} already there, "
                  f"{len(report.skipped)} skipped)")  # fmt: skip
        print(f"{'database size':>26}: {db.stat().st_size / 1e6:.1f} MB")
        start = time.perf_counter()
        conn = open_database(db)
        first = template["cells"][0]
        series = group_series(query_points(conn, resolve_filter(conn, model=first["model"])))
        changes = find_changes(series)
        conn.close()
        runs = sum(len(p) for p in series.values())
        print(f"{'query + changes':>26}: {time.perf_counter() - start:6.2f} s ({len(series)} series, {runs} runs, "
              f"{len(changes)} changes found in pure noise)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
