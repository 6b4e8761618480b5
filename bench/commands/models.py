"""Placeholder: replaced by the module that implements `effbench models`."""


def register(subparsers):  # type: ignore[no-untyped-def]
    return None
