"""Placeholder: replaced by the module that implements `effbench latency`."""


def register(subparsers):  # type: ignore[no-untyped-def]
    return None
