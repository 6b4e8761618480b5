"""Views of result documents and rows: terminal tables, Markdown, CSV, JSON; they return text or rich renderables.

Commands print what a view returns (bench.views.console.emit); the coming `compare`, `report` and history
commands import the same views. Modules: format (numbers), tables (rows in every format), latency (the latency
table, its notes and JSON summary), console (where views are printed). No runtime is imported here.
"""
