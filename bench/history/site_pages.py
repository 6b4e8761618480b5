"""The history site's pages as text: the index of series, a page per series, the regressions list and its Atom
feed (bench.history.site gathers the series and writes the files)."""

from __future__ import annotations

import html
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from bench import __version__
from bench.history.changes import Change
from bench.history.query import SeriesPoint
from bench.history.site_plots import sparkline, trend_svg
from bench.history.views import change_mark
from bench.views.format import MISSING, format_ms

if TYPE_CHECKING:
    from bench.history.site import SeriesView

RECENT_ROWS = 50  # a series page lists its newest runs; the script's button shows the rest
_MARK_CLASS = {"+": "up", "-": "down", "~": "flat"}


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _when(point: SeriesPoint) -> str:
    return point.created[:16].replace("T", " ")


def _ms(value: float | None) -> str:
    return format_ms(value) or MISSING


def _ci(point: SeriesPoint) -> str:
    if point.ci_low_ms is None or point.ci_high_ms is None:
        return MISSING
    return f"{_ms(point.ci_low_ms)}–{_ms(point.ci_high_ms)}"


def _step(change: Change, percent: bool = True) -> str:
    step = change.step
    ci = f"95% CI {(step.low - 1) * 100:+.1f}% … {(step.high - 1) * 100:+.1f}%"
    medians = f"median {_ms(step.median_before)} → {_ms(step.median_after)} ms"
    return f"{change.percent:+.1f}% ({ci}), {medians}" if percent else f"{ci}, {medians}"


def _run_name(point: SeriesPoint) -> str:
    """The run's label or commit and its time, or only its time when it has neither."""
    when = _when(point)
    return when if point.run_name == when else f"{point.run_name} ({when})"


def what_changed(change: Change) -> list[str]:
    """What else differed at a change point: the commit under test first, then runtimes, effbench, model, machine."""
    old, new = change.before.commit_under_test, change.after.commit_under_test
    notes = [f"commit {(old or 'none')[:12]} → {(new or 'none')[:12]}"] if old != new else []
    return notes + list(change.context)


def _effect(change: Change, threshold: float) -> str:
    mark = change_mark(change, threshold)
    return f'<span class="effect {_MARK_CLASS[mark]}">{change.percent:+.1f}%</span>'


def page(title: str, body: str, root: str) -> str:
    """A whole page around `body`: the shared stylesheet and script, and the links every page has."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<link rel="stylesheet" href="{root}effbench.css">
<link rel="alternate" type="application/atom+xml" title="effbench regressions" href="{root}regressions.atom">
</head>
<body>
<header><nav><a href="{root}index.html">All series</a> <a href="{root}regressions.html">Regressions</a> \
<a href="{root}regressions.atom">Atom feed</a></nav></header>
<main>
{body}
</main>
<footer>effbench {_e(__version__)} · history site · every figure comes from the result documents each series page \
links</footer>
<script src="{root}effbench.js"></script>
</body>
</html>
"""


# ------------------------------------------------------------------------------------------------- the index


def _filter(name: str, label: str, values: Sequence[str]) -> str:
    options = "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in sorted(set(values)))
    return f'<label>{label} <select data-filter="{name}"><option value="">all</option>{options}</select></label>'


def _index_row(view: SeriesView, threshold: float) -> str:
    key, measured = view.key, view.measured
    latest = measured[-1] if measured else None
    last = view.changes[-1] if view.changes else None
    change = (
        f"{_effect(last, threshold)} {_e(last.after.created[:10])}"
        + (f' <span class="why">{_e(what_changed(last)[0])}</span>' if what_changed(last) else "")
        if last
        else '<span class="none">none</span>'
    )
    arm = f' <span class="badge">A/B {_e(key.arm)}</span>' if key.arm else ""
    return (
        f'<tr data-machine="{_e(key.machine_id)}" data-model="{_e(key.model)}" data-runtime="{_e(key.backend)}">'
        f'<td><a href="series/{_e(view.slug)}.html">{_e(key.model)}</a>{arm}</td><td>{_e(key.backend)}</td>'
        f'<td>{_e(key.precision)}</td><td class="num">{key.threads}</td><td class="nowrap">{_e(key.machine_id)}</td>'
        f'<td class="num">{len(view.points)}</td><td class="num">{_ms(latest.median_ms if latest else None)}</td>'
        f'<td class="num">{_ci(latest) if latest else MISSING}</td><td>{sparkline(view)}</td><td>{change}</td></tr>'
    )


