"""AOTInductor packages: a zoo model compiled ahead of time for one thread count and precision, cached by fingerprint.

`ensure_package` is the one entry point: a verified cache hit, or a compile in a fresh process
(bench.export.aot_compile: torch.export, AOTInductor, parity against eager PyTorch) under the entry lock, published
as CACHE/<model>-inductor-<fingerprint[:16]>/ with model.pt2, compile.log and manifest.json. Unlike ONNX and IR
entries, a package is machine code: its fingerprint names the C++ compiler, what `-march=native` means on this CPU
and the thread count, so it is compiled on the machine that measures it (and never bundled).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import __version__
from bench.errors import EffbenchError, ExportError
from bench.export.cache import (
    MANIFEST_FORMAT,
    MANIFEST_VERSION,
    ArtifactSet,
    artifacts_from_manifest,
    compute_fingerprint,
    describe_files,
    ensure_writable_folder,
    entry_folder_name,
    entry_lock,
    library_versions,
    new_staging_folder,
    publish_folder,
    read_manifest,
    sha256_file,
    verify_entry,
    write_json,
)
from bench.export.plans import INPUT_NAME, model_code_digest

# Bump when the compile recipe changes the package's bytes (old entries then miss).
AOT_RECIPE = 1
SOURCE = "aot-inductor"
PACKAGE_FILE = "model.pt2"
LOG_FILE = "compile.log"
RESULT_FILE = "compile.json"  # what the compile process reports; folded into the manifest, not kept
FAILED_LOGS = ".logs"  # CACHE/.logs/<entry>.log: the log of a failed compile, kept for the user to read
# PyTorch's recommendation for CPU inference with AOTInductor: freezing (weights folded as constants, so
# conv+BN/bias folding and oneDNN weight prepacking happen at compile time) and the C++ wrapper (no Python between
# kernels). `cpp.threads` is set per cell below.
INDUCTOR_CONFIGS: dict[str, Any] = {"freezing": True, "cpp_wrapper": True}
# bf16: autocast inside the exported program. The model is wrapped in a module whose forward runs under
# torch.autocast("cpu", bfloat16) and exported as that, so the compiled program casts exactly where eager autocast
# does (convolutions and matmuls in bf16, the rest fp32) and takes and returns fp32 like every other runtime: the
# torch and inductor bf16 cells run the same arithmetic and differ only by the compiler. (An autocast context around
# torch.export itself is not captured: tried with torch 2.13, the package ran fp32. A package compiled from a bf16
# module would also run the folded BN weights, SiLU and the SE gates in bf16, which eager torch bf16 does not.)
BF16_METHOD = 'forward wrapped in torch.autocast("cpu", dtype=torch.bfloat16), then torch.export.export'
EXPORT_API = "torch.export.export"
COMPILE_API = "torch._inductor.aoti_compile_and_package"
_CACHE_FIX = "pass --cache-dir DIR or set [paths] cache_dir in bench.toml"
_COMPILER_FIX = "install one (apt install g++) or set CXX to a working C++ compiler"
COMPILE_TIMEOUT_S = 3600.0  # B7 at 600x600 on a busy core; a hung compiler still ends


@dataclass(frozen=True)
class Compiler:
    """The C++ compiler AOTInductor will call, as far as it decides the package's bytes."""

    path: str
    version: str  # the first line of `--version`, e.g. "g++ (Debian 12.2.0-14) 12.2.0"
    march: str  # what -march=native means on this CPU ("znver5")
    target_sha256: str  # sha256 of every -m option -march=native expands to (ISA extensions, cache sizes)


def find_compiler(environ: Mapping[str, str] | None = None) -> Compiler:
    """The compiler AOTInductor uses here ($CXX, else g++, as torch._inductor.config.cpp.cxx picks it) with its
    version and target; one-line EffbenchError naming the fix when there is none that runs."""
    env = os.environ if environ is None else environ
    name = env.get("CXX") or "g++"
    path = shutil.which(name, path=env.get("PATH", os.defpath))
    where = f"CXX={name}" if env.get("CXX") else f"{name} on PATH"
    if path is None:
        raise EffbenchError(
            f"the inductor backend compiles C++ and finds no compiler ({where} not found): {_COMPILER_FIX}"
        )
    try:
        version = _run_compiler([path, "--version"]).stdout
        # -E -v on an empty file prints the cc1plus command line: every flag -march=native stands for here.
        expanded = _run_compiler([path, "-march=native", "-E", "-v", "-x", "c++", os.devnull]).stderr
    except (OSError, subprocess.SubprocessError) as exc:
        raise EffbenchError(
            f"the inductor backend compiles C++ and the compiler {path} ({where}) does not run ({exc}): {_COMPILER_FIX}"
        ) from None
    return Compiler(path, (version.strip().splitlines() or [name])[0], *native_target(expanded))


