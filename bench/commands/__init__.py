"""Subcommands of the effbench CLI, one module each: `register(subparsers)` adds the parser and sets its entry point
`run_<command>(args) -> int`; `options` holds the options they share and the bench.toml they read."""
