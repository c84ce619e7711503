"""``mlbench reproduce``: plan the runs a paper's tables need, then execute what is missing.

Planning reads the paper's layouts (:mod:`mlbench.results.paper_tables`): every (method, dataset, train
fraction) cell that mlbench can run here, times the seeds. A run is *done* when its directory says
``complete`` and the results store holds its rows; everything else is executed again, and
:func:`mlbench.runs.runner.train_run` with ``resume=True`` continues an interrupted neural run from
its checkpoint. So a reproduction can be interrupted at any point and rerun with the same command.

Execution backends:

* ``local``: one run after the other in this process (``jobs=1``), or ``jobs`` worker processes
  (:class:`concurrent.futures.ProcessPoolExecutor`; the store is guarded by a file lock);
* ``ray``: one Ray task per run on an existing cluster (``RAY_ADDRESS``). The parsed dataset and
  its splits travel through Ray's object store and the finished run directory travels back, so
  the workers need neither the data directory nor a shared file system; the results land in the
  same local store. An interrupted Ray run is redone from scratch (its checkpoint stayed on the
  worker).
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mlbench.errors import MlbenchError
from mlbench.runs.runner import RunSpec, resolve_runs_dir, run_state, train_run

BACKENDS = ("local", "ray")


@dataclass
class RunResult:
    run_id: str
    status: str  # done | resumed | skipped | failed
    run_dir: str | None = None
    error: str | None = None
    seconds: float = 0.0


def pending_runs(specs: Iterable[RunSpec], runs_dir=None) -> list[tuple[RunSpec, bool]]:
    """(spec, force) for every run not yet finished and stored; ``force`` redoes a run whose
    directory is complete but whose rows are missing from the store (e.g. a deleted results.csv)."""
    from mlbench.runs.store import read_store

    runs_dir = resolve_runs_dir(runs_dir)
    stored = set(read_store(runs_dir)["run_id"])
    out = []
    for spec in specs:
        try:
            complete = run_state(runs_dir / spec.run_id()) == "complete"
        except MlbenchError:  # an unreadable status file: redo the run (force clears it)
            out.append((spec, True))
            continue
        if complete and spec.run_id() in stored:
            continue
        out.append((spec, complete))
    return out


def prepare_data(specs: Iterable[RunSpec], data_dir=None, mirror=None, notify=lambda m: None) -> dict[str, str]:
    """Fetch each dataset and make its splits once, before any worker starts; returns
    {dataset: error} for the datasets that could not be prepared."""
    from mlbench.data.cache import resolve_data_dir
    from mlbench.data.fetch import fetch_dataset
    from mlbench.data.splits import get_split

    root = resolve_data_dir(data_dir)
    failed: dict[str, str] = {}
    splits = dict.fromkeys((s.dataset, s.strategy, s.seed, s.ratios) for s in specs)
    for dataset in dict.fromkeys(key[0] for key in splits):
        try:
            data = fetch_dataset(dataset, root, mirror=mirror, notify=notify)
            for name, strategy, seed, ratios in splits:
                if name == dataset:
                    get_split(root, data, strategy, seed, ratios)
        except MlbenchError as exc:
            failed[dataset] = str(exc)
    return failed


# -- execution -------------------------------------------------------------------------------------


def execute(
    items: list[tuple[RunSpec, bool]],
    *,
    runs_dir=None,
    data_dir=None,
    device: str = "cpu",
    jobs: int = 1,
    backend: str = "local",
    ray_address: str | None = None,
    ray_gpus: float = 0.0,
    on_result: Callable[[RunResult], None] = lambda r: None,
    progress: bool = False,
    threads_per_job: int | None = None,
    resume: bool = True,
    zero_division: float = 0.0,
    preload: tuple[str, ...] = (),
    describe: Callable[[RunSpec], str] = lambda spec: "",
) -> list[RunResult]:
    """Run ``items`` (from :func:`pending_runs`) and return one result per run.

    ``threads_per_job``: torch threads of each local run (default: the cores shared out among
    the ``jobs`` workers; in-process, torch's own default). ``resume`` and ``zero_division``
    are :func:`~mlbench.runs.runner.train_run`'s. ``preload``: outside methods a worker
    process imports before its first run (``module:Class`` or ``./file.py:Class`` references as
    given, or module names), so it finds what this process loaded. ``describe(spec)`` names an
    in-process run on its progress bar."""
    if backend not in BACKENDS:
        raise MlbenchError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}.")
    if jobs < 1:
        raise MlbenchError(f"--jobs must be at least 1, got {jobs}.")
    runs_dir = resolve_runs_dir(runs_dir)
    if backend == "ray":
        return _execute_ray(items, runs_dir, data_dir, device, ray_address, ray_gpus, on_result)
    if threads_per_job is not None and threads_per_job < 1:
        raise MlbenchError(f"--threads-per-job must be at least 1, got {threads_per_job}.")
    if jobs == 1:
        if threads_per_job is not None:
            _init_worker(threads_per_job)
        # In-process: Ctrl-C reaches train_run, which marks the run incomplete for the next time.
        results = []
        for spec, force in items:
            results.append(
                run_one(
                    spec,
                    runs_dir,
                    data_dir,
                    device,
                    force,
                    progress,
                    resume=resume,
                    zero_division=zero_division,
                    label=describe(spec),
                )
            )
            on_result(results[-1])
        return results
    return _execute_pool(
        items,
        runs_dir,
        data_dir,
        device,
        jobs,
        on_result,
        threads_per_job,
        {"resume": resume, "zero_division": zero_division},
        preload,
    )


def run_one(
    spec: RunSpec,
    runs_dir,
    data_dir,
    device: str,
    force: bool = False,
    progress: bool = False,
    *,
    resume: bool = True,
    zero_division: float = 0.0,
    label: str = "",
) -> RunResult:
    """One run; a failure is reported, not raised, so that the other runs go on."""
    from mlbench.methods.neural import resolve_device

    started = time.perf_counter()
    try:
        run_dir, what = train_run(
            spec,
            runs_dir=runs_dir,
            data_dir=data_dir,
            device=resolve_device(device),
            force=force,
            resume=resume,
            progress=progress,
            zero_division=zero_division,
            label=label,
        )
    except Exception as exc:  # noqa: BLE001 (KeyboardInterrupt still propagates)
        return RunResult(
            spec.run_id(), "failed", str(Path(runs_dir) / spec.run_id()), _describe(exc), time.perf_counter() - started
        )
    return RunResult(spec.run_id(), what, str(run_dir), None, time.perf_counter() - started)


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, MlbenchError) else f"{type(exc).__name__}: {exc}"


def limit_blas_threads(threads: int):
    """Cap the BLAS and OpenMP pools of numpy, scipy and scikit-learn at ``threads``, as torch's.

    torch's setting does not reach them: a classifier chain (`cc`) on delicious took 3.7x the
    wall time and 5.7x the CPU time with OpenBLAS's default of one thread per core while other
    processes held the cores (benchmarks/blas_threads_ab.py). threadpoolctl caps the libraries loaded when it is called,
    so scipy's BLAS (what scikit-learn's solvers use) is loaded first. Returns the limiter
    (``restore_original_limits()`` undoes it).
    """
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(threads)


def _init_worker(threads: int, preload: tuple[str, ...] = (), environ: dict[str, str] | None = None) -> None:
    if environ is not None:  # a fork server's child has the server's, which may be older
        os.environ.clear()
        os.environ.update(environ)
    # N workers each using every core would oversubscribe the machine.
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover
        pass
    limit_blas_threads(threads)
    for reference in preload:  # a spawned worker starts with the built-in methods only
        try:
            if ":" in reference:
                from mlbench.methods import get_method_class

                get_method_class(reference)
            else:
                import importlib

                importlib.import_module(reference)
        except Exception:  # noqa: BLE001 (the run itself reports it, on one line)
            pass


def _execute_pool(
    items,
    runs_dir,
    data_dir,
    device,
    jobs,
    on_result,
    threads_per_job: int | None = None,
    run_options: dict | None = None,
    preload: tuple[str, ...] = (),
) -> list[RunResult]:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from mlbench.runs.workers import pool_context

    threads = threads_per_job or max(1, (os.cpu_count() or 1) // jobs)
    # Not forked from this process: a forked copy of a parent that already ran torch can
    # deadlock in OpenMP. A fork server (or spawn) starts each worker instead.
    context = pool_context()
    results = []
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=_init_worker,
        initargs=(threads, tuple(preload), dict(os.environ)),
    ) as pool:
        futures = {
            pool.submit(
                run_one,
                spec,
                str(runs_dir),
                None if data_dir is None else str(data_dir),
                device,
                force,
                **(run_options or {}),
            ): spec
            for spec, force in items
        }
        try:
            for future in as_completed(futures):
                try:
                    result = future.result()
                except Exception as exc:  # a worker died (killed, out of memory)
                    spec = futures[future]
                    result = RunResult(spec.run_id(), "failed", None, _describe(exc))
                results.append(result)
                on_result(result)
        except KeyboardInterrupt:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return results


# -- Ray -------------------------------------------------------------------------------------------


def _import_ray():
    try:
        import ray
    except ImportError:
        raise MlbenchError("--backend ray needs Ray: `pip install mlbench[ray]` (or `pip install ray`).") from None
    return ray


def _pack_dir(directory: Path, skip: Iterable[str] = ()) -> dict[str, bytes]:
    """{relative path: bytes} of the files under ``directory``, leaving out paths with a part in
    ``skip`` (e.g. the raw downloads, a checkpoint) and hidden temporary files."""
    skip, directory = set(skip), Path(directory)
    out = {}
    for path in sorted(directory.rglob("*")):
        parts = path.relative_to(directory).parts
        if path.is_file() and not skip & set(parts) and not path.name.startswith("."):
            out[str(path.relative_to(directory))] = path.read_bytes()
    return out


def _unpack_dir(files: dict[str, bytes], directory: Path, last: str | None = None) -> None:
    from mlbench.io import atomic_write_bytes

    # ``last`` (status.json) is written after everything else: it is what marks a run complete.
    for name in sorted(files, key=lambda n: n == last):
        atomic_write_bytes(Path(directory) / name, files[name])


def _ray_task(spec: RunSpec, data_files: dict[str, bytes], device: str, command: str) -> dict:
    """Runs on a Ray worker: train in a scratch directory, send the run directory back."""
    import json
    import tempfile

    from mlbench.methods.neural import resolve_device
    from mlbench.runs.store import read_store

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlbench-ray-") as scratch:
        data_dir, runs_dir = Path(scratch) / "data", Path(scratch) / "runs"
        _unpack_dir(data_files, data_dir / spec.dataset)
        try:
            run_dir, what = train_run(
                spec, runs_dir=runs_dir, data_dir=data_dir, device=resolve_device(device), force=True
            )
        except Exception as exc:  # noqa: BLE001
            return {"run_id": spec.run_id(), "error": _describe(exc)}
        config = json.loads((run_dir / "config.json").read_text())
        config["command"] = command  # the worker's argv is Ray's, not the user's
        config["executor"] = f"ray ({os.uname().nodename})"
        (run_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        return {
            "run_id": spec.run_id(),
            "what": what,
            "error": None,
            "files": _pack_dir(run_dir, skip={"checkpoint.pt"}),
            "rows": read_store(runs_dir).to_dict("records"),
            "seconds": time.perf_counter() - started,
        }


def adopt_run(payload: dict, runs_dir: Path) -> RunResult:
    """Write a run directory that came back from a worker into ``runs_dir`` and its store."""
    from mlbench.runs.spec import clear_run_dir
    from mlbench.runs.store import add_rows, remove_run

    run_id = payload["run_id"]
    run_dir = Path(runs_dir) / run_id
    if payload.get("error"):
        return RunResult(run_id, "failed", str(run_dir), payload["error"])
    if run_dir.exists():
        clear_run_dir(run_dir)
        remove_run(runs_dir, run_id)
    _unpack_dir(payload["files"], run_dir, last="status.json")
    add_rows(runs_dir, payload["rows"])
    return RunResult(run_id, payload["what"], str(run_dir), None, payload.get("seconds", 0.0))


def _execute_ray(items, runs_dir, data_dir, device, address, gpus, on_result) -> list[RunResult]:
    ray = _import_ray()
    started_here = not ray.is_initialized()  # a caller's (or a test's) Ray session is left alone
    if started_here:
        address = address or os.environ.get("RAY_ADDRESS")
        try:
            ray.init(address=address, log_to_driver=False)
        except Exception as exc:  # noqa: BLE001 (Ray raises ConnectionError, RuntimeError, ...)
            raise MlbenchError(f"cannot connect to the Ray cluster at {address or '(local)'}: {exc}") from None
    try:
        return _submit_and_collect(ray, items, runs_dir, data_dir, device, gpus, on_result)
    finally:
        if started_here:
            ray.shutdown()


def _submit_and_collect(ray, items, runs_dir, data_dir, device, gpus, on_result) -> list[RunResult]:
    from mlbench.data.cache import dataset_dir, resolve_data_dir

    root = resolve_data_dir(data_dir)
    shipped = {
        name: ray.put(_pack_dir(dataset_dir(root, name), skip={"raw"}))
        for name in dict.fromkeys(spec.dataset for spec, _ in items)
    }
    task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=1)(_ray_task)
    command = shlex.join(sys.argv)
    refs = {task.remote(spec, shipped[spec.dataset], device, command): spec for spec, _ in items}
    waiting, results = list(refs), []
    while waiting:
        done, waiting = ray.wait(waiting, num_returns=1)
        for ref in done:
            try:
                result = adopt_run(ray.get(ref), runs_dir)
            except Exception as exc:  # noqa: BLE001 (a worker or the task died)
                result = RunResult(refs[ref].run_id(), "failed", None, _describe(exc))
            results.append(result)
            on_result(result)
    return results
