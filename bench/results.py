"""The versioned result document: build it, write it atomically (never overwriting), load and upgrade it,
and export it to pyperf's JSON format.

The schema is in docs/DESIGN.md. A document keeps every raw sample (integer ns, per worker process);
machine metadata and settings common to all cells are stored once at the top, as pyperf does.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import math
import os
import re
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import __version__
from bench.errors import EffbenchError
from bench.fsio import replace_file, write_new_file

if TYPE_CHECKING:
    import pyperf

FORMAT = "effbench-result"

# Result format history (bump FORMAT_VERSION and add an upgrade function to _UPGRADES for each change):
#
# 1 - (effbench 0.1.0) first version: format/format_version/created, effbench {version, git_commit,
#     git_dirty, run_id, command}, machine (bench.machine.collect_machine_metadata, with "id"), settings,
#     status, warnings, cells[] with per-process raw samples_ns/warmup_ns and a bench.stats summary.
FORMAT_VERSION = 1

# Upgrades of older documents, keyed by the version they read: _UPGRADES[n] turns a version-n document into
# a version-(n + 1) one. A change to the format adds one function here; load_result chains them.
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

_RUN_ID_RE = re.compile(r'"run_id"\s*:\s*"([0-9a-f]{32})"')


# ------------------------------------------------------------------------------------------ the document


def new_document(machine: dict[str, Any], settings: dict[str, Any], command: Sequence[str]) -> dict[str, Any]:
    """A new result document with no cells yet.

    Its status starts as "interrupted", so that a file saved in progress by a run that is then killed says
    so; the harness sets "complete" before its final save. `machine` is collect_machine_metadata()'s dict
    (an "id" is added if missing).
    """
    machine = dict(machine)
    if not machine.get("id"):
        from bench.machine import machine_id

        machine["id"] = machine_id(machine)
    info = machine.get("effbench")
    if not isinstance(info, dict):
        from bench.machine import effbench_version_info

        info = effbench_version_info()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "effbench": {
            "version": info.get("version", __version__),
            "git_commit": info.get("git_commit"),
            "git_dirty": info.get("git_dirty"),
            "run_id": uuid.uuid4().hex,
            "command": [str(c) for c in command],
        },
        "machine": machine,
        "settings": dict(settings),
        "status": "interrupted",
        "warnings": [],
        "cells": [],
    }


def _plain(obj: Any) -> Any:
    """A JSON scalar for `obj`: non-finite floats become null (strict JSON has no NaN), paths and numpy
    scalars their plain value. Anything else unknown is a bug in the caller and raises TypeError."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    item = getattr(obj, "item", None)  # numpy scalars, without importing numpy
    if callable(item) and type(obj).__module__ == "numpy":
        return _plain(item())
    raise TypeError(f"cannot store a {type(obj).__name__} in a result document: {obj!r}")


