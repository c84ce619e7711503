"""CLI commands for reproducing papers' tables: reproduce, report, check, stats, plot."""

from __future__ import annotations

from mlbench.cli import app, console, err_console  # noqa: F401
