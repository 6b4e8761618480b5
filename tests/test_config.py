"""bench.toml: defaults, paths relative to the file, and one-line errors (exit 2) for every invalid file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.config import default_cache_dir, effbench_checkout, find_config, load_config
from bench.errors import EffbenchError


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user_cache_folder: Path) -> None:
    """Outside effbench's checkout: exports in the user cache folder, results in ./results of the current folder."""
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.source is None
    assert (config.cache_dir, config.results_dir) == (user_cache_folder / "effbench", tmp_path / "results")
    assert config.history_db == tmp_path / "results" / "history.sqlite"
    assert config.cache_origin.startswith("the user cache folder")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # invalid by the spec: ignored
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load_config().cache_dir == tmp_path / "home" / ".cache" / "effbench"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert load_config().cache_dir == tmp_path / "home" / ".cache" / "effbench"


def test_a_bench_toml_without_cache_dir_uses_the_user_cache_folder(tmp_path: Path, user_cache_folder: Path) -> None:
    (tmp_path / "bench.toml").write_text("[latency]\nthreads = 1\n")
    config = load_config(tmp_path / "bench.toml")
    assert (config.cache_dir, config.results_dir) == (user_cache_folder / "effbench", tmp_path.resolve() / "results")


def test_inside_effbench_s_checkout_the_cache_stays_in_models() -> None:
    """The checkout is the folder above the bench package with pyproject.toml and .git (this test runs in one)."""
    root = Path(__file__).resolve().parent.parent
    assert effbench_checkout() == root
    assert default_cache_dir(root / "docs") == (root / "models", "effbench's checkout (models/)")


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


def test_the_project_bench_toml_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parent.parent
    monkeypatch.chdir(tmp_path)  # its paths are relative to the file, not to the current folder
    config = load_config(root / "bench.toml")
    assert (config.cache_dir, config.results_dir) == (root / "models", root / "results")
    assert config.history_db == root / "results" / "history.sqlite"
    assert config.source == root / "bench.toml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[paths\ncache_dir = 1", "fix the TOML syntax"),
        (
            "[pathz]\ncache_dir = 'x'\n",
            "unknown table [pathz] (did you mean 'paths'?); known tables: export, latency, paths, suite",
        ),
        ("[benchmark]\n", "unknown table [benchmark]; known tables"),
        (
            "[paths]\ncache = 'x'\n",
            "unknown key 'cache' in [paths] (did you mean 'cache_dir'?); "
            "known keys: cache_dir, history_db, results_dir",
        ),
        ("[latency]\nthread = 2\n", "unknown key 'thread' in [latency] (did you mean 'threads'?)"),
        ("[paths]\ncache_dir = 3\n", "[paths] cache_dir must be a string path"),
        ("[paths]\nhistory_db = ['h.sqlite']\n", "[paths] history_db must be a string path"),
        ("[paths]\nhistory = 'h.sqlite'\n", "unknown key 'history' in [paths] (did you mean 'history_db'?)"),
        ("paths = 3\n", "'paths' must be a table"),
        ("[latency]\nthreads = 'two'\n", "[latency] threads = 'two'; it must be a whole number >= 1"),
        ("[latency]\nthreads = 0\n", "[latency] threads = 0"),
        ("[latency]\nprecision = 'fp16'\n", 'precision = \'fp16\'; it must be "fp32", "bf16" or "int8"'),
        ("[latency]\nprecision = 32\n", "[latency] precision = 32; it must be"),
        (
            "[latency]\npreset = 'slow'\n",
            '[latency] preset = \'slow\'; it must be "fast", "default", "rigorous" or "ci"',
        ),
        ("[latency]\npreset = 'rigourous'\n", "preset = 'rigourous' (did you mean 'rigorous'?)"),
        (
            "[latency]\nbackends = 3\n",
            "[latency] backends = 3; it must be a list of names drawn from torch, onnxruntime",
        ),
        (
            "[latency]\nbackends = ['onnxrutime']\n",
            "backends = ['onnxrutime'] ('onnxrutime' is not a backend (did you mean 'onnxruntime'?))",
        ),
        ("[latency]\nbackends = 'torch,tensorflow'\n", "('tensorflow' is not a backend); it must be a list"),
        ("[latency]\ncpus = [-1]\n", "[latency] cpus = [-1]"),
        ("[export]\nopset = '17'\n", "[export] opset = '17'"),
        ("[export]\nformats = ['tflite']\n", "('tflite' is not a format); it must be a list drawn from \"onnx\" and"),
        ("[export]\nformats = ['onnx', 'openvno']\n", "('openvno' is not a format (did you mean 'openvino'?))"),
        ("[export]\nformats = []\n", "[export] formats = []; it must be a list drawn from"),
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


def test_history_db_is_relative_to_the_file_and_follows_results_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bench.toml"
    path.write_text('[paths]\nhistory_db = "db/trend.sqlite"\n')
    monkeypatch.chdir(tmp_path.parent)
    assert load_config(path).history_db == tmp_path.resolve() / "db" / "trend.sqlite"
    path.write_text('[paths]\nresults_dir = "out"\n')  # no history_db: beside the documents it indexes
    assert load_config(path).history_db == tmp_path.resolve() / "out" / "history.sqlite"


def test_valid_values_come_from_the_shared_vocabularies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.engine.policy

    path = tmp_path / "bench.toml"
    path.write_text(
        "[latency]\nprecision = 'bf16'\npreset = 'turbo'\nbackends = ['ORT', 'ov', 'torch']\n"
        "[export]\nformats = ['openvino']\n"
    )
    with pytest.raises(EffbenchError, match="preset = 'turbo'"):
        load_config(path)
    # A preset added where presets are defined is accepted here without another list to update.
    monkeypatch.setitem(bench.engine.policy.PRESETS, "turbo", bench.engine.policy.PRESETS["fast"])
    config = load_config(path)
    assert config.latency["backends"] == ["ORT", "ov", "torch"]  # aliases the --backend option accepts
    assert config.export["formats"] == ["openvino"]


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "export", "--model", "b0"]) == 2
    assert "does not exist: pass an existing bench.toml" in capsys.readouterr().err
