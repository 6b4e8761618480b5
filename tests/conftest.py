"""Marks the end-to-end tests (real exports, real runtimes, real worker and CLI subprocesses) as `e2e`; gives every
test the `cli` fixture (`effbench ARGS...` run in this process, its exit code and what it printed) and `exported`
(one real tiny export, shared read-only).

The e2e tests are part of the default run (`./scripts/test`); the quick unit run leaves them out:
    ./scripts/test -m "not slow and not e2e"
One list here rather than a decorator in each file, so that the split is visible in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from bench.cli import main

TINY = "b0:r=32"  # EfficientNet-B0 at 32x32: a real export in seconds

# Whole files that export models or load a real runtime in every test.
E2E_FILES = {"test_export.py", "test_cache.py", "test_backends.py", "test_nets.py", "test_int8.py"}

# Single tests elsewhere that start subprocesses (workers, the CLI, other indexers) or real runtimes.
E2E_TESTS = {
    "test_runner.py::test_subprocess_worker_is_pinned_and_robust_to_stdout_chatter",
    "test_runner.py::test_subprocess_crash_reports_stderr_tail",
    "test_runner.py::test_subprocess_error_is_reported_from_the_result_file",
    "test_runner.py::test_subprocess_hang_is_killed",
    "test_run.py::test_bundle_run_needs_no_torch",
    "test_latency_cli.py::test_latency_end_to_end_json",
    "test_paths.py::test_a_new_latency_document_holds_no_absolute_local_path",
    "test_guard.py::test_export_and_latency_refuse_an_absurd_spec_before_importing_torch",
    "test_history.py::test_two_indexers_at_once_insert_each_document_once",
    "test_imports.py::test_no_runtime_is_imported",
    "test_machine.py::test_worker_module_imports_only_the_standard_library",
    "test_outside.py::test_suites_and_system_from_an_empty_folder",
    "test_examples.py::test_fleet_collect_end_to_end_with_the_real_effbench",
}


@pytest.hookimpl(tryfirst=True)  # before -m selects on the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        file = item.path.name
        name = f"{file}::{item.originalname}" if isinstance(item, pytest.Function) else item.nodeid
        if file in E2E_FILES or name in E2E_TESTS:
            item.add_marker(pytest.mark.e2e)
    # A renamed test would silently leave the e2e set: say so when the whole suite was collected.
    collected = {f"{i.path.name}::{i.originalname}" for i in items if isinstance(i, pytest.Function)}
    files = {i.path.name for i in items}
    missing = {t for t in E2E_TESTS if t.split("::")[0] in files and t not in collected}
    if missing and not config.getoption("keyword") and len(files) > 10:
        raise pytest.UsageError(f"tests/conftest.py E2E_TESTS names tests that do not exist: {sorted(missing)}")


class CliRun(NamedTuple):
    """What one `effbench` command line gave: its exit code and everything it printed."""

    code: int
    out: str
    err: str


Cli = Callable[..., CliRun]  # the `cli` fixture: cli("compare", base, new, "--format", "md") -> CliRun


@pytest.fixture(autouse=True)
def user_cache_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$XDG_CACHE_HOME in a temporary folder: a test's bench.toml without [paths] cache_dir (or none at all) puts
    exports in the user cache folder (bench.config.default_cache_dir), never the real one of whoever runs the tests."""
    folder = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Runs `effbench ARGS...` through bench.cli.main; argparse's own errors (SystemExit) give their exit code,
    as a shell would see it. Paths may be passed as they are."""

    def run(*args: str | Path) -> CliRun:
        try:
            code = main([str(arg) for arg in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artifact cache holding one real tiny export (ONNX only), shared by the tests: copy it before changing it."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from bench.export import ensure_artifacts

    cache = tmp_path_factory.mktemp("cache")
    ensure_artifacts(TINY, formats=("onnx",), cache_dir=cache)
    return cache