@functools.cache
def local_compiler() -> Compiler:
    """find_compiler() once per process (`effbench cache list` asks for every package entry)."""
    return find_compiler()


def compiler_problem() -> str | None:
    """Why this machine cannot compile packages (find_compiler's one line), or None. A suite skips its inductor
    cells with this reason and measures the rest; `--backend inductor` named on its own stops with it (exit 2)."""
    try:
        local_compiler()
    except EffbenchError as exc:
        return str(exc)
    return None


def _run_compiler(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True, stdin=subprocess.DEVNULL)


def native_target(verbose_output: str) -> tuple[str, str]:
    """(the -march value, sha256 of the sorted target options) from a compiler's `-march=native -E -v` output."""
    import hashlib

    line = next((ln for ln in verbose_output.splitlines() if "cc1" in ln and "-march=" in ln), "")
    options = sorted({token for token in line.split() if token.startswith("-m")})
    march = next((o.partition("=")[2] for o in options if o.startswith("-march=")), "unknown")
    return march, hashlib.sha256("\n".join(options).encode()).hexdigest()


@dataclass(frozen=True)
class PackageRequest:
    """One package to have: a zoo model (its spec as a dict), compiled for `threads` threads at `precision`."""

    model_name: str
    spec: dict[str, Any]
    input_shape: tuple[int, ...]
    threads: int
    precision: str
    seed: int = 0
    weights: str | None = None


def package_fingerprint_inputs(request: PackageRequest, compiler: Compiler) -> dict[str, Any]:
    """Everything that decides a package's bytes. The CPUs a cell is pinned to, the cache folder and where the
    compiler lives do not: they are left out, so changing them compiles nothing.

    The thread count is in: Inductor's C++ kernels open `#pragma omp parallel num_threads(N)` with N fixed at code
    generation (torch.get_num_threads() then, unless it equals the machine's CPU count; `cpp.threads` pins it here),
    and its GEMM templates block the matrices for N threads, so a package for 1 thread runs 4 threads badly.
    """
    weights_sha = sha256_file(Path(request.weights)) if request.weights else None
    return {
        "recipe": AOT_RECIPE,
        "source": SOURCE,
        "spec": request.spec,
        "seed": None if weights_sha else request.seed,
        "weights_sha256": weights_sha,
        "input": {"name": INPUT_NAME, "shape": list(request.input_shape), "dtype": "float32"},
        "model_code_sha256": model_code_digest(),
        "precision": request.precision,
        "threads": request.threads,
        "export": {"api": EXPORT_API, "bf16": BF16_METHOD if request.precision == "bf16" else None},
        "inductor_configs": compile_configs(request.threads),
        "compiler": {"version": compiler.version, "march": compiler.march, "target_sha256": compiler.target_sha256},
        "versions": library_versions(("torch",)),
    }


def current_package_inputs(recorded: Mapping[str, Any], compiler: Compiler) -> dict[str, Any] | None:
    """The fingerprint inputs this code, torch and `compiler` give for the package an entry's manifest recorded
    ("fingerprint_inputs"), for `effbench cache list`; None when the request cannot be made again."""
    from bench.zoo import ModelSpec

    try:
        spec = ModelSpec.from_dict(dict(recorded["spec"]))
        threads, precision = int(recorded["threads"]), str(recorded["precision"])
        seed, weights_sha = recorded["seed"], recorded["weights_sha256"]
    except (KeyError, TypeError, ValueError):
        return None
    request = PackageRequest(spec.name, spec.to_dict(), tuple(spec.input_shape), threads, precision, seed or 0)
    return {**package_fingerprint_inputs(request, compiler), "seed": seed, "weights_sha256": weights_sha}


def recipe_fingerprint(inputs: Mapping[str, Any]) -> str:
    """The package's fingerprint without what -march=native means on this CPU: the same on every machine that
    compiles the same model with the same torch, compiler version, precision and threads. No two CPUs compile the
    same bytes, so this is what a cell records as its fingerprint and what the hardware report compares."""
    compiler = {"version": dict(inputs["compiler"])["version"]}
    return compute_fingerprint({**inputs, "compiler": compiler})


