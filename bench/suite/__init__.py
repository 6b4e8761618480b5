"""A suite of bench.toml: `definition` (a `[suite.NAME]` table checked and expanded into cells), `run` (`effbench
run` and `--resume`), `progress` (the progress bar of a suite run)."""
