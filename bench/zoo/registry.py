"""Model registry: names, aliases and scaling specs resolve to a ModelSpec; blueprints give exact counts."""

from __future__ import annotations

import difflib
import fnmatch
import math
import re
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import Any

from bench.errors import EffbenchError
from bench.zoo import families
from bench.zoo.blueprint import Seq, count
from bench.zoo.paper import PAPER, PaperFigures

MIN_RESOLUTION = 32
MAX_RESOLUTION = 4096

# Compound scaling coefficients from the paper (Eq. 3, found by grid search on B0).
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15

# The Table 3 compound rows for MobileNetV2 and ResNet-50 come without coefficients in the paper. effbench uses
# the MobileNetV1 row's (d=1.4, w=1.2, r=1.3) for all three: it is the only set the paper states for Table 3,
# and it is close to phi=2 of EfficientNet's own coefficients (d=1.44, w=1.21, r=1.32).
TABLE3_COMPOUND = {"depth": 1.4, "width": 1.2, "resolution_scale": 1.3}


@dataclass(frozen=True)
class ModelSpec:
    """Everything that determines a model's architecture. Weights are chosen separately (seed or file)."""

    name: str
    family: str  # efficientnet | resnet | mobilenet_v1 | mobilenet_v2 | mobilenet_v3
    variant: str  # resnet depth ("50"), mobilenet_v3 size ("large"); "" otherwise
    width: float
    depth: float
    resolution: int
    dropout: float
    base: str  # the registered model it derives from

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (1, 3, self.resolution, self.resolution)

    @property
    def params(self) -> int:
        return _counts(self)[0]

    @property
    def macs(self) -> int:
        return _counts(self)[1]

    @property
    def paper(self) -> PaperFigures | None:
        return PAPER.get(self.name)

    def blueprint(self) -> Seq:
        return _blueprint(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        return cls(**data)


def _blueprint(spec: ModelSpec) -> Seq:
    if spec.family == "efficientnet":
        return families.efficientnet(spec.width, spec.depth, spec.dropout)
    if spec.family == "resnet":
        return families.resnet(spec.variant, spec.width, spec.depth)
    if spec.family == "mobilenet_v1":
        return families.mobilenet_v1(spec.width, spec.depth)
    if spec.family == "mobilenet_v2":
        return families.mobilenet_v2(spec.width, spec.depth)
    if spec.family == "mobilenet_v3":
        return families.mobilenet_v3(spec.variant, spec.width)
    raise ValueError(f"unknown family {spec.family}")


@lru_cache(maxsize=256)
def _counts(spec: ModelSpec) -> tuple[int, int]:
    counts, _ = count(_blueprint(spec), (3, spec.resolution, spec.resolution))
    return counts.params, counts.macs


# ---------------------------------------------------------------- the registered models

# EfficientNet B0..B7: (width, depth, resolution, dropout), the released coefficients (not exact powers of phi).
EFFICIENTNET_TABLE = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
}