def compile_configs(threads: int) -> dict[str, Any]:
    """The inductor_configs handed to aoti_compile_and_package for `threads` threads (all recorded)."""
    return {**INDUCTOR_CONFIGS, "cpp.threads": threads}


class CompileFailed(Exception):
    """The compile process failed; the message is one line, the log says the rest."""


# (job, staging folder, environment) -> the compile process's report; the fake one in the tests writes no C++.
CompileStep = Callable[[dict[str, Any], Path, dict[str, str]], dict[str, Any]]


def run_compile_process(job: dict[str, Any], staging: Path, env: dict[str, str]) -> dict[str, Any]:
    """`python -m bench.export.aot_compile` on `job`, its output in staging/compile.log; its report back."""
    with open(staging / LOG_FILE, "wb") as log:
        try:
            done = subprocess.run(
                [sys.executable, "-m", "bench.export.aot_compile"],
                input=json.dumps(job).encode(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=staging,
                env=env,
                timeout=COMPILE_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CompileFailed(f"the compile ran over {COMPILE_TIMEOUT_S:.0f} s and was stopped") from None
    try:
        report: dict[str, Any] = json.loads((staging / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise CompileFailed(f"the compile process exited with code {done.returncode} and no report") from None
    if report.get("error"):
        raise CompileFailed(str(report["error"]))
    return report


def compile_env(compiler: Compiler, staging: Path) -> dict[str, str]:
    """The compile process's environment: the compiler found, Inductor's own cache inside the staging folder (so a
    compile is a compile, not a hit in /tmp/torchinductor_*; removed before publishing) and no other TORCHINDUCTOR_
    variable, since those change the generated code without entering the fingerprint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHINDUCTOR_")}
    env.update(CXX=compiler.path, TORCHINDUCTOR_CACHE_DIR=str(staging / ".inductor-cache"))
    return env


@dataclass(frozen=True)
class CompiledPackage:
    """A verified package: its files, whether it was "compiled" or "cached", and the seconds that took."""

    artifacts: ArtifactSet
    status: str
    seconds: float
    folder: Path

    @property
    def path(self) -> Path:
        return self.artifacts.files["inductor"]

    @property
    def recipe_fingerprint(self) -> str:
        """The fingerprint across machines (see recipe_fingerprint), as the cell records it."""
        return str(self.artifacts.manifest["recipe_fingerprint"])

    @property
    def compile_record(self) -> dict[str, Any]:
        """The manifest's "compile" block: settings, compiler, ISA, seconds (what the worker records)."""
        return dict(self.artifacts.manifest.get("compile") or {})


def ensure_package(
    request: PackageRequest,
    cache_dir: Path,
    say: Callable[[str], Any] = lambda _message: None,
    compile_step: CompileStep = run_compile_process,
    compiler: Compiler | None = None,
) -> CompiledPackage:
    """The package for `request`: a verified cache hit, else compiled (once, under the entry lock) and cached."""
    started = time.perf_counter()
    compiler = compiler or find_compiler()
    inputs = package_fingerprint_inputs(request, compiler)
    fingerprint = compute_fingerprint(inputs)
    folder_name = entry_folder_name(f"{request.model_name}-inductor", fingerprint)
    final = Path(cache_dir) / folder_name
    what = f"{request.model_name} inductor {request.precision} {request.threads} thread(s)"
    hit = _cached(final, fingerprint)
    if hit is None:
        ensure_writable_folder(Path(cache_dir), "cache folder", _CACHE_FIX)
        with entry_lock(Path(cache_dir), folder_name, say):
            hit = _cached(final, fingerprint)  # compiled by another process while this one waited
            if hit is None:
                say(f"{what}: compiling the AOTInductor package (minutes)")
                _compile_entry(request, inputs, fingerprint, compiler, final, compile_step)
                arts = artifacts_from_manifest(final, read_manifest(final) or {})
                seconds = arts.manifest["compile"]["seconds"]
                say(f"{what}: compiled in {seconds['wall_s']:.1f} s (AOTInductor {seconds['compile_s']:.1f} s) "
                    f"into {final}")  # fmt: skip
                return CompiledPackage(arts, "compiled", time.perf_counter() - started, final)
    say(f"{what}: cache hit {final}")
    return CompiledPackage(hit, "cached", time.perf_counter() - started, final)


def _cached(final: Path, fingerprint: str) -> ArtifactSet | None:
    manifest = read_manifest(final)
    if manifest is None or manifest.get("fingerprint") != fingerprint or verify_entry(final, manifest, ("inductor",)):
        return None
    return artifacts_from_manifest(final, manifest)


def _compile_entry(
    request: PackageRequest,
    inputs: dict[str, Any],
    fingerprint: str,
    compiler: Compiler,
    final: Path,
    compile_step: CompileStep,
) -> None:
    """Compile into a staging folder and publish it as `final` (call while holding the entry lock)."""
    staging = new_staging_folder(final.parent, final.name)
    try:
        job = {**asdict(request), "input_shape": list(request.input_shape), "configs": inputs["inductor_configs"]}
        started = time.perf_counter()
        try:
            report = compile_step(job, staging, compile_env(compiler, staging))
        except CompileFailed as exc:
            log = _keep_log(staging, final)
            raise EffbenchError(
                f"{request.model_name}: the AOTInductor compile for {request.threads} thread(s) {request.precision} "
                f"failed ({exc}); the log is {log}"
            ) from None
        # The whole compile process as the user waits for it: start, build, export, compile, load and parity.
        report = {**report, "seconds": {**report.get("seconds", {}), "wall_s": round(time.perf_counter() - started, 4)}}
        why = parity_failure(report.get("parity") or {})
        if why:
            log = _keep_log(staging, final)
            raise ExportError(
                f"{request.model_name}: inductor {request.precision} {why}; nothing was cached (log: {log})"
            )
        shutil.rmtree(staging / ".inductor-cache", ignore_errors=True)
        (staging / RESULT_FILE).unlink(missing_ok=True)
        write_json(staging / "manifest.json", package_manifest(request, inputs, fingerprint, staging, report))
        publish_folder(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _keep_log(staging: Path, final: Path) -> Path:
    """Move a failed compile's log to CACHE/.logs/<entry>.log (the staging folder is about to go)."""
    logs = final.parent / FAILED_LOGS
    logs.mkdir(exist_ok=True)
    kept = logs / f"{final.name}.log"
    source = staging / LOG_FILE
    if source.exists():
        os.replace(source, kept)
    else:
        kept.write_text("the compile process wrote no log\n", encoding="utf-8")
    return kept


def parity_failure(parity: Mapping[str, Any]) -> str | None:
    """Why the compile report's parity check fails (None when it passed)."""
    if parity.get("ok") is True:
        return None
    if "max_rel_error" not in parity:
        return f"parity not checked ({parity.get('problem', 'no parity result')})"
    return (
        f"output differs from eager PyTorch fp32: max relative error {parity['max_rel_error']:.3g} > "
        f"{parity['tolerance']:.3g} (max abs {parity['max_abs_error']:.3g})"
    )


def package_manifest(
    request: PackageRequest,
    inputs: dict[str, Any],
    fingerprint: str,
    staging: Path,
    report: Mapping[str, Any],
) -> dict[str, Any]:
    """The entry's manifest (the artifact manifest format, with the "compile" block a package adds)."""
    seconds = dict(report.get("seconds") or {})
    return {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "model_name": request.model_name,
        "spec": request.spec,
        "fingerprint": fingerprint,
        "fingerprint_inputs": inputs,
        "recipe_fingerprint": recipe_fingerprint(inputs),
        "source": {"kind": SOURCE},
        "input": {"name": INPUT_NAME, "shape": list(request.input_shape), "dtype": "float32"},
        "files": describe_files(staging, [PACKAGE_FILE, LOG_FILE]),
        "artifacts": {"inductor": {"file": PACKAGE_FILE, "sha256": sha256_file(staging / PACKAGE_FILE)}},
        "compile": {
            "export": inputs["export"],
            "api": COMPILE_API,
            "inductor_configs": inputs["inductor_configs"],
            "threads": request.threads,
            "precision": request.precision,
            "compiler": inputs["compiler"],  # not its path: a document holds no local path
            "vec_isa": report.get("vec_isa"),
            "seconds": seconds,
        },
        "parity": dict(report.get("parity") or {}),
        "versions": {"effbench": __version__, **library_versions(("torch", "numpy"))},
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "export_seconds": seconds,
    }
