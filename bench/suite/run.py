"""Running a suite: its matrix planned (exported, or read from a bundle), the peak calibrated once per thread count,
then every cell measured in one interleaved schedule; and resuming such a run from its own result document."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.calibration import PeakCalibration
from bench.document import CellRecord, ResultDocument, Settings, SuiteRecord
from bench.engine.launchers import Launcher
from bench.engine.measure import MeasuredRun, measure_into, start_document
from bench.engine.plan import ArtifactSource, CellRequest, RunIdentity, export_source, is_user_file, plan_requests
from bench.engine.policy import MeasurePolicy, get_policy
from bench.engine.progress import Progress
from bench.engine.runner import CellPlan, CellRun
from bench.errors import EffbenchError
from bench.probes.calibrate import CpuDescription, best_of_rounds, measure_peak, rate_unit
from bench.suite.definition import Suite, toolchain_problem
from bench.vocab import PRECISIONS

# A cell with one of these statuses is finished: a resumed run keeps its record as it is.
FINISHED = ("ok", "failed", "skipped")
TORCH_FROM_BUNDLE = "the run reads its models from a bundle: torch runs zoo models from their PyTorch code, not files"
# A request already finished in the document being resumed: planned without an export, then dropped.
_DONE = "finished in the document being resumed"

MakeProgress = Callable[[Sequence[CellPlan], MeasurePolicy], Progress]
Say = Callable[[str], Any]


@dataclass(frozen=True)
class SuiteRun:
    """What `effbench run --suite` was asked: the suite and where its models, CPUs and result file come from."""

    suite: Suite
    cache_dir: Path
    results_dir: Path  # bench.toml's [paths] results_dir; the suite's output folder wins
    command: tuple[str, ...]
    bundle: Path | None = None
    output: Path | None = None  # --output FILE
    cpus: str | None = None  # --cpus: a pool for the widest thread count; else the suite's cpus, else chosen
    identity: RunIdentity = field(default_factory=RunIdentity)
    calibrate: bool = True


def cell_key(cell: CellRecord | CellPlan) -> tuple[str, str, str, int]:
    return cell.model, cell.backend, cell.precision, cell.threads


# ----------------------------------------------------------------------------------------- planning


def cpus_by_threads(
    threads: Sequence[int], pool: str | Sequence[int] | None, topology: Any = None
) -> dict[int, tuple[int, ...]]:
    """The CPUs for each thread count: the first N of one pool of CPUs on distinct physical cores, sized for the
    widest count (`pool`: --cpus or the suite's cpus, validated; None: bench.machine's default choice)."""
    from bench.machine import format_cpu_list, parse_cpus_option, resolve_cpus

    widest = max(threads)
    text: str | None = None
    if pool is not None:
        listed = parse_cpus_option(pool) if isinstance(pool, str) else list(pool)
        if len(listed) < widest:
            raise EffbenchError(
                f"--cpus {format_cpu_list(listed)} names {len(listed)} CPU(s) but the suite runs {widest} threads: "
                f"give at least {widest} CPUs"
            )
        text = format_cpu_list(listed[:widest])
    chosen = resolve_cpus(widest, text, topology)
    return {t: tuple(chosen[:t]) for t in threads}


def suite_requests(
    suite: Suite, cpu_flags: Sequence[str], cpus: Mapping[int, tuple[int, ...]], bundle: Path | None
) -> list[CellRequest]:
    """The suite's matrix as cell requests, with the reason of every cell this machine (or a bundle) cannot run."""
    from bench.backends import is_installed

    def installed(backend: str) -> bool:
        return (backend == "torch" and bundle is not None) or is_installed(backend)

    requests = []
    for cell in suite.cells(cpu_flags, installed):
        skip = cell.skip_reason
        if skip is None and bundle is not None and cell.backend == "torch":
            skip = TORCH_FROM_BUNDLE
        skip = skip or toolchain_problem(cell)
        requests.append(CellRequest(cell.model, cell.backend, cell.precision, cell.threads, cpus[cell.threads], skip))
    return requests


def bundle_source(bundle: Path, files: ArtifactSource) -> ArtifactSource:
    """Zoo models from the bundle's entries (verified, no export, no torch); model files through `files`."""

    def load(model: str, formats: tuple[str, ...]) -> Any:
        from bench.export import load_artifacts
        from bench.export.bundle import bundle_entry_folder

        if is_user_file(model):
            return files(model, formats)
        # Every format the entry has: a backend whose format it lacks is skipped with that reason by the planner.
        return load_artifacts(bundle_entry_folder(bundle, model))

    return load


def check_bundle(bundle: Path, suite: Suite) -> None:
    """Every zoo model of the suite is in the bundle: say which one is not before anything runs."""
    from bench.export.bundle import bundle_entry_folder

    if not bundle.is_dir():
        raise EffbenchError(f"--bundle {bundle} is not a folder: pass the folder 'effbench export --bundle' wrote")
    for model in suite.models:
        if not is_user_file(model):
            bundle_entry_folder(bundle, model)


