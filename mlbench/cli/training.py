"""``mlbench train``'s runs: skip the complete ones, say how many and about how long, then train
one after the other in this process (``--jobs 1``) or in worker processes, longest first.

Every run seeds itself from its spec, so the order and the process a run lands in change no
number (``tests/test_progress.py`` checks ``--jobs 2`` against ``--jobs 1``)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import typer

from mlbench.cli._app import err_console
from mlbench.cli.progress import RunReporter, bars_wanted, skipped_line, store_prior
from mlbench.errors import MlbenchError
from mlbench.runs.spec import RunSpec


def train_specs(
    specs: Sequence[RunSpec],
    *,
    references: Sequence[str] = (),
    jobs: int | None,
    runs_dir=None,
    data_dir=None,
    device: str = "cpu",
    force: bool = False,
    resume: bool = False,
    quiet: bool = False,
    zero_division: float = 0.0,
) -> None:
    """Train ``specs`` (``references``: the ``module:Class`` / ``./file.py:Class`` methods as
    the user gave them, for worker processes to load); exit 1 if a worker's run failed."""
    from mlbench.methods import get_method_class
    from mlbench.runs.cost import usable_cores
    from mlbench.runs.runner import resolve_runs_dir, run_state
    from mlbench.runs.schedule import auto_jobs

    if jobs is not None and jobs < 1:
        raise MlbenchError(
            f"--jobs must be at least 1, got {jobs}; --jobs 1 trains one run after the other in this process."
        )
    root = resolve_runs_dir(runs_dir)
    todo, skipped = [], []
    for spec in {spec.run_id(): spec for spec in specs}.values():
        try:
            complete = run_state(root / spec.run_id()) == "complete"
        except MlbenchError:  # an unreadable status file: train_run reports it (--force redoes it)
            complete = False
        (skipped if complete and not force else todo).append(spec)

    start_workers_early({spec.method for spec in todo}, len(todo), jobs, device)

    def is_neural(method_id: str) -> bool:
        return get_method_class(method_id).is_neural

    prior = store_prior(runs_dir)
    if jobs is None:
        jobs = auto_jobs(todo, is_neural=is_neural, estimate=prior, device=device)
    jobs = max(1, min(jobs, len(todo)))
    note = None
    classes = {get_method_class(spec.method) for spec in todo}
    in_main = sorted(cls.id for cls in classes if cls.__module__ == "__main__")
    if jobs > 1 and in_main:
        note = (
            f"(one at a time in this process: {', '.join(in_main)} is defined in __main__, "
            "which worker processes cannot import)"
        )
        jobs = 1
    if jobs == 1 and not device.startswith("cuda"):
        busy = busy_machine_note(todo, is_neural)
        note = " ".join(n for n in (note, busy) if n) or None
    # Methods registered by an outside module (not a reference) are found again by importing it.
    preload = tuple(references) + tuple(
        sorted({cls.__module__ for cls in classes if not cls.__module__.startswith("mlbench.")})
    )
    bars = bars_wanted(quiet)
    reporter = RunReporter(todo, jobs, runs_dir, bars=bars)
    for spec in skipped:
        skipped_line(spec, root / spec.run_id())
    if not todo:
        return
    if not quiet:
        reporter.plan(len(skipped), note)
    if jobs == 1:
        _train_here(
            todo,
            reporter,
            runs_dir=runs_dir,
            data_dir=data_dir,
            device=device,
            force=force,
            resume=resume,
            bars=bars,
            zero_division=zero_division,
        )
        return
    _prepare_splits(todo, data_dir)
    from mlbench.runs.execute import execute
    from mlbench.runs.schedule import longest_first

    items = longest_first(
        [(spec, force) for spec in todo], key=lambda item: item[0], is_neural=is_neural, estimate=prior
    )
    with reporter.runs_bar():
        try:
            results = execute(
                items,
                runs_dir=root,
                data_dir=data_dir,
                device=device,
                jobs=jobs,
                on_result=reporter.on_result,
                resume=resume,
                zero_division=zero_division,
                preload=preload,
                threads_per_job=max(1, usable_cores() // jobs),
            )
        except KeyboardInterrupt:
            err_console.print(
                "[yellow]interrupted:[/] finished runs are kept; rerun the same "
                "command with --resume to continue the rest.",
                highlight=False,
            )
            raise typer.Exit(130) from None
    failed = [r for r in results if r.status == "failed"]
    if failed:
        err_console.print(f"[bold red]{len(failed)} of {len(results)} run(s) failed:[/]", highlight=False)
        for r in failed:
            err_console.print(f"  {r.run_id}: {r.error}", highlight=False, soft_wrap=True, markup=False)
        raise typer.Exit(1)


def busy_machine_note(todo: Sequence[RunSpec], is_neural) -> str | None:
    """A hint when neural runs are about to train in this process on a busy machine with torch's
    default of one thread per core: OpenMP's waiting threads spin against the other work. A
    5-epoch BCE run on yeast took 27-33 s against 2.5 s on one thread while another process held
    one of 2 cores, with the same scores (docs/benchmarks.md). Only a hint: the thread count is
    the user's setting (``--set num_threads=1``), recorded with the run."""
    from mlbench.runs.cost import usable_cores

    cores = usable_cores()
    if cores < 2 or os.environ.get("OMP_NUM_THREADS"):
        return None
    if not any(is_neural(spec.method) and "num_threads" not in dict(spec.overrides) for spec in todo):
        return None
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        return None
    if load < 1.0:
        return None
    return (
        f"(the machine is busy, load {load:.1f} on {cores} cores: torch's {cores} threads per run "
        "would contend with the other work, up to 10x slower here; --set num_threads=1 avoids it)"
    )


def start_workers_early(methods: set[str], runs: int, jobs: int | None, device: str) -> None:
    """Start the worker processes' fork server now (it imports torch and the methods in the
    background, while this process loads its own) if the command will very likely train in
    workers, decided without importing torch: ``--jobs`` above 1, or none and a built-in neural
    method among the runs. Unused (on a GPU that ``--device auto`` finds, say), it exits with
    the command."""
    from mlbench.method_sources import builtin_neural_method_ids
    from mlbench.runs.cost import usable_cores
    from mlbench.runs.workers import warm_up

    if runs < 2 or (jobs is not None and jobs < 2) or usable_cores() < 2 or device.startswith("cuda"):
        return
    if jobs is not None or set(methods) & builtin_neural_method_ids():
        warm_up()


def _train_here(todo, reporter: RunReporter, *, runs_dir, data_dir, device, force, resume, bars, zero_division) -> None:
    """One run after the other in this process, as ``train`` always did: the first failure
    stops the command with its one-line error (the finished runs are kept)."""
    from mlbench.runs.runner import train_run

    for spec in todo:
        started = time.perf_counter()
        run_dir, what = train_run(
            spec,
            runs_dir=runs_dir,
            data_dir=data_dir,
            device=device,
            force=force,
            resume=resume,
            progress=bars,
            zero_division=zero_division,
            label=reporter.progress.bar_label(spec),
        )
        reporter.result(spec, what, time.perf_counter() - started, run_dir)


def _prepare_splits(specs: Sequence[RunSpec], data_dir) -> None:
    """Make (or check) every split before the workers start, so that two workers never write
    the same split file, and a dataset that is not fetched is one error before any run."""
    from mlbench.data import load_split

    for dataset, strategy, seed, ratios in dict.fromkeys((s.dataset, s.strategy, s.seed, s.ratios) for s in specs):
        load_split(dataset, strategy, seed, data_dir=data_dir, ratios=ratios)
