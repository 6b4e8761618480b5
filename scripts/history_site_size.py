#!/usr/bin/env python3
"""How big `effbench history publish` makes a site of 1,000 result documents, and how long it takes.

The documents are fake-backend series from bench.history.synthetic: --series series (models × machines), each of
--documents / --series runs with 2% run-to-run noise; every other series steps +8% (a regression) and the rest -10%
two thirds of the way along, so the site has change points, a regressions list and a feed to show.

    python scripts/history_site_size.py --documents 1000 --series 10
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.history import index_documents
from bench.history.site import publish_site
from bench.history.synthetic import START, fake_document, step_factors, write_series

MODELS = ("efficientnet_b0", "efficientnet_b1", "efficientnet_b3", "resnet50", "mobilenet_v2")


def write_documents(results: Path, documents: int, series: int) -> int:
    """Write the synthetic series under `results`; returns the bytes written."""
    runs = documents // series
    rng = random.Random(0)
    size = 0
    for i in range(series):
        model = MODELS[i % len(MODELS)]
        template = fake_document(model, base_ms=5.0 + 3.0 * (i % len(MODELS)), seed=i)
        before = runs * 2 // 3
        factors = step_factors(before, runs - before, 1.08 if i % 2 == 0 else 0.90, 0.02, rng)
        machine = f"synthetic-cpu-{i // len(MODELS):08d}"
        paths = write_series(results, factors, template=template, machine_id=machine,
                             start=START + timedelta(minutes=i), every=timedelta(hours=6))  # fmt: skip
        size += sum(p.stat().st_size for p in paths)
    return size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--series", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="write the documents, database and site here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="effbench-site-size-") as tmp:
        folder = args.keep or Path(tmp)
        results = folder / "results"
        size = write_documents(results, args.documents, args.series)
        print(f"{args.documents} documents in {args.series} series: {size / 1e6:.0f} MB")
        db = results / "history.sqlite"
        index_documents(db, [results])
        start = time.perf_counter()
        report = publish_site(db, folder / "site")
        elapsed = time.perf_counter() - start
        pages = sorted((p for p in report.folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
        largest = pages[-1]
        print(
            f"site: {report.files} files, {report.size_bytes / 1e6:.2f} MB ({report.series} series, {report.runs} "
            f"runs, {report.regressions} regressions) in {elapsed:.1f} s; largest file "
            f"{largest.relative_to(report.folder)} {largest.stat().st_size / 1e3:.0f} kB; index.html "
            f"{(report.folder / 'index.html').stat().st_size / 1e3:.0f} kB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
