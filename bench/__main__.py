"""`python -m bench` runs the effbench command line."""

from bench.cli import main

raise SystemExit(main())