def _dumps(obj: Any, indent: int = 0) -> str:
    """JSON with nested objects indented but lists of scalars on one line.

    Raw samples are long lists of numbers: one number per line would make files 5x longer and unreadable,
    while compact JSON hides the structure.
    """
    pad = " " * (indent + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{pad}{json.dumps(str(k))}: {_dumps(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(obj, (list, tuple, set, frozenset)):
        values = sorted(obj) if isinstance(obj, (set, frozenset)) else list(obj)
        if all(not isinstance(v, (dict, list, tuple, set, frozenset)) for v in values):
            return json.dumps([_plain(v) for v in values], allow_nan=False, separators=(", ", ": "))
        items = [f"{pad}{_dumps(v, indent + 1)}" for v in values]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    return json.dumps(_plain(obj), allow_nan=False)


def default_result_path(doc: dict[str, Any], results_dir: Path) -> Path:
    """results_dir/<machine id>/<UTC creation time>.json, e.g. results/intel-xeon-bf96a8ca/20261126T063000Z.json."""
    machine = doc.get("machine") or {}
    mid = machine.get("id")
    if not mid:
        from bench.machine import machine_id

        mid = machine_id(machine)
    try:
        created = _dt.datetime.fromisoformat(str(doc.get("created")))
    except ValueError:
        created = _dt.datetime.now(_dt.UTC)
    if created.tzinfo is not None:
        created = created.astimezone(_dt.UTC)
    return results_dir / str(mid) / f"{created.strftime('%Y%m%dT%H%M%SZ')}.json"


def write_result(doc: dict[str, Any], path: Path | None, results_dir: Path) -> Path:
    """Write a new result file; return where it went.

    Default name: default_result_path(). An existing name is never overwritten: the file gets the next free
    name with -1, -2... and, when the name was chosen by the user (`path`), a note on stderr says so.
    The write is atomic: the file appears complete or not at all.
    """
    target = path if path is not None else default_result_path(doc, results_dir)
    written = write_new_file(target, _dumps(doc) + "\n")
    if path is not None and written != path:
        print(
            f"effbench: note: {path} already exists; the result was written to {written} (results are never "
            "overwritten)",
            file=sys.stderr,
        )
    return written


def _run_id_of_file(path: Path) -> str | None:
    with open(path, encoding="utf-8", errors="replace") as fp:
        head = fp.read(1 << 16)
    match = _RUN_ID_RE.search(head)
    if match:
        return match.group(1)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        found = data["effbench"]["run_id"]
        return str(found) if found else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_progress(doc: dict[str, Any], path: Path) -> None:
    """Atomically replace `path`, a file this run created with write_result, with the current document.

    Refuses (EffbenchError) to replace a file that belongs to another run: only a file whose
    effbench.run_id matches this document's is replaced. If the file has disappeared it is created again.
    """
    run_id = (doc.get("effbench") or {}).get("run_id")
    if not run_id:
        raise ValueError("document has no effbench.run_id: build it with new_document()")
    text = _dumps(doc) + "\n"
    if path.exists():
        try:
            owner = _run_id_of_file(path)
        except OSError as exc:
            raise EffbenchError(f"cannot read {path} before updating it: {exc.strerror or exc}") from None
        if owner != run_id:
            raise EffbenchError(
                f"{path} belongs to another effbench run; refusing to overwrite it (results are never "
                "overwritten): write this run's results to a new file"
            )
        try:
            replace_file(path, text)
        except OSError as exc:
            raise EffbenchError(f"cannot update {path}: {exc.strerror or exc}") from None
        return
    written = write_new_file(path, text)
    if written != path:  # pragma: no cover - lost a race against another writer of that very name
        raise EffbenchError(f"{path} was created by someone else meanwhile; this run's results are in {written}")


# ----------------------------------------------------------------------------------------------- loading


def load_result(path: Path) -> dict[str, Any]:
    """Read a result file, upgraded to the current format; EffbenchError with the way out on any problem."""
    path = Path(path)
    if not path.exists():
        raise EffbenchError(f"result file {path} does not exist: check the path (results are under results/)")
    if path.is_dir():
        raise EffbenchError(f"{path} is a folder, not a result file: pass one of the .json files in it")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EffbenchError(f"{path} is not a valid effbench result (not UTF-8 text): pass a .json result") from None
    except OSError as exc:
        raise EffbenchError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EffbenchError(
            f"{path} is not a valid effbench result (JSON error at line {exc.lineno}): it may be truncated; "
            "re-run the measurement"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        hint = ""
        if isinstance(doc, dict) and "benchmarks" in doc and "version" in doc:
            hint = " (it looks like a pyperf file: read it with python -m pyperf)"
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise EffbenchError(
            f"{path} is not an effbench result: format is {found!r}, expected {FORMAT!r}{hint}; "
            "pass a file written by effbench latency"
        )
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise EffbenchError(
            f"{path} has an invalid format_version {version!r}: expected an integer from 1 to {FORMAT_VERSION}"
        )
    if version > FORMAT_VERSION:
        raise EffbenchError(
            f"{path} was written by a newer effbench (format {version} > {FORMAT_VERSION}): upgrade effbench"
        )
    doc = upgrade_document(doc)
    for key, kind in (("machine", dict), ("settings", dict), ("cells", list)):
        if not isinstance(doc.get(key), kind):
            raise EffbenchError(
                f"{path} is not a valid effbench result: '{key}' is missing or not a {kind.__name__}; "
                "re-run the measurement"
            )
    return doc


def upgrade_document(doc: dict[str, Any]) -> dict[str, Any]:
    """Bring a document of an older format_version up to FORMAT_VERSION, one version at a time."""
    version = int(doc["format_version"])
    while version < FORMAT_VERSION:
        step = _UPGRADES.get(version)
        if step is None:
            raise EffbenchError(
                f"result format {version} cannot be read by this effbench (no upgrade to {version + 1}); "
                "use the effbench version that wrote it"
            )
        doc = step(doc)
        version += 1
        doc["format_version"] = version
    return doc


# ---------------------------------------------------------------------------------------- pyperf export


def _metadata_value(value: Any) -> str | int | float | None:
    """A value pyperf accepts as metadata (str without newlines, int, float), or None to leave it out."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
        text = ",".join(str(v) for v in value)
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    else:
        text = str(value)
    text = " ".join(text.split())
    return text or None


# pyperf metadata keys with a type and range of their own (pyperf._metadata.METADATA); others take any
# str/int/float. A value that does not fit is left out rather than failing the export.
_PYPERF_NUMERIC_KEYS = {
    "duration": (int, float),
    "uptime": (int, float),
    "load_avg_1min": (int, float),
    "mem_max_rss": (int,),
    "loops": (int,),
    "inner_loops": (int,),
}


def _pyperf_accepts(key: str, value: str | int | float) -> bool:
    kinds = _PYPERF_NUMERIC_KEYS.get(key)
    if kinds is None:
        return True
    if not isinstance(value, kinds) or isinstance(value, bool):
        return False
    return value >= (1 if key in ("loops", "inner_loops") else 0)


def _common_pyperf_metadata(doc: dict[str, Any]) -> dict[str, Any]:
    machine = doc.get("machine") or {}
    cpu = machine.get("cpu") or {}
    python = machine.get("python") or {}
    # pyperf's own copy first, for keys we do not map ourselves (cpu_freq, cpu_config, boot_time...).
    meta: dict[str, Any] = {}
    for key, value in (machine.get("pyperf") or {}).items():
        if key in ("date", "perf_version", "load_avg_1min", "runnable_threads", "uptime", "mem_max_rss"):
            continue
        meta[key] = value
    mapped = {
        "cpu_model_name": cpu.get("brand"),
        "cpu_count": (machine.get("cores") or {}).get("logical"),
        "hostname": machine.get("hostname"),
        "platform": machine.get("platform"),
        "python_version": python.get("version"),
        "python_implementation": (python.get("implementation") or "").lower() or None,
        "python_executable": python.get("executable"),
        "load_avg_1min": (machine.get("load_avg") or [None])[0],
        "date": doc.get("created"),
        "effbench_version": (doc.get("effbench") or {}).get("version"),
        "effbench_git_commit": (doc.get("effbench") or {}).get("git_commit"),
        "effbench_machine_id": machine.get("id"),
        "effbench_status": doc.get("status"),
        "cpu_governor": machine.get("governor"),
        "cpu_boost": machine.get("boost"),
        "kernel": machine.get("kernel"),
    }
    aslr = machine.get("aslr")
    if aslr in ("off", "conservative", "full"):
        mapped["aslr"] = {"off": "No randomization", "conservative": "Conservative randomization"}.get(
            aslr, "Full randomization"
        )
    meta.update(mapped)
    for key, value in (doc.get("settings") or {}).items():
        meta[f"effbench_{key}"] = value
    # Installed, not necessarily used by the cell: the run's own <runtime>_version says what a worker loaded.
    for name, version in (machine.get("runtimes") or {}).items():
        meta[f"installed_{name}"] = version
    return meta


def _cell_name(cell: dict[str, Any]) -> str:
    return (
        f"{cell.get('model', 'model')}/{cell.get('backend', 'backend')}/"
        f"{cell.get('precision', 'fp32')}/t{cell.get('threads', '?')}"
    )


def _seconds(values_ns: Sequence[Any]) -> list[float]:
    # pyperf requires values > 0: a 0 ns sample (below the timer's resolution) is written as 1 ns.
    return [max(float(v), 1.0) / 1e9 for v in values_ns]


def to_pyperf(doc: dict[str, Any]) -> pyperf.BenchmarkSuite:
    """The result as a pyperf BenchmarkSuite: a Benchmark per cell, a Run per worker process.

    Values are seconds (unit "second", loops 1: each value is one inference); warm-up inferences become pyperf
    warmups. Machine metadata goes under pyperf's own keys (cpu_model_name, cpu_count, hostname, platform,
    python_version, aslr...), settings as effbench_<key>, versions installed on the machine as
    installed_<name>; each run carries the versions its worker loaded (<runtime>_version), its pid, affinity and
    stop reason. Processes with no samples (crashed) and cells with no process
    left are not exported; runs of one benchmark may hold different numbers of values, which pyperf accepts.
    """
    import pyperf

    common = _common_pyperf_metadata(doc)
    benchmarks = []
    seen: dict[str, int] = {}
    for cell in doc.get("cells") or []:
        base = _cell_name(cell)
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base}#{seen[base]}"
        cell_meta = dict(common)
        cell_meta.update(
            {
                "name": name,
                "unit": "second",
                "loops": 1,
                "effbench_model": cell.get("model"),
                "effbench_backend": cell.get("backend"),
                "effbench_precision": cell.get("precision"),
                "effbench_threads": cell.get("threads"),
                "effbench_cell_cpus": cell.get("cpus"),
                "effbench_cell_status": cell.get("status"),
                "effbench_fingerprint": cell.get("fingerprint"),
            }
        )
        artifact = cell.get("artifact") or {}
        cell_meta["effbench_artifact_format"] = artifact.get("format")
        cell_meta["effbench_artifact_sha256"] = artifact.get("sha256")
        runs = []
        for process in cell.get("processes") or []:
            samples = process.get("samples_ns") or []
            if not samples:
                continue
            run_meta = dict(cell_meta)
            run_meta.update(
                {
                    "effbench_pid": process.get("pid"),
                    "effbench_process_index": process.get("process_index"),
                    "cpu_affinity": process.get("affinity"),
                    "effbench_stop_reason": process.get("stop_reason"),
                    "effbench_os_threads": process.get("os_threads"),
                    "effbench_effective": process.get("effective"),
                    "duration": process.get("wall_time_s"),
                    "mem_max_rss": process.get("peak_rss_bytes"),
                }
            )
            for runtime, version in (process.get("versions") or {}).items():
                run_meta[f"{runtime}_version"] = version
            metadata = {}
            for key, value in run_meta.items():
                converted = _metadata_value(value)
                if converted is not None and _pyperf_accepts(key, converted):
                    metadata[key] = converted
            warmups = [(1, v) for v in _seconds(process.get("warmup_ns") or [])]
            runs.append(
                pyperf.Run(_seconds(samples), warmups=warmups or None, metadata=metadata, collect_metadata=False)
            )
        if runs:
            benchmarks.append(pyperf.Benchmark(runs))
    if not benchmarks:
        raise EffbenchError("the result has no measured samples (every cell failed or was skipped): nothing to export")
    return pyperf.BenchmarkSuite(benchmarks)


def export_pyperf(result_path: Path, output: Path | None = None) -> Path:
    """Write the result at `result_path` as a pyperf JSON file (default: <result>.pyperf.json beside it).

    Like results, an existing output file is never overwritten: the export takes the next free name and a
    note on stderr says so.
    """
    doc = load_result(result_path)
    suite = to_pyperf(doc)
    buffer = io.StringIO()
    suite.dump(buffer, compact=True)
    target = output if output is not None else result_path.with_name(result_path.stem + ".pyperf.json")
    written = write_new_file(target, buffer.getvalue())
    if written != target:
        print(
            f"effbench: note: {target} already exists; wrote {written} instead (files are never overwritten)",
            file=sys.stderr,
        )
    return written