def _plan(requests: Sequence[CellRequest], cache_dir: Path, bundle: Path | None, say: Say) -> list[CellPlan]:
    source = export_source(cache_dir, say=say)
    return plan_requests(
        requests, cache_dir=cache_dir, say=say, artifacts=bundle_source(bundle, source) if bundle else source
    )


def _precisions_to_calibrate(plans: Sequence[CellPlan]) -> tuple[str, ...]:
    used = {p.precision for p in plans if not p.skip_reason} | {"fp32"}  # fp32: every report's baseline
    return tuple(p for p in PRECISIONS if p in used)


def calibrate(
    cpus: Mapping[int, tuple[int, ...]],
    precisions: Sequence[str],
    cpu: CpuDescription,
    launcher: Launcher | None,
    say: Say,
) -> tuple[PeakCalibration, ...]:
    """bench.probes.calibrate.measure_peak once per thread count, on that count's CPUs: the records for the document."""
    records = []
    for threads, chosen in sorted(cpus.items()):
        say(f"peak calibration: {threads} thread(s) on CPU(s) {','.join(map(str, chosen))}")
        peak = measure_peak(chosen, threads, precisions, cpu=cpu, launcher=launcher)
        for found in peak.peaks:
            unit = rate_unit(found.precision)
            figure = f"{found.gflops:.1f} {unit}" if found.gflops is not None else f"unavailable ({found.unavailable})"
            say(f"  {found.precision}: {figure}")
        records.append(peak)
    return tuple(records)


def suite_settings(suite: Suite, cpus: Mapping[int, tuple[int, ...]], policy: MeasurePolicy) -> Settings:
    """The document's settings: the widest thread count and its CPUs (each cell records its own), the
    precisions used (comma-joined when several), the preset and policy, backends and models."""
    widest = max(cpus)
    used = [p for p in PRECISIONS if any(p in names for _, names in suite.precisions)]
    return Settings(
        threads=widest,
        cpus=cpus[widest],
        precision=",".join(used),
        preset=suite.preset,
        policy=policy.to_dict(),
        backends=suite.backends,
        models=suite.models,
    )


def _progress_context(progress: Progress | None) -> Any:
    return progress if isinstance(progress, contextlib.AbstractContextManager) else contextlib.nullcontext()


# ------------------------------------------------------------------------------------------ running


def run_suite(
    request: SuiteRun,
    launcher: Launcher,
    *,
    calibration_launcher: Launcher | None = None,
    make_progress: MakeProgress | None = None,
    say: Say = lambda _message: None,
    topology: Any = None,
) -> MeasuredRun:
    """Plan (export or read the bundle), calibrate, then measure the suite's matrix in one schedule.

    The result file appears after the calibration (nothing is lost by stopping before it) and is saved after
    every finished cell; the peak calibrations run through `calibration_launcher` (real pinned workers unless
    given); `topology` (bench.machine.CpuTopology) replaces this machine's in tests.
    """
    from bench.machine import collect_machine_metadata

    suite = request.suite
    if suite.overrides_shipped:
        say(f"note: suite '{suite.name}' is {suite.source}'s own, not the one effbench ships ('effbench suites')")
    if request.bundle is not None:
        check_bundle(request.bundle, suite)
    machine = collect_machine_metadata()
    cpu = CpuDescription.from_metadata(machine.get("cpu") or {})
    cpus = cpus_by_threads(suite.threads, request.cpus if request.cpus is not None else suite.cpus, topology)
    plans = _plan(
        suite_requests(suite, sorted(cpu.flags), cpus, request.bundle), request.cache_dir, request.bundle, say
    )
    policy = get_policy(suite.preset)
    calibrations: tuple[PeakCalibration, ...] = ()
    if request.calibrate:
        calibrations = calibrate(cpus, _precisions_to_calibrate(plans), cpu, calibration_launcher, say)
    else:
        say("peak calibration skipped (--no-calibrate): the document has no calibrations, reports show no % of peak")
    doc, path = start_document(
        suite_settings(suite, cpus, policy), request.command, output=request.output,
        results_dir=suite.output if suite.output is not None else request.results_dir, machine=machine,
        identity=request.identity, suite=suite_record(suite, request.bundle), calibrations=calibrations,
        name_prefix=suite.name, say=say,
    )  # fmt: skip
    progress = make_progress(plans, policy) if make_progress else None
    with _progress_context(progress):
        run = measure_into(doc, path, plans, policy, launcher, progress=progress)
    if calibrations and not run.interrupted:
        say("peak calibration again after the cells (each precision keeps the higher of the two)")
        again = calibrate(cpus, _precisions_to_calibrate(plans), cpu, calibration_launcher, say)
        run = _with_calibrations(run, merge_calibrations(calibrations, again))
    return run


