"""A suite: `catalog` (the shipped suites, package data in shipped.toml, and a bench.toml's own), `definition` (a
`[suite.NAME]` table checked and expanded into cells), `run` (`effbench run` and `--resume`), `progress` (the
progress bar of a suite run), `listing` (`effbench suites`: counts here and an estimated time)."""
