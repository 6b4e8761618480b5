"""Subcommands of the effbench CLI, one module each."""
