"""The ``mlbench`` command line (Typer): one module per command group.

:mod:`._app` holds what every command shares (the app, consoles, option types, the entry point);
:mod:`.commands` the pipeline (datasets, fetch, split, methods, train, eval, table);
:mod:`.papers` reproducing and reporting (reproduce, report, check, stats, plot). Each command
imports what it needs when it runs, so ``--help`` and the read-only commands stay fast.
"""

from mlbench.cli import commands, papers  # noqa: F401  (their decorators register the commands)
from mlbench.cli._app import app, main

__all__ = ["app", "main"]
