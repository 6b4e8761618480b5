"""`effbench cache list|prune`: which entries the current code still hits, what prune removes (and what it must
not: current entries, user-file entries it cannot judge, entries whose lock an export holds), bad folders."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bench.export import ensure_artifacts
from bench.export.cache import (
    LOCKS_FOLDER,
    MANIFEST_NAME,
    STAGING_PREFIX,
    compute_fingerprint,
    entry_folder_name,
    read_manifest,
    write_json,
)
from bench.export.plans import EXPORT_RECIPE

if TYPE_CHECKING:
    from conftest import Cli

REPO = Path(__file__).resolve().parents[1]
TINY = "b0:r=32"


def folders(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name != LOCKS_FOLDER)


def stale_copy(entry: Path, edit: dict[str, Any]) -> str:
    """A copy of `entry` as an older effbench would have written it: its fingerprint inputs edited, its
    fingerprint and folder name following from them. Returns the new folder's name."""
    manifest = read_manifest(entry)
    assert manifest is not None
    manifest["fingerprint_inputs"].update(edit)
    manifest["fingerprint"] = compute_fingerprint(manifest["fingerprint_inputs"])
    name = entry_folder_name(manifest["model_name"], manifest["fingerprint"])
    shutil.copytree(entry, entry.parent / name)
    write_json(entry.parent / name / MANIFEST_NAME, manifest)
    return name


@pytest.fixture
def cache(exported: Path, tmp_path: Path) -> tuple[Path, str, str]:
    """A cache with the real entry and a stale one (recipe 0): (cache, current folder, stale folder)."""
    cache = tmp_path / "models"
    shutil.copytree(exported, cache)
    (current,) = folders(cache)
    stale = stale_copy(cache / current, {"recipe": 0})
    return cache, current, stale