def _registry() -> dict[str, ModelSpec]:
    specs: list[ModelSpec] = []
    for key, (w, d, r, p) in EFFICIENTNET_TABLE.items():
        name = f"efficientnet_{key}"
        specs.append(ModelSpec(name, "efficientnet", "", w, d, r, p, name))
    for variant in families.RESNET_LAYERS:
        name = f"resnet{variant}"
        specs.append(ModelSpec(name, "resnet", variant, 1.0, 1.0, 224, 0.0, name))
    specs.append(ModelSpec("mobilenet_v1", "mobilenet_v1", "", 1.0, 1.0, 224, 0.001, "mobilenet_v1"))
    specs.append(ModelSpec("mobilenet_v2", "mobilenet_v2", "", 1.0, 1.0, 224, 0.2, "mobilenet_v2"))
    for variant in ("large", "small"):
        name = f"mobilenet_v3_{variant}"
        specs.append(ModelSpec(name, "mobilenet_v3", variant, 1.0, 1.0, 224, 0.2, name))
    base = {s.name: s for s in specs}
    # Table 3: scaling a baseline by one dimension (x2 width, x4 depth, x2 resolution) or all three.
    compound_r = round(224 * TABLE3_COMPOUND["resolution_scale"])
    scaled = {
        "mobilenet_v1_w2": ("mobilenet_v1", {"width": 2.0}),
        "mobilenet_v1_r2": ("mobilenet_v1", {"resolution": 448}),
        "mobilenet_v1_compound": (
            "mobilenet_v1",
            {"depth": TABLE3_COMPOUND["depth"], "width": TABLE3_COMPOUND["width"], "resolution": compound_r},
        ),
        "mobilenet_v2_d4": ("mobilenet_v2", {"depth": 4.0}),
        "mobilenet_v2_w2": ("mobilenet_v2", {"width": 2.0}),
        "mobilenet_v2_r2": ("mobilenet_v2", {"resolution": 448}),
        "mobilenet_v2_compound": (
            "mobilenet_v2",
            {"depth": TABLE3_COMPOUND["depth"], "width": TABLE3_COMPOUND["width"], "resolution": compound_r},
        ),
        "resnet50_d4": ("resnet50", {"depth": 4.0}),
        "resnet50_w2": ("resnet50", {"width": 2.0}),
        "resnet50_r2": ("resnet50", {"resolution": 448}),
        "resnet50_compound": (
            "resnet50",
            {"depth": TABLE3_COMPOUND["depth"], "width": TABLE3_COMPOUND["width"], "resolution": compound_r},
        ),
    }
    for name, (parent, changes) in scaled.items():
        specs.append(replace(base[parent], name=name, **changes))  # type: ignore[arg-type]
    return {s.name: s for s in specs}


REGISTRY: dict[str, ModelSpec] = _registry()
# Short aliases beyond the separator-insensitive matching below (efficientnet-b1, mobilenetv2, …).
ALIASES: dict[str, str] = {f"b{i}": f"efficientnet_b{i}" for i in range(8)}


def _key(name: str) -> str:
    return re.sub(r"[-_\s]", "", name.lower())


_BY_KEY: dict[str, str] = {_key(n): n for n in REGISTRY} | {_key(a): t for a, t in ALIASES.items()}


def list_models(pattern: str | None = None) -> list[ModelSpec]:
    """Registered models, optionally filtered by a glob on the canonical name (or an alias)."""
    if not pattern:
        return list(REGISTRY.values())
    names = [n for n in REGISTRY if fnmatch.fnmatchcase(n, pattern.lower())]
    names += [t for a, t in ALIASES.items() if fnmatch.fnmatchcase(a, pattern.lower()) and t not in names]
    return [REGISTRY[n] for n in REGISTRY if n in names]


