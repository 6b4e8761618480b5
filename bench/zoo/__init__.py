"""The model zoo: registered models, aliases, compound-scaling specs and torch-free counts."""

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
    "list_models",
    "resolve_model",
]
