"""The history site in a real browser: `effbench history publish` of the demo's documents (ONNX Runtime 1.20.1 →
1.32.0, scripts/history_demo.sh) plus two other committed runs, opened from file:// in headless Chromium (Debian's
/usr/bin/chromium, driven by Playwright; nothing downloads a browser). The index lists the series and filters them,
a click opens one, its change point is shown, the trend's points answer the pointer, nothing is requested from a
network, and the page fits a phone's width. Screenshots go to docs/ for the README.

Marked `browser`: the default run leaves it out; scripts/test-browser installs what it needs and runs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.history import index_documents
from bench.history.site import publish_site

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium package
DOCS = ROOT / "docs"
EPYC = ROOT / "results" / "amd-epyc-cbe573dd"
DOCUMENTS = [
    EPYC / "history-ort-upgrade",
    EPYC / "scaling-20261127T022840Z.json",
    ROOT / "results" / "intel-xeon-bf96a8ca" / "20261126T072619Z.json",
]
DEMO_TITLE = "efficientnet_b0 · onnxruntime · fp32 · 1 thread · amd-epyc-cbe573dd"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    index_documents(folder / "history.sqlite", DOCUMENTS)
    publish_site(folder / "history.sqlite", folder / "site")
    return folder / "site"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test-browser, which installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page that records every request and script error; requests off file:// are refused."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.requests, page.errors = [], []
    page.on("request", lambda request: page.requests.append(request.url))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    context.route("http*://**/*", lambda route: route.abort())
    yield page
    context.close()


def _rows(page: Any) -> list[str]:
    return [row.inner_text() for row in page.locator("#series tbody tr:visible").all()]


def test_index_lists_and_filters_the_series(page: Any, site: Path) -> None:
    page.goto((site / "index.html").as_uri())
    assert page.locator("h1").inner_text() == "Latency history"
    rows = _rows(page)
    assert len(rows) == 9  # the demo's series, 4 of the scaling run, 4 of the Xeon's
    demo_row = page.locator("#series tbody tr", has_text="amd-epyc-cbe573dd").filter(has_text="-30.9%")
    assert demo_row.count() == 1 and "onnxruntime 1.20.1 → 1.32.0" in demo_row.inner_text()
    assert page.locator("#shown").inner_text() == "9 of 9 series"
    page.select_option('select[data-filter="machine"]', "intel-xeon-bf96a8ca")
    assert len(_rows(page)) == 4 and all("intel-xeon-bf96a8ca" in row for row in _rows(page))
    page.select_option('select[data-filter="runtime"]', "openvino")
    assert len(_rows(page)) == 2 and page.locator("#shown").inner_text() == "2 of 9 series"
    page.select_option('select[data-filter="machine"]', "")
    page.select_option('select[data-filter="runtime"]', "")
    assert len(_rows(page)) == 9
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "history-site-index.png"))
    assert page.errors == []
    assert all(url.startswith("file://") for url in page.requests), page.requests


def test_a_click_opens_the_series_with_its_change_point(page: Any, site: Path) -> None:
    page.goto((site / "index.html").as_uri())
    page.locator("#series tbody tr", has_text="-30.9%").get_by_role("link", name="efficientnet_b0").click()
    page.wait_for_load_state()
    assert page.url.endswith("/series/efficientnet_b0-onnxruntime-fp32-t1-amd-epyc-cbe573dd.html")
    assert page.locator("h1").inner_text() == DEMO_TITLE
    change = page.locator("article.change")
    assert change.count() == 1
    text = change.inner_text()
    assert "-30.9%" in text and "95% CI -32.1% … -29.7%, median 9.307 → 6.463 ms" in text
    assert "onnxruntime 1.20.1 → 1.32.0" in text
    assert page.locator("figure.trend svg").is_visible()
    # The trend's twelfth point is the newest run: pointing at it highlights its row and shows its figures.
    points = page.locator("#trend-points use")
    assert points.count() == 12
    points.nth(11).hover()
    tip = page.locator("#tip")
    assert tip.is_visible() and "ms (95% CI" in tip.inner_text()
    assert page.locator('tr[data-point="11"]').get_attribute("class") == "hot"
    # The document link of a run opens its result file (relative link from the site to results/).
    href = page.locator('tr[data-point="0"] a', has_text="document").get_attribute("href")
    assert href is not None and (site / "series" / href).resolve().parent == (EPYC / "history-ort-upgrade")
    page.locator("h1").hover()  # no tooltip in the screenshot
    page.screenshot(path=str(DOCS / "history-site-series.png"))
    assert page.errors == []
    assert all(url.startswith("file://") for url in page.requests), page.requests


def test_the_pages_fit_a_phone_and_print_without_navigation(page: Any, site: Path) -> None:
    page.set_viewport_size({"width": 375, "height": 700})
    for name in ("index.html", "series/efficientnet_b0-onnxruntime-fp32-t1-amd-epyc-cbe573dd.html"):
        page.goto((site / name).as_uri())
        # Wide tables scroll in their own box: the page itself never needs sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, name
    page.emulate_media(media="print")
    assert not page.locator("header nav").is_visible()
    assert page.errors == []


REPORT = EPYC / "paper-20261127T021740Z.report.html"  # the committed report, as `effbench report` wrote it


def test_a_report_opens_with_its_findings(page: Any) -> None:
    """The committed paper report from file://: the summary first, its links land on their sections, Figure 1 is
    drawn near the top, backticks are <code>, nothing is fetched, and the page fits a phone's width."""
    page.goto(REPORT.as_uri())
    headings = [h.inner_text() for h in page.locator("h2").all()]
    assert headings[:3] == ["Summary", "Figure 1", "Machine"]
    summary = page.locator("#summary + ul")
    assert "against the paper's 5.7x" in summary.inner_text()
    assert summary.locator("code", has_text="resnet152").count() == 1
    summary.get_by_role("link", name="per model").click()
    assert page.url.endswith("#fastest-runtime-per-model")
    assert page.locator("#fastest-runtime-per-model").is_visible()
    assert page.locator("#figure1 svg").is_visible()
    page.goto(REPORT.as_uri())
    page.screenshot(path=str(DOCS / "report-paper.png"))
    page.set_viewport_size({"width": 375, "height": 700})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.errors == []
    assert all(url.startswith("file://") or url.startswith("data:") for url in page.requests), page.requests
