"""Result documents to comparison inputs: cells of BASE and NEW matched by model, backend, effective precision,
threads and CPU count (or the two arms of one `effbench ab` document), each arm's per-process medians and flags.

What changed between the arms besides the code under test (model fingerprint, runtime version) is reported
beside each cell: it is often the point of the comparison, never a reason to refuse it. Another machine is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.compare.verdict import Arm, CellInput
from bench.errors import EffbenchError

ARMS = ("base", "new")


@dataclass(frozen=True)
class Matched:
    """The matched cells, ready for compare_cells, and per cell key what else differs between the arms."""

    cells: list[CellInput]
    changes: dict[str, list[str]]
    base_machine: str
    new_machine: str


def _precision_word(cell: dict[str, Any]) -> str:
    processes = cell.get("processes") or []
    if processes:
        effective = (processes[0].get("effective") or {}).get("precision")
        if effective:
            return str(effective)
    return str(cell.get("precision"))


def cell_key(cell: dict[str, Any]) -> str:
    """model · backend · effective precision · N thread(s) · M CPU(s): what makes two cells the same cell."""
    return (
        f"{cell.get('model')} · {cell.get('backend')} · {_precision_word(cell)} · "
        f"{cell.get('threads')}t/{len(cell.get('cpus') or [])}cpu"
    )


def _busy(cell: dict[str, Any]) -> bool:
    from bench.machine.activity import OTHER_CPUS_BUSY_WARN, STEAL_WARN

    for process in cell.get("processes") or []:
        activity = process.get("machine_activity") or {}
        busy, steal = activity.get("other_cpus_busy"), activity.get("own_cpus_steal")
        if (busy is not None and busy >= OTHER_CPUS_BUSY_WARN) or (steal is not None and steal >= STEAL_WARN):
            return True
    return False


def arm_of(cell: dict[str, Any] | None) -> Arm:
    """One arm from a result cell (None: the cell is missing from that document)."""
    from bench.policy import CAP_PREFIX

    if cell is None:
        return Arm(status="missing")
    status = str(cell.get("status"))
    if status != "ok":
        mapped = status if status in ("failed", "skipped", "interrupted") else "failed"
        return Arm(status=mapped, error=str(cell.get("error") or ""))  # type: ignore[arg-type]
    processes = [p for p in cell.get("processes") or [] if p.get("samples_ns")]
    medians = tuple((cell.get("summary") or {}).get("process_medians_ms") or ())
    p90s = []
    for process in processes:
        ordered = sorted(process["samples_ns"])
        p90s.append(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] / 1e6)
    return Arm(
        medians_ms=medians,
        p90s_ms=tuple(p90s) if len(p90s) == len(medians) else None,
        samples=tuple(len(p["samples_ns"]) for p in processes) if len(processes) == len(medians) else None,
        machine_busy=_busy(cell),
        cap_hit=str(cell.get("stop_reason") or "").startswith(CAP_PREFIX),
    )


def _changes(base: dict[str, Any] | None, new: dict[str, Any] | None) -> list[str]:
    if base is None or new is None:
        return []
    found = []
    if base.get("fingerprint") != new.get("fingerprint"):
        found.append(f"model fingerprint {str(base.get('fingerprint'))[:12]} → {str(new.get('fingerprint'))[:12]}")
    backend = str(new.get("backend"))

    def version(cell: dict[str, Any]) -> str | None:
        processes = cell.get("processes") or []
        return (processes[0].get("versions") or {}).get(backend) if processes else None

    if version(base) != version(new):
        found.append(f"{backend} {version(base)} → {version(new)}")
    return found


def _by_key(cells: Sequence[dict[str, Any]], where: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for cell in cells:
        key = cell_key(cell)
        if key in out:
            raise EffbenchError(
                f"{where} measures {key} twice: compare documents with one cell per model, backend and precision"
            )
        out[key] = cell
    return out


def _match(
    base_cells: dict[str, dict[str, Any]], new_cells: dict[str, dict[str, Any]], machines: tuple[str, str]
) -> Matched:
    keys = list(base_cells) + [k for k in new_cells if k not in base_cells]
    common = [k for k in keys if k in base_cells and k in new_cells]
    if not common:
        raise EffbenchError(
            "BASE and NEW have no cell in common (cells match by model, backend, effective precision, threads and "
            f"CPU count): BASE has {', '.join(base_cells) or 'none'}; NEW has {', '.join(new_cells) or 'none'}"
        )
    cells = [CellInput(k, arm_of(base_cells.get(k)), arm_of(new_cells.get(k))) for k in keys]
    changes = {k: _changes(base_cells.get(k), new_cells.get(k)) for k in keys}
    return Matched(cells, {k: v for k, v in changes.items() if v}, *machines)


def match_documents(base: dict[str, Any], new: dict[str, Any], *, across_machines: bool = False) -> Matched:
    """Cells of two result documents matched by key; EffbenchError when the machines differ (unless
    `across_machines`) or when nothing matches."""
    machines = (str((base.get("machine") or {}).get("id")), str((new.get("machine") or {}).get("id")))
    if machines[0] != machines[1] and not across_machines:
        raise EffbenchError(
            f"BASE ran on {machines[0]} and NEW on {machines[1]}: latencies of two machines are not a "
            "regression test; compare runs of one machine, or pass --across-machines to compare anyway"
        )
    return _match(_by_key(base.get("cells") or [], "BASE"), _by_key(new.get("cells") or [], "NEW"), machines)


def match_ab(doc: dict[str, Any]) -> Matched:
    """The two arms of one `effbench ab` document. Its cells come in pairs (the base arm's cell, then the new
    arm's, per backend), matched by position: the arms may be two different models compared as one cell (a
    candidate network against the current one), whose names then both appear in the key."""
    arms = {arm: [c for c in doc.get("cells") or [] if c.get("arm") == arm] for arm in ARMS}
    if not arms["base"] or not arms["new"] or len(arms["base"]) != len(arms["new"]):
        raise EffbenchError(
            "this document has no complete A/B arms (cells with arm base and new, in pairs): pass two result "
            "documents, BASE.json NEW.json, or a document written by effbench ab"
        )
    base_cells: dict[str, dict[str, Any]] = {}
    new_cells: dict[str, dict[str, Any]] = {}
    for base, new in zip(arms["base"], arms["new"], strict=True):
        key = cell_key(base)
        if base.get("model") != new.get("model"):
            key = key.replace(str(base.get("model")), f"{base.get('model')} → {new.get('model')}", 1)
        base_cells[key], new_cells[key] = base, new
    machine = str((doc.get("machine") or {}).get("id"))
    return _match(base_cells, new_cells, (machine, machine))
