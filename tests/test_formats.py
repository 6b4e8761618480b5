"""bench.formats: the one reader of every versioned file (format name, newer refused, older upgraded step by step,
unknown keys kept), and every committed versioned file read through it."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.document import FORMAT, RESULT_FORMAT
from bench.errors import EffbenchError
from bench.export.bundle import BUNDLE, BUNDLE_FORMAT, read_bundle_index
from bench.export.cache import MANIFEST, MANIFEST_FORMAT, MANIFEST_NAME, read_manifest
from bench.formats import Format, NewerFormatError, load_json, upgrade, upgrade_steps
from bench.probes.layers import LAYERS, LAYERS_FORMAT, read_layers
from bench.results import document_text, load_result

ROOT = Path(__file__).resolve().parent.parent
VERSIONED = {f.name: f for f in (RESULT_FORMAT, LAYERS, MANIFEST, BUNDLE)}


def _committed_json() -> list[Path]:
    """Every JSON file git tracks (outside a checkout: every one under results/ and tests/, scratch left out)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", "*.json"], cwd=ROOT, capture_output=True, check=True, timeout=30
        ).stdout.decode()
    except (OSError, subprocess.SubprocessError):
        found = [*(ROOT / "results").rglob("*.json"), *(ROOT / "tests").rglob("*.json")]
        return sorted(p for p in found if "_scratch" not in p.parts)
    return sorted(ROOT / name for name in listed.split("\0") if name)


def _versioned() -> list[tuple[Path, str]]:
    found = []
    for path in _committed_json():
        data = json.loads(path.read_text(encoding="utf-8"))
        name = data.get("format") if isinstance(data, dict) else None
        if isinstance(name, str) and name.startswith("effbench-"):
            found.append((path, name))
    return found


def test_every_committed_effbench_file_has_a_format_this_effbench_reads() -> None:
    kinds = [name for _, name in _versioned()]
    assert set(kinds) <= set(VERSIONED), "a committed file of a format no reader knows"
    assert kinds.count(FORMAT) >= 80 and kinds.count(LAYERS_FORMAT) == 5


@pytest.mark.parametrize("path", [p for p, name in _versioned() if name == FORMAT], ids=lambda p: p.name)
def test_every_committed_result_document_reads_and_round_trips(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    raw = json.loads(text)
    assert load_json(path, RESULT_FORMAT).keys() == raw.keys()  # nothing dropped on the way up
    if raw["format_version"] == 1:  # upgraded on loading: the text is the same but for the version
        text = text.replace('"format_version": 1,', f'"format_version": {RESULT_FORMAT.version},', 1)
    assert document_text(load_result(path)) == text


@pytest.mark.parametrize("path", [p for p, name in _versioned() if name == LAYERS_FORMAT], ids=lambda p: p.name)
def test_every_committed_layers_document_reads_and_its_profiles_round_trip(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    found = read_layers(path)
    assert found.machine == raw["machine"]["id"] and len(found.profiles) == len(raw["profiles"])
    assert [p.to_dict() for p in found.profiles] == raw["profiles"]


# ------------------------------------------------------------------------------------------ the reader

THING = Format(name="effbench-thing", version=3, title="effbench thing", label="thing format", fix="make it again")


def _thing(version: int, **more: Any) -> dict[str, Any]:
    return {"format": "effbench-thing", "format_version": version, **more}


def test_upgrade_steps_run_in_order_and_keep_unknown_keys() -> None:
    steps = {1: lambda d: {**d, "seen": [*d.get("seen", []), 1]}, 2: lambda d: {**d, "seen": [*d["seen"], 2]}}
    fmt = replace(THING, upgrades=steps)
    raw = _thing(1, mine={"a": 1})
    data = upgrade(raw, fmt, "t.json")
    assert data == _thing(3, mine={"a": 1}, seen=[1, 2]) and raw == _thing(1, mine={"a": 1})  # the input untouched
    assert upgrade(_thing(2, seen=[]), fmt, "t.json")["seen"] == [2]
    assert upgrade(_thing(1), fmt, "t.json", restamp=False)["format_version"] == 1  # a nested record's own stamp


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_thing(4), r"^t\.json was written by a newer effbench \(thing format 4 > 3\): upgrade effbench$"),
        (_thing(0), r"^t\.json has an invalid format_version 0: expected an integer from 1 to 3$"),
        (_thing(True), r"invalid format_version True"),
        (_thing(2), r"^t\.json has thing format 2, which this effbench cannot upgrade \(no step from 2 to 3\): make"),
        ({"format": "other"}, r"^t\.json is not an effbench thing: format is 'other', expected 'effbench-thing'"),
        ([1], r"format is 'list'"),
    ],
)
def test_the_reader_refuses_in_one_line(raw: Any, message: str) -> None:
    with pytest.raises(EffbenchError, match=message) as info:
        upgrade(raw, THING, "t.json")
    assert "\n" not in str(info.value)
    assert isinstance(info.value, NewerFormatError) == ("newer" in message)


def test_a_broken_or_missing_file_is_one_line_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "b.json"
    broken.write_text('{"format": "effbench-thing",\n "format_version": ')
    with pytest.raises(EffbenchError, match=rf"^{broken} is not a valid effbench thing \(JSON error at line 2\): it "):
        load_json(broken, THING)
    broken.write_bytes(b"\xff\xfe{")
    with pytest.raises(EffbenchError, match=r"not UTF-8 text"):
        load_json(broken, THING)
    with pytest.raises(EffbenchError, match=r"does not exist: check the path$"):
        load_json(tmp_path / "none.json", THING)
    with pytest.raises(EffbenchError, match=r"is a folder"):
        load_json(tmp_path, THING)


def test_the_history_schema_follows_the_same_rule() -> None:
    from bench.history.db import HISTORY_SCHEMA

    assert len(upgrade_steps(HISTORY_SCHEMA, 1, "h.sqlite")) == HISTORY_SCHEMA.version - 1
    with pytest.raises(NewerFormatError, match=r"newer effbench \(history schema 9 > \d\): upgrade effbench, or"):
        upgrade_steps(HISTORY_SCHEMA, 9, "h.sqlite")


# ----------------------------------------------------------------------- manifests and bundle indexes


def test_a_manifest_keeps_unknown_keys_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    entry = tmp_path / "m-0123456789abcdef"
    entry.mkdir()
    manifest = {"format": MANIFEST_FORMAT, "format_version": MANIFEST.version, "fingerprint": "f", "later": [1]}
    (entry / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert read_manifest(entry) == manifest
    (entry / MANIFEST_NAME).write_text("{")
    assert read_manifest(entry) is None  # a broken entry is exported again
    (entry / MANIFEST_NAME).write_text(json.dumps({**manifest, "format_version": MANIFEST.version + 1}))
    with pytest.raises(NewerFormatError, match=r"newer effbench \(manifest format 2 > 1\): upgrade effbench"):
        read_manifest(entry)


def test_a_bundle_index_keeps_unknown_keys_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    index = {"format": BUNDLE_FORMAT, "format_version": BUNDLE.version, "entries": [], "signed_by": "ci"}
    (tmp_path / "index.json").write_text(json.dumps(index))
    assert read_bundle_index(tmp_path) == index
    (tmp_path / "index.json").write_text(json.dumps({**index, "format_version": 2}))
    with pytest.raises(NewerFormatError, match=r"index.json was written by a newer effbench \(bundle format 2 > 1\)"):
        read_bundle_index(tmp_path)
