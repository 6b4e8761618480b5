"""The measurement engine: what runs when, how a worker is started, and what it measures.

`plan` (settings resolved once, cells planned and exported), `policy` (presets, warm-up, stopping rules),
`stats` (summaries and CIs), `job` (the job contract of every worker: what it reads, which module serves it, what it
sends back), `serve` (the worker side: pin, read the job, write the record), `worker` (the pinned measuring process
of a cell), `launchers` (how a worker process runs: a subprocess, or in this process for tests), `runner` (the
scheduler: rounds in an order a `RoundOrder` decides), `progress` (what a run says while it measures), `measure`
(planned cells into a result document, for every mode) and `ab` (two arms in ABBA blocks). This file imports
nothing: the worker imports the package before it pins itself.
"""