def index_page(views: Sequence[SeriesView], threshold: float, regressions: int) -> str:
    runs = {p.run_id: p.created for v in views for p in v.points}
    machines = {v.key.machine_id for v in views}
    span = f"{min(runs.values())[:10]} to {max(runs.values())[:10]}" if runs else "no runs"
    rows = "\n".join(_index_row(v, threshold) for v in views)
    body = f"""<h1>Latency history</h1>
<p class="lede">{len(views)} series on {len(machines)} machine{"s" if len(machines) != 1 else ""} from {len(runs)} \
runs, {span} (UTC). <a href="regressions.html">{regressions} regression{"s" if regressions != 1 else ""}</a> \
above {threshold:.0%}. Medians and 95% CIs in ms; a change point is a step the history's permutation test finds.</p>
<form class="filters" aria-label="filter the series">
{_filter("machine", "Machine", [v.key.machine_id for v in views])}
{_filter("model", "Model", [v.key.model for v in views])}
{_filter("runtime", "Runtime", [v.key.backend for v in views])}
<output id="shown" aria-live="polite">{len(views)} of {len(views)} series</output>
</form>
<div class="scroll"><table class="series" id="series">
<thead><tr><th>model</th><th>runtime</th><th>precision</th><th class="num">threads</th><th>machine</th>\
<th class="num">runs</th><th class="num">latest ms</th><th class="num">95% CI ms</th><th>trend</th>\
<th>last change point</th></tr></thead>
<tbody>
{rows}
</tbody></table></div>"""
    return page("effbench latency history", body, "")


# ------------------------------------------------------------------------------------------ a series' page


def _document_link(point: SeriesPoint, documents: Mapping[str, str], root: str) -> str:
    href = documents.get(point.run_id)
    return f'<a href="{root}{_e(href)}">document</a>' if href else MISSING


def _change_article(change: Change, threshold: float, documents: Mapping[str, str]) -> str:
    step = change.step
    changed = "".join(f"<li>{_e(note)}</li>" for note in what_changed(change)) or "<li>nothing recorded</li>"
    before, after = change.before, change.after
    return f"""<article class="change {_MARK_CLASS[change_mark(change, threshold)]}">
<h3>{_effect(change, threshold)} at {_e(_run_name(after))}</h3>
<p>{_e(_step(change, percent=False))}, p = {change.p_value:.3f}, {step.n_before} runs before, {step.n_after} after.</p>
<p>Between <a href="#run-{_e(before.run_id)}">{_e(_run_name(before))}</a> \
({_document_link(before, documents, "../")}) and <a href="#run-{_e(after.run_id)}">{_e(_run_name(after))}</a> \
({_document_link(after, documents, "../")}). What changed:</p>
<ul class="changed">{changed}</ul>
</article>"""


def _run_row(point: SeriesPoint, number: int | None, older: bool, documents: Mapping[str, str]) -> str:
    rel = ""
    if point.median_ms and point.ci_low_ms is not None and point.ci_high_ms is not None:
        rel = f"±{(point.ci_high_ms - point.ci_low_ms) / 2 / point.median_ms:.1%}"
    runtime = ", ".join(f"{name} {str(v).split('-')[0]}" for name, v in sorted(point.versions.items()))
    attrs = f' data-point="{number}"' if number is not None else ""
    tip = f"{point.run_name} · {_when(point)} · {_ms(point.median_ms)} ms (95% CI {_ci(point)})"
    attrs += ' class="older"' if older else ""
    return (
        f'<tr id="run-{_e(point.run_id)}"{attrs} data-tip="{_e(tip)}">'
        f"<td>{_e(_when(point))}</td><td>{_e(point.label or MISSING)}</td>"
        f"<td><code>{_e((point.commit_under_test or MISSING)[:12])}</code></td>"
        f'<td class="num">{_ms(point.median_ms)}</td><td class="num">{_ci(point)}</td><td class="num">{rel}</td>'
        f'<td class="num">{point.n_processes}</td><td>{_e(point.status)}</td><td>{_e(runtime)}</td>'
        f"<td>{_e(point.effbench_version or MISSING)}</td><td>{_document_link(point, documents, '../')}</td></tr>"
    )


