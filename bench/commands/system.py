"""Placeholder: replaced by the module that implements `effbench system`."""


def register(subparsers):  # type: ignore[no-untyped-def]
    return None
