"""How ``train`` and ``reproduce`` show their runs: a line before the first run (how many, how
many at a time, about how long), one line per finished run (``✓ run 4/9 done  bce · yeast ·
seed 1  ...  12.1 s  ETA 40 s  RUN_DIR``) on stdout, and on a terminal a bar: the run's epochs
(in-process) or the command's runs (worker processes). When stderr is not a terminal (a CI log,
a pipe) there are no bars, only the lines, which rich then writes without colour."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape

from mlbench.cli._app import console, err_console
from mlbench.runs.progress import RunProgress, finished_line, run_label, stored_metrics
from mlbench.runs.spec import RunSpec

MARKS = {"done": "[green]✓[/]", "resumed": "[green]✓[/]", "skipped": "[dim]-[/]", "failed": "[red]✗[/]"}


def bars_wanted(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def store_prior(runs_dir):
    """Estimate of a run from the store: the mean recorded fit time of its settings."""
    from mlbench.errors import MlbenchError
    from mlbench.results.experiment_report import estimated_fit_seconds

    def estimate(spec: RunSpec) -> float | None:
        try:
            return estimated_fit_seconds(spec, runs_dir)
        except (MlbenchError, OSError, ValueError):  # an unreadable status file: no estimate
            return None

    return estimate


class RunReporter:
    """Prints what a multi-run command is doing; ``result(...)`` after each finished run."""

    def __init__(self, specs: Sequence[RunSpec], jobs: int = 1, runs_dir=None, bars: bool = False):
        self.progress = RunProgress(specs, jobs, prior=store_prior(runs_dir))
        self.by_id = {spec.run_id(): spec for spec in specs}
        self.bars = bars
        self._bar = None  # (rich Progress, task) while worker processes run

    def plan(self, skipped: int = 0, note: str | None = None) -> None:
        err_console.print(
            escape(self.progress.plan_text(skipped)) + (f" {escape(note)}" if note else ""),
            highlight=False,
            soft_wrap=True,
        )

    def result(self, spec: RunSpec, status: str, seconds: float | None, run_dir=None, error: str | None = None) -> None:
        self.progress.done(spec, seconds if status != "failed" else None)
        metrics = stored_metrics(run_dir) if status in ("done", "resumed") else None
        line = finished_line(self.progress, spec, status, seconds, run_dir, error, metrics)
        console.print(f"{MARKS.get(status, '')} {escape(line)}", highlight=False, soft_wrap=True)
        if self._bar is not None:
            bar, task = self._bar
            bar.update(task, advance=1, eta=self.progress.eta_text())

    def on_result(self, result) -> None:
        """:func:`mlbench.runs.execute.execute`'s callback."""
        self.result(self.by_id[result.run_id], result.status, result.seconds or None, result.run_dir, result.error)

    @contextlib.contextmanager
    def runs_bar(self):
        """On a terminal, one bar for the command's runs while worker processes train them
        (their own epoch bars would overwrite each other)."""
        if not self.bars:
            yield
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            console=err_console,
            transient=True,
        )
        with bar:
            task = bar.add_task("runs", total=self.progress.total, eta=self.progress.eta_text())
            self._bar = bar, task
            try:
                yield
            finally:
                self._bar = None


def skipped_line(spec: RunSpec, run_dir: Path) -> None:
    console.print(
        f"[dim]- {escape(run_label(spec))}  already complete (use --force to redo)  {escape(str(run_dir))}[/]",
        highlight=False,
        soft_wrap=True,
    )