def series_page(view: SeriesView, threshold: float, documents: Mapping[str, str]) -> str:
    key, measured = view.key, view.measured
    numbers = {p.run_id: i for i, p in enumerate(measured)}
    first_shown = max(0, len(view.points) - RECENT_ROWS)
    rows = "\n".join(
        _run_row(p, numbers.get(p.run_id), i < first_shown, documents)
        for i, p in reversed(list(enumerate(view.points)))
    )
    toggle = (
        f'<p><button type="button" data-toggle="older">show all {len(view.points)} runs</button></p>'
        if first_shown
        else ""
    )
    changes = "\n".join(_change_article(c, threshold, documents) for c in reversed(view.changes))
    latest = measured[-1] if measured else None
    figure = (
        f'<figure class="trend">{trend_svg(view)}<figcaption>Each run\'s median and 95% CI in ms; point at a run to '
        "see it below.</figcaption></figure>"
        if measured
        else "<p>No run of this series has a measured median.</p>"
    )
    facts = (
        ("machine", key.machine_id), ("model", key.model), ("runtime", key.backend), ("precision", key.precision),
        ("threads", key.threads), ("A/B arm", key.arm or None),
        ("runs", f"{len(view.points)} ({len(measured)} measured)"),
        ("latest", f"{_ms(latest.median_ms if latest else None)} ms"),
    )  # fmt: skip
    body = f"""<h1>{_e(key.title())}</h1>
<dl class="facts">{"".join(f"<div><dt>{n}</dt><dd>{_e(v)}</dd></div>" for n, v in facts if v is not None)}</dl>
{figure}
<h2>Change points</h2>
{changes or "<p>None: no step in this series passes the permutation test (at least 3 runs a side).</p>"}
<h2>Runs, newest first</h2>
{toggle}
<div class="scroll"><table class="runs">
<thead><tr><th>time (UTC)</th><th>label</th><th>commit</th><th class="num">median ms</th><th class="num">95% CI ms</th>\
<th class="num">±</th><th class="num">proc.</th><th>status</th><th>runtime</th><th>effbench</th><th>result</th></tr>\
</thead>
<tbody>
{rows}
</tbody></table></div>
<div id="tip" class="tip" role="status" hidden></div>"""
    return page(key.title(), body, "../")


# -------------------------------------------------------------------------------------------- regressions


def regressions_page(found: Sequence[tuple[Change, SeriesView]], threshold: float, all_changes: int) -> str:
    rows = "\n".join(
        f'<tr><td>{_e(_when(c.after))}</td><td><a href="series/{_e(v.slug)}.html">{_e(c.key.title())}</a></td>'
        f'<td class="num">{_effect(c, threshold)}</td><td>{_e(_step(c, percent=False))}</td>'
        f"<td>{_e('; '.join(what_changed(c)) or 'nothing recorded')}</td></tr>"
        for c, v in found
    )
    table = (
        f"""<div class="scroll"><table class="regressions"><thead><tr><th>first slow run (UTC)</th><th>series</th>\
<th class="num">step</th><th>effect</th><th>what changed</th></tr></thead>
<tbody>
{rows}
</tbody></table></div>"""
        if found
        else f"<p>None: no series slowed down by more than {threshold:.0%}.</p>"
    )
    body = f"""<h1>Regressions</h1>
<p class="lede">Change points where latency rose by more than {threshold:.0%}, newest first ({len(found)} of \
{all_changes} change points; the others are on the series pages). Subscribe: <a href="regressions.atom">Atom \
feed</a>.</p>
{table}"""
    return page("effbench regressions", body, "")


def _entry_id(change: Change, view: SeriesView) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'effbench-change:{view.slug}:{change.after.run_id}')}"


def atom_feed(found: Sequence[tuple[Change, SeriesView]], feed_id: str, updated: str) -> str:
    """The regressions as an Atom feed (RFC 4287), newest first; links relative to the feed's own address."""
    entries = "".join(
        f"""<entry>
<title>{_e(f"{c.percent:+.1f}% {c.key.title()}")}</title>
<id>{_entry_id(c, v)}</id>
<updated>{_e(c.after.created)}</updated>
<link rel="alternate" type="text/html" href="series/{_e(v.slug)}.html"/>
<summary>{_e(f"{_step(c)}, p = {c.p_value:.3f}; what changed: {'; '.join(what_changed(c)) or 'nothing recorded'}")}\
</summary>
</entry>
"""
        for c, v in found
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
<title>effbench regressions</title>
<id>{_e(feed_id)}</id>
<updated>{_e(updated)}</updated>
<author><name>effbench</name></author>
<generator version="{_e(__version__)}">effbench</generator>
<link rel="self" type="application/atom+xml" href="regressions.atom"/>
<link rel="alternate" type="text/html" href="regressions.html"/>
{entries}</feed>
"""
