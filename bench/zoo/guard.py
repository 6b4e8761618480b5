"""Refuses model specs too large to count or to build here, from the torch-free blueprint, before anything is built.

`efficientnet:phi=99` resolves in microseconds (width ×12,500, depth ×69 million, resolution 228,735,837) but would
build for minutes and then run out of memory; its blueprint alone would hold a billion blocks. The estimate below
never walks more than MAX_COUNTED_BLOCKS blocks: deeper specs are counted at a shallower depth and scaled up.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bench.errors import EffbenchError
from bench.zoo import families
from bench.zoo.blueprint import (
    Act,
    BatchNorm,
    Bottleneck,
    Conv,
    Dropout,
    Flatten,
    GlobalAvgPool,
    Linear,
    MaxPool,
    Node,
    Residual,
    Seq,
    SqueezeExcite,
    bottleneck_layers,
    count,
)
from bench.zoo.registry import ModelSpec, resolve_model

# Walking a blueprint costs about 0.1 ms per block (building it and counting it, on the project's 2-vCPU
# machine): 5,000 blocks (90 times B7's 55) stay well under a second. Deeper specs are counted at a depth of
# about ESTIMATE_BLOCKS blocks and scaled by the ratio of block counts, which is close because every stage
# scales its repeats by the same depth coefficient.
MAX_COUNTED_BLOCKS = 5_000
ESTIMATE_BLOCKS = 500

BYTES_PER_VALUE = 4  # fp32 weights and activations
MEMINFO = Path("/proc/meminfo")

# Activations torch runs in place (bench.nets builds them with inplace=True) and layers that return their input
# (dropout in eval mode, flatten as a view): they add no tensor of their own.
_IN_PLACE_ACTS = {"relu", "relu6", "silu", "hardswish"}


@dataclass(frozen=True)
class SizeEstimate:
    """A model's size at batch 1: exact counts when `exact`, else scaled from a shallower copy."""

    params: int
    macs: int
    peak_activation_bytes: int  # the largest set of fp32 tensors alive at once in one forward pass
    blocks: int
    exact: bool

    @property
    def weight_bytes(self) -> int:
        return BYTES_PER_VALUE * self.params

    @property
    def required_bytes(self) -> int:
        """Memory to hold the fp32 weights and the live activations of one batch-1 inference: a lower bound of
        what building needs (an export also holds a float64 copy and the serialized graph), so a spec refused on
        it could never have been built here."""
        return self.weight_bytes + self.peak_activation_bytes


def block_count(spec: ModelSpec) -> int:
    """The number of repeated blocks (MBConv, bottleneck, separable) of `spec`, without building its blueprint."""
    if spec.family == "mobilenet_v3":
        return len(families.MOBILENET_V3_BLOCKS[spec.variant])  # no depth scaling
    layers = {
        "efficientnet": [stage[5] for stage in families.EFFICIENTNET_B0_STAGES],
        "resnet": list(families.RESNET_LAYERS.get(spec.variant, ())),
        "mobilenet_v1": [stage[2] for stage in families.MOBILENET_V1_STAGES],
        "mobilenet_v2": [stage[2] for stage in families.MOBILENET_V2_STAGES],
    }[spec.family]
    # The families' own rounding rule (repeats rounded up), so that the count is the blueprint's.
    return sum(math.ceil(n * spec.depth) for n in layers)


def estimate_size(spec: ModelSpec) -> SizeEstimate:
    """Parameters, MACs and peak fp32 activation memory of `spec` at batch 1 (OverflowError past float range)."""
    blocks = block_count(spec)
    counted = spec
    if blocks > MAX_COUNTED_BLOCKS:
        counted = replace(spec, depth=spec.depth * ESTIMATE_BLOCKS / blocks)
    blueprint = counted.blueprint()
    shape = (3, spec.resolution, spec.resolution)
    counts, _ = count(blueprint, shape)
    peak, _ = _peak_values(blueprint, shape, 0)
    if counted is spec:
        return SizeEstimate(counts.params, counts.macs, peak * BYTES_PER_VALUE, blocks, exact=True)
    scale = blocks / block_count(counted)
    return SizeEstimate(
        int(counts.params * scale), int(counts.macs * scale), peak * BYTES_PER_VALUE, blocks, exact=False
    )


def available_memory_bytes(meminfo: Path = MEMINFO) -> int | None:
    """Memory the kernel can give a new process without swapping (MemAvailable), or None when unknown."""
    try:
        for line in meminfo.read_text(encoding="ascii", errors="replace").splitlines():
            key, _, rest = line.partition(":")
            fields = rest.split()
            if key == "MemAvailable" and fields and fields[0].isdigit():
                return int(fields[0]) * 1024
    except OSError:
        pass
    try:  # not Linux, or an old kernel: free pages, a lower bound
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_countable(spec: ModelSpec) -> None:
    """Refuse (EffbenchError) a spec too deep for exact counts, so `effbench models` answers at once."""
    estimate = _estimate_or_refuse(spec)
    if not estimate.exact:
        phi = _phi_of(spec)
        fix = "choose a smaller d"
        if phi is not None:
            fix = f"choose a smaller phi (at most {_largest_phi(phi, lambda e: e.exact)})"
        raise EffbenchError(
            f"{spec.name} has {estimate.blocks:,} blocks, more than the {MAX_COUNTED_BLOCKS:,} effbench counts "
            f"exactly ({_describe(estimate)}); {fix}"
        )


