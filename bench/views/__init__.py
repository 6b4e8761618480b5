"""Views of result documents and rows: terminal tables, Markdown, CSV, HTML, JSON and plots. They return text, bytes
or rich renderables, and commands print what they return (bench.views.console.emit); nothing here measures.

Modules: format (numbers, sizes), tables (rows in every format), console (where views are printed), latency (the
latency table, its notes and JSON summary), system (`effbench system`), layers (`effbench layers`), compare and
verdicts (the verdict table of `compare`/`ab`, printed with its exit code), report_data + report_render + plots
(`effbench report`), machines_data + machines_render + machines_plots (`effbench report --machines`), pyperf
(`effbench export-pyperf`). No runtime is imported here; matplotlib only inside the functions that draw.
"""