def _unknown(name: str) -> EffbenchError:
    candidates = [*REGISTRY, *ALIASES, "efficientnet"]
    close = difflib.get_close_matches(name.lower(), candidates, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return EffbenchError(f"unknown model '{name}'{hint} ('effbench models' lists every model)")


def _lookup(name: str) -> ModelSpec:
    canonical = _BY_KEY.get(_key(name))
    if canonical is None:
        raise _unknown(name)
    return REGISTRY[canonical]


_KEYS = {
    "w": "width",
    "width": "width",
    "d": "depth",
    "depth": "depth",
    "r": "resolution",
    "res": "resolution",
    "resolution": "resolution",
    "phi": "phi",
}


def _parse_overrides(text: str, full: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, raw = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in _KEYS:
            raise EffbenchError(
                f"invalid model spec '{full}': '{item}' is not KEY=VALUE with KEY one of w, d, r, phi "
                "(e.g. efficientnet:w=1.2,d=1.4,r=300 or efficientnet:phi=2.5)"
            )
        field = _KEYS[key]
        if field in values:
            raise EffbenchError(f"invalid model spec '{full}': {key} is given twice")
        try:
            value = float(raw)
        except ValueError:
            raise EffbenchError(f"invalid model spec '{full}': {key} must be a number, got '{raw.strip()}'") from None
        if not math.isfinite(value):
            raise EffbenchError(f"invalid model spec '{full}': {key} must be finite, got '{raw.strip()}'")
        if field == "phi":
            if value < 0:
                raise EffbenchError(f"invalid model spec '{full}': phi must be >= 0, got {raw.strip()}")
        elif value <= 0:
            raise EffbenchError(f"invalid model spec '{full}': {key} must be > 0, got {raw.strip()}")
        if field == "resolution":
            if value != int(value):
                raise EffbenchError(f"invalid model spec '{full}': r is a resolution in pixels, got {raw.strip()}")
            if not MIN_RESOLUTION <= value <= MAX_RESOLUTION:
                raise EffbenchError(
                    f"invalid model spec '{full}': resolution {int(value)} is outside "
                    f"{MIN_RESOLUTION}..{MAX_RESOLUTION}; use r={MIN_RESOLUTION} or more"
                )
        values[field] = value
    if not values:
        raise EffbenchError(f"invalid model spec '{full}': nothing after ':' (e.g. {full}r=64)")
    return values


def _fmt(value: float) -> str:
    return f"{value:g}"


def resolve_model(name: str) -> ModelSpec:
    """A registered name or alias, optionally followed by ':w=…,d=…,r=…' (or 'efficientnet:phi=…').

    On a registered model w and d multiply its own coefficients and r sets the resolution; the bare family
    name 'efficientnet' means B0, so 'efficientnet:w=1.2,d=1.4,r=300' gives those coefficients exactly.
    """
    text = name.strip()
    if not text:
        raise EffbenchError("empty model name: pass one, e.g. --model b1 ('effbench models' lists them)")
    base_name, sep, rest = text.partition(":")
    if not sep:
        return _lookup(base_name)
    is_family = _key(base_name) == "efficientnet"
    base = REGISTRY["efficientnet_b0"] if is_family else _lookup(base_name)
    overrides = _parse_overrides(rest, text)
    if "phi" in overrides:
        if not is_family:
            raise EffbenchError(
                f"invalid model spec '{text}': phi applies to the EfficientNet family only "
                "(use efficientnet:phi=2.5, or w/d/r for other models)"
            )
        if len(overrides) > 1:
            raise EffbenchError(f"invalid model spec '{text}': give either phi or w/d/r, not both")
        phi = overrides["phi"]
        try:
            width, depth, resolution = BETA**phi, ALPHA**phi, round(224 * GAMMA**phi)
        except OverflowError:  # 1.2**phi leaves float range past phi = 3893
            raise EffbenchError(
                f"invalid model spec '{text}': phi={_fmt(phi)} overflows the scaling coefficients; "
                "choose a smaller phi (B7 is close to phi=7)"
            ) from None
        return replace(
            base,
            name=f"efficientnet:phi={_fmt(phi)}",
            width=width,
            depth=depth,
            resolution=resolution,
            base="efficientnet_b0",
        )
    if base.family == "mobilenet_v3" and "depth" in overrides:
        raise EffbenchError(
            f"invalid model spec '{text}': depth scaling is not defined for MobileNetV3 (its blocks differ "
            "within a stage); use w and r"
        )
    width = base.width * overrides.get("width", 1.0)
    depth = base.depth * overrides.get("depth", 1.0)
    resolution = int(overrides.get("resolution", base.resolution))
    order = [("w", "width"), ("d", "depth"), ("r", "resolution")]
    label = ",".join(f"{k}={_fmt(overrides[f])}" for k, f in order if f in overrides)
    prefix = "efficientnet" if is_family else base.name
    return replace(base, name=f"{prefix}:{label}", width=width, depth=depth, resolution=resolution)
