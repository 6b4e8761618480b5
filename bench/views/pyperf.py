"""A result document as pyperf's JSON format: a Benchmark per cell, a Run per worker process."""

from __future__ import annotations

import io
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.document import CellRecord, ResultDocument
from bench.errors import EffbenchError
from bench.fsio import write_new_file
from bench.results import load_result

if TYPE_CHECKING:
    import pyperf


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


def _common_pyperf_metadata(doc: ResultDocument) -> dict[str, Any]:
    machine = doc.machine
    python = machine.python
    # pyperf's own copy first, for keys we do not map ourselves (cpu_freq, cpu_config, boot_time...).
    meta: dict[str, Any] = {}
    for key, value in machine.pyperf.items():
        if key in ("date", "perf_version", "load_avg_1min", "runnable_threads", "uptime", "mem_max_rss"):
            continue
        meta[key] = value
    mapped = {
        "cpu_model_name": machine.cpu_brand,
        "cpu_count": machine.logical_cpus,
        "hostname": machine.hostname,
        "platform": machine.get("platform"),
        "python_version": python.get("version"),
        "python_implementation": (python.get("implementation") or "").lower() or None,
        "python_executable": python.get("executable"),
        "load_avg_1min": machine.load_avg_1min,
        "date": doc.created,
        "effbench_version": doc.effbench.version,
        "effbench_git_commit": doc.effbench.git_commit,
        "effbench_machine_id": machine.id,
        "effbench_status": doc.status,
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
    for key, value in doc.settings.to_dict().items():
        meta[f"effbench_{key}"] = value
    # Installed, not necessarily used by the cell: the run's own <runtime>_version says what a worker loaded.
    for name, version in machine.runtimes.items():
        meta[f"installed_{name}"] = version
    return meta


def _cell_name(cell: CellRecord) -> str:
    return f"{cell.model}/{cell.backend}/{cell.precision}/t{cell.threads}"


def _seconds(values_ns: Sequence[Any]) -> list[float]:
    # pyperf requires values > 0: a 0 ns sample (below the timer's resolution) is written as 1 ns.
    return [max(float(v), 1.0) / 1e9 for v in values_ns]


def to_pyperf(doc: ResultDocument) -> pyperf.BenchmarkSuite:
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
    for cell in doc.cells:
        base = _cell_name(cell)
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base}#{seen[base]}"
        cell_meta = dict(common)
        cell_meta.update(
            {
                "name": name,
                "unit": "second",
                "loops": 1,
                "effbench_model": cell.model,
                "effbench_backend": cell.backend,
                "effbench_precision": cell.precision,
                "effbench_threads": cell.threads,
                "effbench_cell_cpus": cell.cpus,
                "effbench_cell_status": cell.status,
                "effbench_fingerprint": cell.fingerprint,
                "effbench_artifact_format": cell.artifact.format if cell.artifact else None,
                "effbench_artifact_sha256": cell.artifact.sha256 if cell.artifact else None,
            }
        )
        runs = []
        for process in cell.processes:
            if not process.samples_ns:
                continue
            run_meta = dict(cell_meta)
            run_meta.update(
                {
                    "effbench_pid": process.pid,
                    "effbench_process_index": process.process_index,
                    "cpu_affinity": process.affinity,
                    "effbench_stop_reason": process.stop_reason,
                    "effbench_os_threads": process.os_threads,
                    "effbench_effective": process.effective,
                    "duration": process.wall_time_s,
                    "mem_max_rss": process.peak_rss_bytes,
                }
            )
            for runtime, version in process.versions.items():
                run_meta[f"{runtime}_version"] = version
            metadata = {}
            for key, value in run_meta.items():
                converted = _metadata_value(value)
                if converted is not None and _pyperf_accepts(key, converted):
                    metadata[key] = converted
            warmups = [(1, v) for v in _seconds(process.warmup_ns)]
            runs.append(
                pyperf.Run(
                    _seconds(process.samples_ns), warmups=warmups or None, metadata=metadata, collect_metadata=False
                )
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
    suite = to_pyperf(load_result(result_path))
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