def suite_record(suite: Suite, bundle: Path | None) -> SuiteRecord:
    """The document's record of the suite as run, with the bundle it read (bench.engine.measure.start_document
    makes its path relative to the result file's folder: SuiteRecord.placed_in)."""
    return SuiteRecord(name=suite.name, definition=suite.to_dict(), bundle=str(bundle.resolve()) if bundle else None)


def merge_calibrations(
    before: Sequence[PeakCalibration], after: Sequence[PeakCalibration]
) -> tuple[PeakCalibration, ...]:
    """Per thread count, bench.probes.calibrate.best_of_rounds of the records before and after the cells."""
    later = {record.threads: record for record in after}
    return tuple(best_of_rounds(r, later[r.threads]) if r.threads in later else r for r in before)


def _with_calibrations(run: MeasuredRun, calibrations: tuple[PeakCalibration, ...]) -> MeasuredRun:
    from bench.results import save_progress

    doc = replace(run.document, calibrations=calibrations)
    save_progress(doc, run.path)
    return replace(run, document=doc)


def resume_suite(
    path: Path,
    launcher: Launcher,
    *,
    cache_dir: Path,
    bundle: Path | None = None,
    make_progress: MakeProgress | None = None,
    say: Say = lambda _message: None,
) -> MeasuredRun | None:
    """Measure the cells of a suite document that are missing or interrupted, into the same file.

    The suite is the definition stored in the document (bench.toml may have changed since), the CPUs and policy
    are the document's; finished cells (ok, failed, skipped) are kept as they are. None: nothing to measure.
    """
    from bench.machine import collect_machine_metadata, machine_id
    from bench.results import load_result

    doc = load_result(path)
    if doc.suite is None:
        raise EffbenchError(
            f"{path} is not a suite run (it has no 'suite'): only documents of 'effbench run --suite' can be resumed"
        )
    machine = collect_machine_metadata()
    here = machine.get("id") or machine_id(machine)
    if doc.machine.id != here:
        raise EffbenchError(
            f"{path} was measured on machine {doc.machine.id}, this is {here}: resume it there, or start a new "
            "run with --suite"
        )
    suite = Suite.from_dict(doc.suite.resolved_definition(Path(path).parent))
    if bundle is None and doc.suite.bundle:
        bundle = Path(path).parent / doc.suite.bundle  # relative to the document's folder (absolute in older ones)
    if bundle is not None:
        check_bundle(bundle, suite)
    cpus = {t: tuple(doc.settings.cpus[:t]) for t in suite.threads}
    finished = {cell_key(c): c for c in doc.cells if c.status in FINISHED}
    requests = _mark_finished(suite_requests(suite, doc.machine.cpu_flags, cpus, bundle), finished)
    plans = _plan(requests, cache_dir, bundle, say)
    rank = {cell_key(p): i for i, p in enumerate(plans)}
    todo = [p for p in plans if cell_key(p) not in finished]
    if not todo:
        return None
    say(f"resuming {path}: {len(todo)} of {len(plans)} cells to measure, {len(finished)} kept")
    note = f"resumed: {len(todo)} cells measured by a later 'effbench run --resume', apart from the first schedule"
    doc = replace(doc, warnings=(*doc.warnings, note), status="interrupted")
    kept = [c for c in doc.cells if c.status in FINISHED]

    def layout(cells: Sequence[CellRun]) -> tuple[CellRecord, ...]:
        records = [*kept, *(cell.record() for cell in cells if cell.finished)]
        return tuple(sorted(records, key=lambda c: rank.get(cell_key(c), len(rank))))  # stable: strays stay last

    policy = MeasurePolicy(**doc.settings.policy)
    progress = make_progress(todo, policy) if make_progress else None
    with _progress_context(progress):
        return measure_into(doc, path, todo, policy, launcher, progress=progress, layout=layout)


def _mark_finished(
    requests: Sequence[CellRequest], finished: Mapping[tuple[str, str, str, int], Any]
) -> list[CellRequest]:
    """Zoo-model requests already finished get a skip reason, so that a model whose cells are all done is not
    exported again (a model file's name is known only once it is read: those are filtered after planning)."""
    from bench.zoo import resolve_model

    names: dict[str, str | None] = {}
    marked = []
    for r in requests:
        if r.model not in names:
            names[r.model] = None if is_user_file(r.model) else resolve_model(r.model).name
        name = names[r.model]
        done = name is not None and (name, r.backend, r.precision, r.threads) in finished
        marked.append(replace(r, skip_reason=_DONE) if done else r)
    return marked


def run_summary(document: ResultDocument) -> str:
    """One line: how many cells ran, failed, were skipped or are left."""
    counts: dict[str, int] = {}
    for cell in document.cells:
        counts[cell.status] = counts.get(cell.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no cells"
