"""The measurement engine: what runs when, how a worker is started, and what it measures.

`plan` (settings resolved once, cells planned and exported), `policy` (presets, warm-up, stopping rules),
`stats` (summaries and CIs), `job` (what a worker reads), `worker` (the pinned measuring process), `runner`
(the scheduler of interleaved rounds and the launchers), `measure` (planned cells into a result document) and `ab`
(two arms in ABBA blocks). This file imports nothing: the worker imports the package before it pins itself.
"""
