"""Placeholder: replaced by the module that implements `effbench export`."""


def register(subparsers):  # type: ignore[no-untyped-def]
    return None