def listing(cache: Path, cli: Cli) -> dict[str, Any]:
    code, out, err = cli("cache", "list", "--cache-dir", str(cache), "--format", "json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


@pytest.mark.torch
@pytest.mark.onnxruntime
def test_list_tells_current_from_stale(cache: tuple[Path, str, str], cli: Cli) -> None:
    path, current, stale = cache
    doc = listing(path, cli)
    by_folder = {e["folder"]: e for e in doc["entries"]}
    assert set(by_folder) == {current, stale}
    assert by_folder[current]["status"] == "current" and by_folder[current]["why"] == ""
    assert by_folder[stale]["status"] == "stale" and by_folder[stale]["why"] == f"export recipe 0 -> {EXPORT_RECIPE}"
    for entry in by_folder.values():
        assert entry["model"] == "efficientnet_b0:r=32" and entry["source"] == "pytorch"
        assert entry["size_bytes"] == sum(f.stat().st_size for f in (path / entry["folder"]).iterdir())
        assert 0 <= entry["age_s"] < 86400
    assert doc["leftovers"] == []

    code, out, err = cli("cache", "list", "--cache-dir", str(path))
    assert code == 0, err
    (current_row,) = [line for line in out.splitlines() if current in line]
    (stale_row,) = [line for line in out.splitlines() if stale in line]
    assert "yes" in current_row and "stale" not in current_row
    assert f"no (stale: export recipe 0 -> {EXPORT_RECIPE})" in stale_row
    assert "MB" in current_row
    assert "2 entries" in out and "1 no longer hit" in out and "'effbench cache prune' removes them" in out


@pytest.mark.torch
@pytest.mark.onnxruntime
def test_list_follows_model_code_and_runtime_versions(
    cache: tuple[Path, str, str], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bench.export.plans as plans

    path, current, _ = cache
    monkeypatch.setattr(plans, "model_code_digest", lambda: "0" * 64)
    entry = {e["folder"]: e for e in listing(path, cli)["entries"]}[current]
    assert (entry["status"], entry["why"]) == ("stale", "model code changed")

    monkeypatch.undo()
    real = plans.library_versions
    monkeypatch.setattr(plans, "library_versions", lambda names: {**real(names), "torch": "0.1"})
    entry = {e["folder"]: e for e in listing(path, cli)["entries"]}[current]
    assert entry["status"] == "stale" and entry["why"].startswith("torch ") and entry["why"].endswith(" -> 0.1")


@pytest.mark.torch
@pytest.mark.onnxruntime
def test_prune_dry_run_removes_nothing_and_prune_only_what_is_stale(cache: tuple[Path, str, str], cli: Cli) -> None:
    path, current, stale = cache
    broken = path / "efficientnet_b1-0123456789abcdef"  # an entry folder whose manifest was lost
    broken.mkdir()
    (broken / "model.onnx").write_bytes(b"x" * 10)
    old = path / f"{STAGING_PREFIX}{current}-killed"  # left by an export killed two hours ago
    old.mkdir()
    (old / "model.onnx").write_bytes(b"x" * 100)
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    recent = path / f"{STAGING_PREFIX}{current}-running"  # maybe an export running now
    recent.mkdir()
    (path / "README.md").write_text("not an entry\n")
    before = folders(path)

    code, out, err = cli("cache", "prune", "--dry-run", "--cache-dir", str(path))
    assert code == 0, err
    assert folders(path) == before
    assert f"would remove {stale} (21." in out and f"would remove {broken.name}" in out
    assert f"would remove {old.name}" in out and recent.name not in out and current not in out.replace(old.name, "")
    assert "would free" in out

    code, out, err = cli("cache", "prune", "--cache-dir", str(path))
    assert code == 0, err
    assert f"removed {stale} (" in out and f"export recipe 0 -> {EXPORT_RECIPE}" in out
    assert f"removed {broken.name}" in out and "no readable manifest.json" in out
    assert f"removed {old.name}" in out and "freed 21." in out
    assert folders(path) == sorted([current, recent.name, "README.md"])
    # What is left is still a verified cache hit.
    assert ensure_artifacts(TINY, formats=("onnx",), cache_dir=path).fingerprint[:16] in current

    code, out, err = cli("cache", "prune", "--cache-dir", str(path))
    assert code == 0 and out.startswith(f"nothing to prune in {path} (1 entry, none stale)")


@pytest.mark.torch
@pytest.mark.onnxruntime
def test_prune_skips_an_entry_whose_lock_an_export_holds(cache: tuple[Path, str, str], cli: Cli) -> None:
    import filelock

    path, current, stale = cache
    lock = filelock.FileLock(str(path / LOCKS_FOLDER / f"{stale}.lock"))
    with lock:
        code, out, err = cli("cache", "prune", "--cache-dir", str(path))
    assert code == 0, err
    assert f"skipped {stale}: an export holds its lock" in out and "removed" not in out
    assert folders(path) == sorted([current, stale])
    code, out, err = cli("cache", "prune", "--cache-dir", str(path))
    assert f"removed {stale}" in out and folders(path) == [current]


@pytest.mark.torch
@pytest.mark.onnxruntime
def test_user_file_entries_are_current_while_their_file_is_unchanged(exported: Path, tmp_path: Path, cli: Cli) -> None:
    cache = tmp_path / "models"
    user = tmp_path / "user.onnx"
    (entry,) = folders(exported)
    shutil.copyfile(exported / entry / "model.onnx", user)  # the exported file, given back as a user's file
    folder = ensure_artifacts(str(user), formats=("onnx",), cache_dir=cache).files["onnx"].parent.name

    def status() -> tuple[str, str]:
        (only,) = listing(cache, cli)["entries"]
        assert only["folder"] == folder and only["source"] == "onnx-file"
        return only["status"], only["why"]

    assert status() == ("current", "")
    data = bytearray(user.read_bytes())
    data[-1] ^= 0xFF
    user.write_bytes(bytes(data))  # other bytes, same path
    state, why = status()
    assert state == "unknown" and f"{user} has changed" in why
    user.unlink()
    state, why = status()
    assert state == "unknown" and f"{user} is gone" in why
    code, out, _ = cli("cache", "prune", "--cache-dir", str(cache))
    assert code == 0 and "nothing to prune" in out and folders(cache) == [folder]


def test_bad_cache_dir_is_one_line_and_exit_2(tmp_path: Path, cli: Cli) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    cases = [
        (tmp_path / "missing", "does not exist"),
        (a_file, "is not a folder"),
    ]
    for folder, expected in cases:
        for action in (["list"], ["prune"], ["prune", "--dry-run"]):
            code, out, err = cli("cache", *action, "--cache-dir", str(folder))
            assert code == 2, (action, folder, err)
            assert err.startswith("effbench: error: cache folder ") and err.count("\n") == 1, err
            assert expected in err and "--cache-dir DIR" in err
            assert out == ""
    assert not (tmp_path / "missing").exists()
    code, _, err = cli("cache")
    assert code == 2
    assert "required: ACTION" in err
