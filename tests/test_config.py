"""bench.toml: defaults, paths relative to the file, and one-line errors (exit 2) for every invalid file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.config import find_config, load_config
from bench.errors import EffbenchError


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.source is None
    assert (config.cache_dir, config.results_dir) == (tmp_path / "models", tmp_path / "results")


def test_paths_are_relative_to_the_file_found_in_a_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bench.toml").write_text('[paths]\ncache_dir = "cache"\n[latency]\nthreads = 2\n')
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert find_config() == (tmp_path / "bench.toml").resolve()
    config = load_config()
    assert config.cache_dir == tmp_path.resolve() / "cache"
    assert config.results_dir == tmp_path.resolve() / "results"
    assert config.latency == {"threads": 2}


def test_the_project_bench_toml_is_valid() -> None:
    config = load_config(Path(__file__).resolve().parent.parent / "bench.toml")
    assert config.cache_dir.name == "models" and config.latency["precision"] == "fp32"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[paths\ncache_dir = 1", "fix the TOML syntax"),
        ("[pathz]\ncache_dir = 'x'\n", "unknown table [pathz]; known tables: export, latency, paths, suite"),
        ("[paths]\ncache = 'x'\n", "unknown key 'cache' in [paths]; known keys: cache_dir, results_dir"),
        ("[paths]\ncache_dir = 3\n", "[paths] cache_dir must be a string path"),
        ("paths = 3\n", "'paths' must be a table"),
        ("[latency]\nthreads = 'two'\n", "[latency] threads = 'two'; it must be a whole number >= 1"),
        ("[latency]\nthreads = 0\n", "[latency] threads = 0"),
        ("[latency]\nprecision = 'fp16'\n", 'it must be "fp32" or "bf16"'),
        ("[latency]\npreset = 'slow'\n", "[latency] preset = 'slow'"),
        ("[latency]\nbackends = 3\n", "[latency] backends = 3"),
        ("[latency]\ncpus = [-1]\n", "[latency] cpus = [-1]"),
        ("[export]\nopset = '17'\n", "[export] opset = '17'"),
        ("[export]\nformats = ['tflite']\n", "[export] formats = ['tflite']"),
    ],
)
def test_invalid_files_give_one_line_and_exit_2(
    tmp_path: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bench.toml"
    path.write_text(text)
    with pytest.raises(EffbenchError, match="invalid"):
        load_config(path)
    assert main(["--config", str(path), "latency", "--model", "b0:r=32"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"effbench: error: invalid {path}") and message in err and err.count("\n") == 1


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "export", "--model", "b0"]) == 2
    assert "does not exist: pass an existing bench.toml" in capsys.readouterr().err
