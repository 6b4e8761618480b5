"""The model zoo: registered models, aliases, compound-scaling specs, torch-free counts and the size guard."""

from bench.zoo.guard import SizeEstimate, check_buildable, check_countable, estimate_size
from bench.zoo.paper import PAPER, PAPER_LATENCY_S, PAPER_SPEEDUPS, PaperFigures
from bench.zoo.registry import ALIASES, REGISTRY, ModelSpec, list_models, resolve_model

__all__ = [
    "ALIASES",
    "PAPER",
    "PAPER_LATENCY_S",
    "PAPER_SPEEDUPS",
    "REGISTRY",
    "ModelSpec",
    "PaperFigures",
    "SizeEstimate",
    "check_buildable",
    "check_countable",
    "estimate_size",
    "list_models",
    "resolve_model",
]