def check_buildable(spec: ModelSpec, available_bytes: int | None = None) -> SizeEstimate:
    """The spec's size estimate, or EffbenchError when its fp32 weights and activations exceed the memory available.

    Call it before building, exporting or measuring a zoo model. `available_bytes` defaults to MemAvailable; when
    that is unknown, only specs too large to estimate are refused.
    """
    estimate = _estimate_or_refuse(spec)
    limit = available_memory_bytes() if available_bytes is None else available_bytes
    if limit is not None and estimate.required_bytes > limit:
        raise EffbenchError(
            f"{spec.name} is too large to build here: {_describe(estimate)}, "
            f"more than the {_bytes(limit)} of memory available; {_fix(spec, limit)}"
        )
    return estimate


def _estimate_or_refuse(spec: ModelSpec) -> SizeEstimate:
    try:
        return estimate_size(spec)
    except OverflowError:
        raise EffbenchError(
            f"{spec.name} is too large to estimate (width ×{spec.width:.3g}, depth ×{spec.depth:.3g}, "
            f"resolution {spec.resolution if spec.resolution < 10**9 else _scientific(spec.resolution)}); {_fix(spec)}"
        ) from None


def _describe(estimate: SizeEstimate) -> str:
    about = "" if estimate.exact else "about "
    return (
        f"{about}{_count(estimate.params)} parameters and {_count(estimate.macs)} MACs, "
        f"{_bytes(estimate.required_bytes)} for fp32 weights and activations at batch 1"
    )


def _fix(spec: ModelSpec, limit: int | None = None) -> str:
    phi = _phi_of(spec)
    if phi is None:
        return "choose smaller scaling values (w, d, r) or a registered model ('effbench models' lists them)"
    fitting = None
    if limit is not None:
        fitting = _largest_phi(phi, lambda estimate: estimate.required_bytes <= limit)
    return "choose a smaller phi" + (f" (at most {fitting} on this machine)" if fitting is not None else "")


def _phi_of(spec: ModelSpec) -> float | None:
    prefix = "efficientnet:phi="
    return float(spec.name[len(prefix) :]) if spec.name.startswith(prefix) else None


def _largest_phi(phi: float, acceptable: Callable[[SizeEstimate], bool]) -> int | None:
    """The largest whole phi below `phi` whose estimate is acceptable (sizes grow with phi), or None."""

    def ok(candidate: int) -> bool:
        try:
            return acceptable(estimate_size(resolve_model(f"efficientnet:phi={candidate}")))
        except (OverflowError, EffbenchError):
            return False

    low, high = 0, math.ceil(phi) - 1  # a binary search: a handful of estimates of at most ESTIMATE_BLOCKS blocks
    if high < 0 or not ok(low):
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if ok(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _count(value: int) -> str:
    for size, unit in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k")):
        if value >= 1000 * 10**12:
            return _scientific(value)
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return str(value)


def _bytes(value: int) -> str:
    for size, unit in ((10**15, "PB"), (10**12, "TB"), (10**9, "GB"), (10**6, "MB"), (10**3, "kB")):
        if value >= 1000 * 10**15:
            return f"{_scientific(value)} bytes"
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value} bytes"


def _scientific(value: int) -> str:
    """'2.29e+35' for any int, however large (float() overflows past 1e308)."""
    digits = str(value)
    return f"{digits[0]}.{digits[1:3]}e+{len(digits) - 1}"


def _peak_values(node: Node, shape: tuple[int, int, int], held: int) -> tuple[int, tuple[int, int, int]]:
    """The most fp32 values alive at once while `node` runs on an input of `shape`, with `held` values kept alive
    elsewhere (block inputs waiting for their residual add); returns the output shape too."""
    size = shape[0] * shape[1] * shape[2]
    if isinstance(node, Seq):
        peak = held + size
        for _, child in node.children:
            child_peak, shape = _peak_values(child, shape, held)
            peak = max(peak, child_peak)
        return peak, shape
    if isinstance(node, Residual):
        if not node.add:
            return _peak_values(node.body, shape, held)
        body_peak, out = _peak_values(node.body, shape, held + size)
        return max(body_peak, held + 3 * size), out  # input, body output and their sum
    if isinstance(node, Bottleneck):
        layers = dict(bottleneck_layers(node).children)
        main = Seq(tuple((k, v) for k, v in layers.items() if k != "downsample"))
        main_peak, out = _peak_values(main, shape, held + size)
        out_size = out[0] * out[1] * out[2]
        peak = max(main_peak, held + size + 2 * out_size)  # the input (shortcut), conv3's output and the sum
        if "downsample" in layers:
            short_peak, _ = _peak_values(layers["downsample"], shape, held + out_size)
            peak = max(peak, short_peak, held + 3 * out_size)
        return peak, out
    _, out = count(node, shape)
    out_size = out[0] * out[1] * out[2]
    if isinstance(node, (Dropout, Flatten)) or (isinstance(node, Act) and node.kind in _IN_PLACE_ACTS):
        return held + size, out
    if isinstance(node, (Conv, BatchNorm, Act, MaxPool, GlobalAvgPool, Linear, SqueezeExcite)):
        return held + size + out_size, out
    raise TypeError(f"unknown blueprint node {node!r}")
