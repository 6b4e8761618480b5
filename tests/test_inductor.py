"""The inductor backend: the AOTInductor package's cache key, compile step, errors and planning, with a fake compile
step (no C++); one real tiny compile is marked slow (minutes of g++ on a busy core)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bench.errors import EffbenchError, ExportError
from bench.export import aot
from bench.export.aot import (
    LOG_FILE,
    PACKAGE_FILE,
    CompileFailed,
    Compiler,
    PackageRequest,
    ensure_package,
    native_target,
    package_fingerprint_inputs,
)
from bench.export.cache import compute_fingerprint
from bench.zoo import resolve_model

if TYPE_CHECKING:
    from conftest import Cli

TINY = "b0:r=32"  # EfficientNet-B0 at 32x32, as in tests/conftest.py
GCC = Compiler("/usr/bin/g++", "g++ (Debian 12.2.0-14) 12.2.0", "znver3", "ab" * 32)


def request(threads: int = 1, precision: str = "fp32", **changes: Any) -> PackageRequest:
    spec = resolve_model(TINY)
    base = PackageRequest(spec.name, spec.to_dict(), tuple(spec.input_shape), threads, precision)
    return replace(base, **changes)


class FakeCompile:
    """A compile step that writes a few bytes as the package and reports a passed parity check."""

    def __init__(self, parity_ok: bool = True, fail: str | None = None) -> None:
        self.jobs: list[dict[str, Any]] = []
        self.parity_ok = parity_ok
        self.fail = fail

    def __call__(self, job: dict[str, Any], staging: Path, env: dict[str, str]) -> dict[str, Any]:
        self.jobs.append({**job, "env": env})
        (staging / LOG_FILE).write_text("g++ ... -march=native\n", encoding="utf-8")
        if self.fail:
            raise CompileFailed(self.fail)
        (staging / PACKAGE_FILE).write_bytes(json.dumps(job["configs"]).encode())
        error = 1e-6 if self.parity_ok else 0.5
        parity = {"ok": self.parity_ok, "max_rel_error": error, "max_abs_error": error, "tolerance": 1e-4}
        return {"seconds": {"export_s": 1.0, "compile_s": 60.0, "total_s": 61.0}, "vec_isa": {"name": "avx512"},
                "parity": parity}  # fmt: skip


def fingerprint(req: PackageRequest, compiler: Compiler = GCC) -> str:
    return compute_fingerprint(package_fingerprint_inputs(req, compiler))


def test_the_thread_count_changes_the_cache_key_and_nothing_else_of_a_cell_does() -> None:
    one = fingerprint(request(threads=1))
    assert fingerprint(request(threads=4)) != one
    # What a cell adds besides its threads and precision (its CPUs, its process) is not part of the request; where
    # the compiler lives is not part of the key, what it is and what -march=native means here is.
    assert fingerprint(request(threads=1), replace(GCC, path="/opt/gcc/bin/g++")) == one
    assert fingerprint(request(threads=1)) == one
    assert fingerprint(request(precision="bf16")) != one
    assert fingerprint(request(), replace(GCC, version="g++ (Debian 13.1.0) 13.1.0")) != one
    assert fingerprint(request(), replace(GCC, target_sha256="cd" * 32)) != one
    assert fingerprint(request(seed=1)) != one
    inputs = package_fingerprint_inputs(request(threads=3), GCC)
    assert inputs["inductor_configs"] == {"freezing": True, "cpp_wrapper": True, "cpp.threads": 3}
    assert inputs["export"]["bf16"] is None
    assert "autocast" in package_fingerprint_inputs(request(precision="bf16"), GCC)["export"]["bf16"]


def test_a_package_is_compiled_once_per_thread_count_and_reused(tmp_path: Path) -> None:
    fake = FakeCompile()
    first = ensure_package(request(threads=1), tmp_path, compile_step=fake, compiler=GCC)
    again = ensure_package(request(threads=1), tmp_path, compile_step=fake, compiler=replace(GCC, path="/x/g++"))
    four = ensure_package(request(threads=4), tmp_path, compile_step=fake, compiler=GCC)
    assert (first.status, again.status, four.status) == ("compiled", "cached", "compiled")
    assert [job["configs"]["cpp.threads"] for job in fake.jobs] == [1, 4]
    assert again.path == first.path != four.path
    assert first.path.name == PACKAGE_FILE and first.folder.name.startswith("efficientnet_b0_r_32-inductor-")
    record = first.compile_record
    assert record["threads"] == 1 and record["inductor_configs"]["freezing"] is True
    assert record["compiler"]["version"] == GCC.version and record["seconds"]["compile_s"] == 60.0
    assert "path" not in record["compiler"]  # the record goes into result documents, which hold no local path
    manifest = json.loads((first.folder / "manifest.json").read_text())
    assert manifest["export_seconds"]["total_s"] == 61.0 and manifest["parity"]["ok"] is True
    assert manifest["compile"]["seconds"]["wall_s"] >= 0
    assert sorted(manifest["files"]) == [LOG_FILE, PACKAGE_FILE]
    # Inductor's own cache lives in the staging folder (a compile is a compile) and does not stay.
    assert fake.jobs[0]["env"]["TORCHINDUCTOR_CACHE_DIR"].endswith(".inductor-cache")
    assert fake.jobs[0]["env"]["CXX"] == GCC.path
    assert not (first.folder / ".inductor-cache").exists()


def test_a_tampered_package_is_compiled_again(tmp_path: Path) -> None:
    fake = FakeCompile()
    first = ensure_package(request(), tmp_path, compile_step=fake, compiler=GCC)
    first.path.write_bytes(b"not a package")
    assert ensure_package(request(), tmp_path, compile_step=fake, compiler=GCC).status == "compiled"
    assert len(fake.jobs) == 2


def test_a_compile_failure_is_one_line_naming_the_kept_log(tmp_path: Path) -> None:
    fake = FakeCompile(fail="CppCompileError: C++ compile error")
    with pytest.raises(EffbenchError) as caught:
        ensure_package(request(), tmp_path, compile_step=fake, compiler=GCC)
    message = str(caught.value)
    assert "\n" not in message and "CppCompileError" in message
    log = Path(message.rpartition("the log is ")[2])
    assert log.parent == tmp_path / aot.FAILED_LOGS and "-march=native" in log.read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("efficientnet", ".tmp-"))]


def test_a_parity_failure_caches_nothing(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"differs from eager PyTorch fp32: max relative error 0\.5"):
        ensure_package(request(), tmp_path, compile_step=FakeCompile(parity_ok=False), compiler=GCC)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("efficientnet", ".tmp-"))]


def test_a_missing_compiler_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(EffbenchError, match=r"CXX=/nothing/g\+\+ not found\): install one \(apt install g\+\+\)"):
        aot.find_compiler({"CXX": "/nothing/g++", "PATH": str(tmp_path)})
    with pytest.raises(EffbenchError, match=r"g\+\+ on PATH not found"):
        aot.find_compiler({"PATH": str(tmp_path)})
    broken = tmp_path / "c++"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    with pytest.raises(EffbenchError, match="does not run"):
        aot.find_compiler({"CXX": str(broken), "PATH": str(tmp_path)})


def test_latency_without_a_compiler_exits_2_before_measuring(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXX", str(tmp_path / "no-compiler"))
    result = cli("latency", "--model", TINY, "--backend", "inductor", "--cache-dir", tmp_path / "cache",
                 "--output", tmp_path / "out.json")  # fmt: skip
    assert result.code == 2
    assert result.err.count("\n") == 1 and "finds no compiler" in result.err and "set CXX" in result.err
    assert not (tmp_path / "out.json").exists()


def test_native_target_reads_the_expanded_march() -> None:
    gcc = " /usr/lib/gcc/x86_64-linux-gnu/12/cc1plus -E -quiet -v -D_GNU_SOURCE /dev/null -march=znver3 -mmmx -mavx2 "
    gcc += "-mno-avx512f --param l1-cache-size=32 -mtune=znver3 -dumpbase null\n"
    march, digest = native_target("Using built-in specs.\n" + gcc)
    assert march == "znver3"
    assert native_target(gcc.replace("-mno-avx512f", "-mavx512f"))[1] != digest
    assert native_target(gcc.replace("/dev/null", "/tmp/other"))[1] == digest


def test_inductor_cells_carry_their_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.engine.plan import CellRequest, plan_requests

    fake = FakeCompile()

    def ensure(req: PackageRequest, cache_dir: Path, say: Any) -> Any:
        return ensure_package(req, cache_dir, say, compile_step=fake, compiler=GCC)

    monkeypatch.setattr(aot, "ensure_package", ensure)
    requests = [CellRequest(TINY, backend, "fp32", threads, tuple(range(threads))) for backend in ("torch", "inductor")
                for threads in (1, 2)]  # fmt: skip
    requests.append(CellRequest(TINY, "inductor", "fp32", 1, (5,)))  # other CPUs, same package
    plans = plan_requests(requests, cache_dir=tmp_path)
    inductor = [p for p in plans if p.backend == "inductor"]
    assert [job["configs"]["cpp.threads"] for job in fake.jobs] == [1, 2]
    assert [p.artifact.format for p in inductor if p.artifact] == ["inductor"] * 3
    assert inductor[0].target.files["inductor"] == inductor[2].target.files["inductor"]
    assert inductor[0].target.options["compile"]["threads"] == 1
    assert inductor[0].fingerprint == fake_recipe(inductor[0].target.files["inductor"])
    assert inductor[0].artifact is not None and inductor[0].artifact.root == "cache"
    assert all(p.artifact is None and not p.target.files for p in plans if p.backend == "torch")


def fake_recipe(package: str) -> str:
    return str(json.loads((Path(package).parent / "manifest.json").read_text())["recipe_fingerprint"])


def test_a_machine_without_torch_skips_inductor_cells_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.backends
    from bench.suite.definition import Suite

    monkeypatch.setattr(bench.backends, "is_installed", lambda name: name != "inductor")
    backends = ("onnxruntime", "inductor")
    precisions = tuple((backend, ("fp32",)) for backend in backends)
    suite = Suite("t", "", (TINY,), backends, precisions, (1,), "fast", None, None, "if-supported")
    from bench.suite.run import suite_requests

    cells = suite_requests(suite, ("avx512f",), {1: (1,)}, bundle=Path("bundle"))
    reasons = {cell.backend: cell.skip_reason for cell in cells}
    assert reasons["onnxruntime"] is None
    assert "the inductor worker loads its AOTInductor package with torch" in str(reasons["inductor"])


def test_a_suite_without_a_compiler_skips_its_inductor_cells_and_runs_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.backends
    from bench.export import aot
    from bench.suite.definition import Suite
    from bench.suite.run import suite_requests

    monkeypatch.setattr(bench.backends, "is_installed", lambda name: True)
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    aot.local_compiler.cache_clear()
    try:
        backends = ("onnxruntime", "inductor")
        precisions = tuple((backend, ("fp32",)) for backend in backends)
        suite = Suite("t", "", (TINY,), backends, precisions, (1,), "fast", None, None, "if-supported")
        reasons = {cell.backend: cell.skip_reason for cell in suite_requests(suite, ("avx512f",), {1: (1,)}, None)}
    finally:
        aot.local_compiler.cache_clear()
    assert reasons["onnxruntime"] is None
    assert "finds no compiler (CXX=/nonexistent/c++ not found)" in str(reasons["inductor"])
    assert "apt install g++" in str(reasons["inductor"])


def test_inductor_is_named_not_run_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.backends
    from bench.engine.plan import choose_backends

    monkeypatch.setattr(bench.backends, "is_installed", lambda name: True)
    assert "inductor" not in choose_backends(None, [])
    assert choose_backends(["torch", "aoti"], []) == ["torch", "inductor"]


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_real_tiny_compile_loads_and_runs_in_a_worker(tmp_path: Path, precision: str) -> None:
    from bench.backends import get_backend
    from bench.backends.base import LoadTarget

    package = ensure_package(request(threads=1, precision=precision), tmp_path)
    parity = package.artifacts.manifest["parity"]
    assert package.status == "compiled" and parity["ok"] is True
    # bf16 really runs bf16: about as far from fp32 as eager autocast is, far beyond fp32 rounding.
    assert (parity["max_rel_error"] > 1e-3) == (precision == "bf16")
    assert ensure_package(request(threads=1, precision=precision), tmp_path).status == "cached"
    spec = resolve_model(TINY)
    target = LoadTarget(spec.name, {"inductor": str(package.path)}, spec.to_dict(), input_shape=spec.input_shape,
                        options={"compile": package.compile_record})  # fmt: skip
    import numpy as np

    session = get_backend("inductor").load(target, 1, precision)
    session.bind_input(np.zeros(spec.input_shape, dtype=np.float32))
    with session.running():
        session.run_once()
    assert session.effective_settings()["compiled_threads"] == 1 and session.warnings(precision) == []


def test_layers_says_inductor_has_no_per_layer_times(cli: Cli) -> None:
    result = cli("layers", "--model", TINY, "--backend", "inductor")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "per-layer times are not available for inductor" in result.err


def test_inductor_cells_are_a_runtime_like_the_others_in_the_views() -> None:
    from bench.results import load_result
    from bench.views.machines_data import build_machines_report
    from bench.views.machines_render import render_machines
    from bench.views.plots import figure1
    from bench.views.report_data import build_report
    from bench.views.report_render import render_report

    path = Path(__file__).parents[1] / "results" / "amd-epyc-75392bb6" / "paper-20261203T165747Z.json"
    doc = load_result(path)

    def as_inductor(cell: Any) -> Any:
        processes = tuple(replace(p, versions={"inductor": "2.13.0+cpu"}) for p in cell.processes)
        return replace(cell, backend="inductor", processes=processes)

    compiled = [as_inductor(cell) for cell in doc.cells if cell.backend == "torch"]
    doc = replace(doc, cells=(*doc.cells, *compiled))
    data = build_report([(path, doc)])
    assert "inductor fp32" in data.series
    assert {row.series for row in data.table4} >= {"torch fp32", "inductor fp32"}
    inductor = [c for c in data.cells if c.backend == "inductor"]
    assert inductor and all(c.runtime_version == "2.13.0+cpu" and c.pct_peak for c in inductor)
    text = render_report(data, "md", None).text
    assert "inductor fp32" in text
    figure = figure1(data.cells, "Figure 1")
    assert figure is not None
    legends = [legend for legend in (ax.get_legend() for ax in figure.axes) if legend is not None]
    labels = [text.get_text() for legend in legends for text in legend.get_texts()]
    assert "inductor fp32" in labels
    machines = render_machines(build_machines_report([(path, doc)]), "md").text
    assert "inductor" in machines
    # Across machines a package's bytes always differ (it is compiled for each CPU): its recipe is compared.
    from bench.views.machines_data import _same_bytes

    here = replace(inductor[0], artifact_sha256="ab" * 32, fingerprint="recipe")
    there = replace(here, artifact_sha256="cd" * 32)
    assert _same_bytes(here, there) is None
    assert _same_bytes(here, replace(there, fingerprint="other")) == "compile recipe (fingerprint) differs"


def test_the_recipe_fingerprint_is_the_same_on_every_cpu_and_changes_with_the_threads() -> None:
    inputs = package_fingerprint_inputs(request(), GCC)
    other_cpu = package_fingerprint_inputs(request(), replace(GCC, march="znver5", target_sha256="cd" * 32))
    assert compute_fingerprint(inputs) != compute_fingerprint(other_cpu)
    assert aot.recipe_fingerprint(inputs) == aot.recipe_fingerprint(other_cpu)
    assert aot.recipe_fingerprint(inputs) != aot.recipe_fingerprint(package_fingerprint_inputs(request(2), GCC))


def test_cache_list_tells_whether_a_package_is_still_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.export.inventory import CURRENT, STALE, UNKNOWN, inspect_cache

    ensure_package(request(), tmp_path, compile_step=FakeCompile(), compiler=GCC)
    monkeypatch.setattr(aot, "local_compiler", lambda: GCC)
    (entry,) = inspect_cache(tmp_path).entries
    assert (entry.status, entry.source, entry.model) == (CURRENT, "aot-inductor", "efficientnet_b0:r=32")
    monkeypatch.setattr(aot, "local_compiler", lambda: replace(GCC, version="g++ 13.1.0"))
    (entry,) = inspect_cache(tmp_path).entries
    assert entry.status == STALE and "compiler" in entry.why

    def no_compiler() -> Compiler:
        raise EffbenchError("no compiler")

    monkeypatch.setattr(aot, "local_compiler", no_compiler)
    assert inspect_cache(tmp_path).entries[0].status == UNKNOWN
