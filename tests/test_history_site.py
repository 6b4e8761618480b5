"""`effbench history publish`: the static site of the history. The demo's real change point (ONNX Runtime 1.20.1 →
1.32.0, scripts/history_demo.sh) on the series page and the index, links that resolve, nothing fetched from a
network or a local file, the same bytes from the same database, the regressions list and its Atom feed, and the
folder rules (a user's folder is never replaced). tests/test_browser.py opens the same site in Chromium."""

from __future__ import annotations

import contextlib
import io
import random
import re
import tomllib
import xml.etree.ElementTree as ET
from datetime import timedelta
from importlib import resources
from pathlib import Path
from urllib.parse import unquote

import pytest

from bench.cli import main
from bench.history import index_documents
from bench.history.site import ASSETS, SITE_MARKER, publish_site
from bench.history.synthetic import START, step_factors, write_series

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "results" / "amd-epyc-cbe573dd" / "history-ort-upgrade"
DEMO_SERIES = "series/efficientnet_b0-onnxruntime-fp32-t1-amd-epyc-cbe573dd.html"
ATOM = "{http://www.w3.org/2005/Atom}"


def publish_demo(folder: Path) -> Path:
    """The demo's twelve documents indexed into folder/history.sqlite and published to folder/site."""
    db = folder / "history.sqlite"
    index_documents(db, [DEMO])
    publish_site(db, folder / "site")
    return folder / "site"


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return publish_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def slow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three synthetic series on the fake backend, 14 runs each, a step from run 8 on: machine a 10% slower,
    b 10% faster, c 10% slower a day after a."""
    folder = tmp_path_factory.mktemp("slow")
    for i, (machine, step) in enumerate((("synthetic-a", 1.10), ("synthetic-b", 0.90), ("synthetic-c", 1.10))):
        # Each its own start: the same template, run index and time would make the same run id (a copy).
        start = START + timedelta(days=i, minutes=i)
        factors = step_factors(8, 6, step, 0.005, random.Random(i))
        write_series(folder / "results", factors, machine_id=machine, start=start)
    index_documents(folder / "history.sqlite", [folder / "results"])
    return folder / "history.sqlite"


def _cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _links(text: str) -> list[str]:
    return re.findall(r'(?:href|src)="([^"#]+)"', text)


def test_index_lists_the_series_with_its_change_point(demo_site: Path) -> None:
    index = (demo_site / "index.html").read_text()
    assert f'<a href="{DEMO_SERIES}">efficientnet_b0</a>' in index
    assert 'data-machine="amd-epyc-cbe573dd" data-model="efficientnet_b0" data-runtime="onnxruntime"' in index
    assert '<span class="effect down">-30.9%</span> 2026-11-26' in index
    assert "onnxruntime 1.20.1 → 1.32.0" in index
    assert '<svg class="spark"' in index and index.count('<line class="cp"') == 1
    for name in ("machine", "model", "runtime"):
        assert f'<select data-filter="{name}">' in index


def test_series_page_shows_the_trend_change_point_and_documents(demo_site: Path) -> None:
    page = (demo_site / DEMO_SERIES).read_text()
    assert page.count("<svg") == 1 and 'id="trend-points"' in page  # matplotlib's SVG, inline
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    assert '<article class="change down">' in page
    assert "95% CI -32.1% … -29.7%, median 9.307 → 6.463 ms, p = 0.002, 6 runs before, 6 after." in page
    assert "<li>onnxruntime 1.20.1 → 1.32.0</li>" in page
    # One row per run, each with its result document; every marker of the plot has its row.
    rows = re.findall(r'<tr id="run-[0-9a-f]+" data-point="(\d+)"', page)
    assert sorted(map(int, rows)) == list(range(12))
    documents = [link for link in _links(page) if link.endswith(".json")]
    assert len(set(documents)) == 12
    names = {(demo_site / "series" / unquote(link)).resolve().name for link in documents}
    assert names == {p.name for p in DEMO.glob("*.json")}


def test_every_link_resolves_and_nothing_is_fetched(demo_site: Path) -> None:
    pages = sorted(demo_site.rglob("*.html"))
    assert len(pages) == 3  # index, regressions, one series
    for page in pages:
        text = page.read_text()
        for link in _links(text):
            assert not re.match(r"[a-z]+:", link), f"{page.name} links off the site: {link}"
            assert (page.parent / unquote(link)).exists(), f"{page.name}: {link} does not exist"
        assert "<iframe" not in text and "@import" not in text
    script = (demo_site / "effbench.js").read_text()
    assert not re.search(r"\bfetch\(|XMLHttpRequest|import\(", script)
    assert "url(" not in (demo_site / "effbench.css").read_text()  # no fonts or images to load


def test_the_same_database_gives_the_same_bytes(demo_site: Path, tmp_path: Path) -> None:
    db = demo_site.parent / "history.sqlite"
    again = tmp_path / "again"
    publish_site(db, again)
    for path in sorted(p for p in demo_site.rglob("*") if p.is_file()):
        assert (again / path.relative_to(demo_site)).read_bytes() == path.read_bytes(), path.name


def test_regressions_newest_first_and_their_atom_feed(slow_db: Path, tmp_path: Path) -> None:
    report = publish_site(slow_db, tmp_path / "site", threshold=0.05)
    assert (report.series, report.runs, report.regressions) == (3, 42, 2)
    regressions = (tmp_path / "site" / "regressions.html").read_text()
    # Newest first; the faster series is no regression.
    assert regressions.index("synthetic-c") < regressions.index("synthetic-a") and "synthetic-b" not in regressions
    assert "(2 of 3 change points" in regressions
    feed = ET.parse(tmp_path / "site" / "regressions.atom").getroot()
    assert feed.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated", "author"):
        assert feed.find(f"{ATOM}{required}") is not None, required
    entries = feed.findall(f"{ATOM}entry")
    titles = [e.findtext(f"{ATOM}title") or "" for e in entries]
    assert [t.rsplit(" · ", 1)[1] for t in titles] == ["synthetic-c", "synthetic-a"]
    assert re.match(r"\+\d+\.\d% efficientnet_b1 · fake · fp32 · 1 thread · synthetic-c$", titles[0]), titles
    ids = [e.findtext(f"{ATOM}id") or "" for e in entries]
    assert all(i.startswith("urn:uuid:") for i in ids) and len(set(ids)) == 2
    assert entries[0].findtext(f"{ATOM}updated") == feed.findtext(f"{ATOM}updated")
    for entry in entries:
        link = entry.find(f"{ATOM}link")
        assert link is not None and (tmp_path / "site" / link.attrib["href"]).is_file()
    # The threshold decides what is a regression, as for `history changes`.
    assert publish_site(slow_db, tmp_path / "site", threshold=0.5).regressions == 0


def test_a_users_folder_is_never_replaced_and_a_site_is(slow_db: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    code, _, err = _cli(["history", "publish", str(mine), "--db", str(slow_db)])
    assert code == 2 and "is not a site effbench published" in err and err.count("\n") == 1
    assert (mine / "notes.txt").read_text() == "keep me"
    site = tmp_path / "site"
    publish_site(slow_db, site)
    (site / "series" / "stale.html").write_text("from an older history")
    publish_site(slow_db, site)
    assert not (site / "series" / "stale.html").exists()
    assert (site / SITE_MARKER).is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left behind


def test_publish_command_says_what_it_wrote(slow_db: Path, tmp_path: Path) -> None:
    code, out, _ = _cli(["history", "publish", str(tmp_path / "site"), "--db", str(slow_db), "--threshold", "5%"])
    assert code == 0
    assert out.startswith("published 3 series from 42 runs (2 regression(s) above 5%) to ")
    assert (tmp_path / "site" / "index.html").resolve().as_uri() in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", "{tmp}/none.sqlite"], "no history database at"),
        (["--db", "{slow}", "--threshold", "lots"], "--threshold 'lots' is not a number"),
        (["--db", "{empty}"], "holds no runs: add result documents with 'effbench history index'"),
    ],
    ids=["no-database", "bad-threshold", "empty-history"],
)
def test_bad_input_is_one_line_exit_2(slow_db: Path, tmp_path: Path, args: list[str], message: str) -> None:
    empty = tmp_path / "empty.sqlite"
    index_documents(empty, [])
    argv = [a.format(tmp=tmp_path, slow=slow_db, empty=empty) for a in args]
    code, out, err = _cli(["history", "publish", str(tmp_path / "site"), *argv])
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "site").exists()


def test_assets_ship_as_package_data() -> None:
    # importlib.resources finds them in an installed wheel as in this checkout, if pyproject ships them.
    folder = resources.files("bench.history").joinpath("assets")
    shipped = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    globs = shipped["bench.history"]
    for name in ASSETS:
        assert folder.joinpath(name).is_file()
        assert any(Path("assets", name).match(glob) for glob in globs), name
