"""effbench: honest CPU batch-1 inference latency for EfficientNet and its baselines."""

__version__ = "0.2.0"
