"""The int8 view: per int8 cell, its latency against the same run's fp32 cell, how much ran in int8 (from the
runtime), the kernels (ISA path), the recipe and the agreement with fp32; and the warnings when int8 lost."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.document import CellRecord
from bench.views.format import format_ms
from bench.views.tables import Column

# Said wherever int8 figures are shown: the weights are random, so no accuracy exists to report.
LATENCY_ONLY = (
    "Latency only: the weights are random, so effbench never reports int8 accuracy; the agreement with fp32 "
    "(cosine, max relative error on seeded images) is a check that the quantized graph still computes the network. "
    "Figure 1 places int8 points at the paper's fp32 top-1."
)


@dataclass(frozen=True)
class Int8Row:
    """One int8 cell beside its fp32 twin (same document, model, backend and threads)."""

    model: str
    backend: str
    threads: int
    int8_ms: float | None
    fp32_ms: float | None
    macs_share: float | None  # of the multiply-adds that ran in int8, as the runtime tells it
    layers: str | None  # "81/82" layers in int8
    kernels: str | None  # the int8 layers' kernels (ISA path), most used first
    not_int8: str | None  # the layer kinds that did not run in int8
    cosine: float | None  # agreement with fp32 of this runtime's int8 model
    rel_error: float | None
    recipe: str | None  # "U8S8 per-channel, avx512_vnni" or the no-VNNI fallback
    note: str | None = None  # what the recipe's reader should know (the no-VNNI fallback)

    @property
    def speedup(self) -> float | None:
        """fp32 / int8 latency: above 1, int8 is faster."""
        return self.fp32_ms / self.int8_ms if self.int8_ms and self.fp32_ms else None


def _twin(cell: CellRecord, cells: Sequence[CellRecord]) -> CellRecord | None:
    return next(
        (c for c in cells if c.precision == "fp32" and (c.model, c.backend, c.threads, c.arm)
         == (cell.model, cell.backend, cell.threads, cell.arm) and c.summary is not None),
        None,
    )  # fmt: skip


def _recipe(quantization: dict[str, Any] | None) -> str | None:
    recipe = (quantization or {}).get("quantization") or {}
    if "activation_type" not in recipe:
        return recipe.get("tool")
    types = f"{recipe['activation_type'][1:2]}{recipe['weight_type'][1:2]}"  # QUInt8/QInt8 -> "UI"
    name = {"UI": "U8S8", "II": "S8S8", "UU": "U8U8"}.get(types, types)
    bits = ", 7-bit weights (reduce_range)" if recipe.get("reduce_range") else ""
    return f"{recipe.get('format', 'QDQ')} {name}{' per-channel' if recipe.get('per_channel') else ''}{bits}, " \
        f"{recipe.get('isa')}"  # fmt: skip


def int8_rows(cells: Sequence[CellRecord]) -> list[Int8Row]:
    """One row per measured int8 cell of one document's `cells`."""
    rows = []
    for cell in cells:
        if cell.precision != "int8" or cell.summary is None:
            continue
        twin = _twin(cell, cells)
        share = cell.processes[0].effective.get("int8") if cell.processes else None
        share = share if isinstance(share, dict) else {}
        agreement = ((cell.quantization or {}).get("agreement") or {}).get(cell.backend) or {}
        kernels = share.get("kernels") or {}
        rows.append(
            Int8Row(
                model=cell.model, backend=cell.backend, threads=cell.threads, int8_ms=cell.summary.median_ms,
                fp32_ms=twin.summary.median_ms if twin and twin.summary else None, macs_share=share.get("macs_share"),
                layers=f"{share['int8_nodes']}/{share['nodes']}" if "nodes" in share else None,
                kernels=", ".join(f"{k} x{n}" for k, n in list(kernels.items())[:3]) or None,
                not_int8=", ".join(f"{k} x{n}" for k, n in (share.get("not_int8_kinds") or {}).items()) or None,
                cosine=agreement.get("cosine"), rel_error=agreement.get("rel_error"),
                recipe=_recipe(cell.quantization),
                note=((cell.quantization or {}).get("quantization") or {}).get("note"),
            )
        )  # fmt: skip
    return rows


def int8_warnings(rows: Sequence[Int8Row]) -> list[str]:
    """A warning per int8 cell that was slower than fp32 in the same run."""
    return [
        f"{r.model} · {r.backend}: int8 was slower than fp32 in the same run ({format_ms(r.int8_ms)} vs "
        f"{format_ms(r.fp32_ms)} ms): the int8 kernels do not pay off here (no VNNI, or too many layers left "
        f"in fp32: {r.not_int8 or 'none'}); compare `effbench layers --precision int8` with fp32"
        for r in rows
        if r.speedup is not None and r.speedup < 1.0
    ]


INT8_COLUMNS = (
    Column("model", "model", align="left"),
    Column("backend", "backend", align="left"),
    Column("threads", "threads"),
    Column("int8_ms", "int8 ms"),
    Column("fp32_ms", "fp32 ms"),
    Column("speedup", "fp32/int8"),
    Column("macs", "MACs in int8"),
    Column("layers", "layers in int8"),
    Column("not_int8", "not in int8", align="left"),
    Column("kernels", "int8 kernels", align="left"),
    Column("agreement", "cosine / rel err vs fp32"),
    Column("recipe", "recipe", align="left"),
)


def int8_table_rows(rows: Sequence[Int8Row]) -> list[dict[str, Any]]:
    """Display text per row, keyed by INT8_COLUMNS."""
    return [
        {
            "model": r.model, "backend": r.backend, "threads": r.threads, "int8_ms": format_ms(r.int8_ms),
            "fp32_ms": format_ms(r.fp32_ms), "speedup": f"{r.speedup:.2f}x" if r.speedup else None,
            "macs": f"{r.macs_share:.0%}" if r.macs_share is not None else None, "layers": r.layers,
            "not_int8": r.not_int8, "kernels": r.kernels,
            "agreement": f"{r.cosine:.3f} / {r.rel_error:.2g}" if r.cosine is not None and r.rel_error is not None
            else None,
            "recipe": r.recipe,
        }
        for r in rows
    ]  # fmt: skip
