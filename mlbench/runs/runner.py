"""One run: (method, dataset, split, seed) -> fitted model -> saved scores -> metrics -> store.

A run directory ``<runs_dir>/<dataset>/<method>/<variant>/<split>-seed<k>[-frac<f>]/`` holds:

- ``config.json``: the fully resolved hyperparameters, seed, split (strategy, ratios, id), device,
  package versions, dataset checksums and the command line;
- ``status.json``: ``running`` / ``incomplete`` (interrupted; never counted) / ``complete``,
  with the run's ``cost`` (seconds, peak memory: :mod:`mlbench.runs.cost`; ``config.json``'s
  ``environment`` says where it ran);
- ``scores.npz``: validation and test probabilities with their true labels (``eval`` recomputes
  every metric from this file alone), plus method extras such as label embeddings;
- ``metrics.json``: the metrics under every threshold protocol;
- neural methods: ``train_log.csv`` (per epoch), ``checkpoint.pt`` (resume), ``model.pt``.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mlbench.data import load_split
from mlbench.data.splits import DEFAULT_RATIOS
from mlbench.errors import MlbenchError
from mlbench.integrity import config_hash, load_npz_checked, read_json_checked  # noqa: F401
from mlbench.io import atomic_save_npz, atomic_write_json, try_file_lock
from mlbench.methods import FitContext, get_method_class, resolve_params
from mlbench.methods.neural import seed_everything
from mlbench.metrics.protocols import PROTOCOLS, evaluate
from mlbench.runs.cost import CostMeter, cost_values, machine
from mlbench.runs.spec import (  # noqa: F401  (re-exported: the runner is where callers look)
    RUNS_ENV,
    RunSpec,
    check_seed,
    clear_run_dir,
    load_scores,
    resolve_runs_dir,
    run_state,
    variant_name,
    versions,
)
from mlbench.runs.store import add_rows, read_store, remove_run


def check_runs_dir(runs_dir: Path) -> None:
    """A one-line error, before any run starts, when ``runs_dir`` cannot be a directory."""
    for parent in (runs_dir, *runs_dir.parents):
        if parent.exists():
            if not parent.is_dir():
                raise MlbenchError(
                    f"the runs directory {runs_dir} is under {parent}, which is a file, not a "
                    f"directory; choose another with --runs-dir or {RUNS_ENV}."
                )
            if not os.access(parent, os.W_OK | os.X_OK):
                raise MlbenchError(
                    f"cannot write to the runs directory {runs_dir} ({parent} is not writable); "
                    f"choose another with --runs-dir or {RUNS_ENV}."
                )
            return


def run_config_hash(spec: RunSpec, params: dict[str, Any], provenance: dict[str, Any], device: str) -> str:
    """The settings a run's numbers depend on (not its start time or command line): a checkpoint
    or model written under another hash is not this run's."""
    return config_hash(
        {
            "method": spec.method,
            "params": params,
            "seed": spec.seed,
            "device": device,
            "data_sha256": provenance.get("content_sha256"),
            "split_id": provenance.get("split_id"),
            "train_fraction": spec.train_fraction,
        }
    )


def train_run(
    spec: RunSpec,
    *,
    runs_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    device: str = "cpu",
    force: bool = False,
    resume: bool = False,
    progress: bool = False,
    selection_metric: str | None = None,
    zero_division: float = 0.0,
    label: str = "",
) -> tuple[Path, str]:
    """Train and evaluate one run unless it is already complete.

    ``zero_division`` (0 or 1): the score of 0/0 samples or labels in the metrics; it is recorded
    in ``metrics.json`` and in every store row. ``label`` names the run on its progress bar. Returns (run directory, what happened: ``done`` | ``skipped`` | ``resumed``).
    """
    runs_dir = resolve_runs_dir(runs_dir)
    run_id = spec.run_id()
    # Everything that can be refused is checked before the run directory is touched.
    overrides = dict(spec.overrides)
    method_cls = get_method_class(spec.method)  # unknown method -> clear error before loading data
    params = resolve_params(spec.method, spec.dataset, overrides)
    check_seed(spec.seed)
    check_runs_dir(runs_dir)
    read_store(runs_dir)  # an unreadable store is reported now, not after the run
    # Two mlbench processes on one runs directory (two terminals, two reproduce lanes) must not
    # train the same run at once: each would clear and rewrite the other's files.
    with try_file_lock(runs_dir / ".locks" / (run_id.replace("/", "__") + ".lock")) as mine:
        if not mine:
            raise MlbenchError(
                f"run {run_id} is being trained by another mlbench process on {runs_dir}; "
                "let it finish (rerun this command afterwards to pick up what is left)."
            )
        return _train_unlocked(
            spec,
            method_cls,
            params,
            runs_dir,
            data_dir=data_dir,
            device=device,
            force=force,
            resume=resume,
            progress=progress,
            selection_metric=selection_metric,
            zero_division=zero_division,
            label=label,
        )


def _train_unlocked(
    spec: RunSpec,
    method_cls,
    params: dict,
    runs_dir: Path,
    *,
    data_dir,
    device,
    force,
    resume,
    progress,
    selection_metric,
    zero_division,
    label,
) -> tuple[Path, str]:
    """:func:`train_run` once its settings are checked and its run lock is held."""
    run_id, overrides = spec.run_id(), dict(spec.overrides)
    run_dir = runs_dir / run_id
    try:
        state = run_state(run_dir)
    except MlbenchError:
        if not force:
            raise
        state = None  # --force redoes the run whatever its status file says
    if state == "complete" and not force:
        return run_dir, "skipped"
    # The data is loaded (and verified) before an old run is cleared: a refused dataset or
    # split leaves the previous run as it was.
    data = load_split(
        spec.dataset,
        spec.strategy,
        spec.seed,
        data_dir=data_dir,
        ratios=spec.ratios,
        train_fraction=spec.train_fraction,
    )
    if data.Y_val.shape[0] == 0 and "selection_metric" in params:
        raise MlbenchError(
            f"{spec.method} selects its epoch on validation data, but this split has no "
            "validation part (official split with val_fraction = 0); give it val_fraction > 0."
        )
    resuming = resume and state in ("incomplete", "running") and (run_dir / "checkpoint.pt").is_file()
    if resuming:  # a foreign or broken checkpoint is refused before the run's files are touched
        from mlbench.methods.neural import check_checkpoint_file

        check_checkpoint_file(run_dir / "checkpoint.pt")
    if not resuming and run_dir.exists():
        clear_run_dir(run_dir)
        remove_run(runs_dir, run_id)
    method = method_cls(**params)
    from mlbench.methods.plugins import method_source

    source = method_source(method_cls)  # outside methods: module, file sha256, package version
    config = {
        "run_id": run_id,
        "method": spec.method,
        "display_name": type(method).display_name,
        "variant": spec.variant,
        "overrides": overrides,
        "params": params,
        "dataset": data.dataset,
        "split": data.provenance,
        "seed": spec.seed,
        "device": device,
        "versions": versions(),
        "environment": machine(device),
        "command": shlex.join(sys.argv),
        "started_at": _now(),
        **({"method_source": source} if source else {}),
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "config.json", config)
    atomic_write_json(run_dir / "status.json", {"state": "running", "started_at": config["started_at"]})

    seed_everything(spec.seed)
    context = FitContext(
        seed=spec.seed,
        device=device,
        run_dir=run_dir,
        progress=progress,
        resume=resuming,
        label=label,
        config_hash=run_config_hash(spec, params, data.provenance, device),
    )
    meter = CostMeter(device).start()
    try:
        with meter.phase("fit"):
            method.fit(data.X_train, data.Y_train, data.X_val, data.Y_val, context=context)
        with meter.phase("predict"):  # validation and test parts
            # No validation part (official, val_fraction = 0): sklearn estimators reject 0 rows.
            scores_val = (
                method.predict_proba(data.X_val)
                if data.Y_val.shape[0]
                else np.zeros(data.Y_val.shape, dtype=np.float32)
            )
            scores_test = method.predict_proba(data.X_test)
    except BaseException as exc:
        meter.stop()
        state = "incomplete" if isinstance(exc, KeyboardInterrupt) else "failed"
        atomic_write_json(run_dir / "status.json", {"state": state, "error": repr(exc)[:500], "at": _now()})
        raise
    cost = meter.stop()
    atomic_save_npz(
        run_dir / "scores.npz",
        compressed=True,
        scores_val=scores_val,
        y_val=data.Y_val,
        scores_test=scores_test,
        y_test=data.Y_test,
        **{f"extra_{k}": v for k, v in method.extras().items()},
    )
    method.save(run_dir / "model.pt")
    metrics = evaluate_all(
        data.Y_test,
        scores_test,
        data.Y_val,
        scores_val,
        val_protocol_metric(selection_metric or params.get("selection_metric")),
        zero_division=zero_division,
    )
    atomic_write_json(run_dir / "metrics.json", metrics)
    finished = _now()
    rows = [
        {
            "dataset": data.dataset,
            "method": spec.method,
            "variant": spec.variant,
            "seed": spec.seed,
            "split": spec.strategy,
            "split_id": data.split.id,
            "train_fraction": spec.train_fraction,
            "protocol": protocol,
            "metric": metric,
            "value": value,
            "run_id": run_id,
            "finished_at": finished,
            "method_name": method_cls.display_name or spec.method,
            "zero_division": result["zero_division"],
            "data_sha256": data.provenance["content_sha256"],
        }
        for protocol, result in metrics.items()
        for metric, value in [*result["metrics"].items(), *cost_values(cost).items()]
    ]  # a cost is the same under every protocol: one row each, so any --protocol table shows it
    add_rows(runs_dir, rows)
    atomic_write_json(
        run_dir / "status.json",
        {
            "state": "complete",
            "finished_at": finished,
            "fit_seconds": round(cost["fit_seconds"], 3),
            "predict_seconds": round(cost["predict_seconds"], 3),
            "resumed": resuming,
            "cost": cost,
        },
    )
    return run_dir, "resumed" if resuming else "done"


def val_protocol_metric(selection_metric: str | None) -> str:
    """The metric the ``val`` protocol maximizes: the method's model-selection metric when it is
    a threshold metric; ma-f1 (the official codes' selection metric) otherwise, e.g. when a
    method selects epochs on validation loss."""
    from mlbench.metrics import THRESHOLD_METRIC_IDS

    return selection_metric if selection_metric in THRESHOLD_METRIC_IDS else "ma-f1"


def evaluate_all(
    y_test, scores_test, y_val, scores_val, selection_metric: str = "ma-f1", zero_division: float = 0.0
) -> dict:
    """Metrics under every protocol, as stored in ``metrics.json``."""
    out = {}
    for protocol in PROTOCOLS:
        if protocol == "val" and len(y_val) == 0:  # no validation part: nothing to select on
            continue
        result = evaluate(
            y_test,
            scores_test,
            protocol,
            y_true_val=y_val,
            scores_val=scores_val,
            selection_metric=selection_metric,
            zero_division=zero_division,
        )
        out[protocol] = {
            "metrics": result.metrics,
            "thresholds": result.thresholds,
            "description": result.description,
            "zero_division": result.zero_division,
        }
    return out


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def record_external_predictions(
    dataset: str,
    seed: int,
    scores_test,
    scores_val=None,
    *,
    name: str,
    strategy: str = "iterative",
    y_true=None,
    y_true_val=None,
    notes: str | None = None,
    runs_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    ratios: tuple[float, float, float] = DEFAULT_RATIOS,
    train_fraction: float = 1.0,
    source: str | None = None,
) -> Path:
    """Put an outside model's probabilities on the (dataset, strategy, seed) split into the
    store as method ``name``, as if mlbench had trained it: a run directory (config.json with
    ``"external": true``, scores.npz, metrics.json under every protocol) and store rows, so
    ``table``, ``stats``, ``plot`` and ``check`` show it beside the built-in methods.

    ``scores_test`` (and ``scores_val``) are (n, L) probabilities in the split's row order;
    ``y_true``/``y_true_val``, when given, must equal the split's labels (a check that the
    scores are for this split). Without ``scores_val`` the ``val`` protocol is not stored.
    Returns the run directory.
    """
    from mlbench.metrics import validate_inputs

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", name or ""):
        raise MlbenchError(
            f"--name {name!r} must be letters, digits and _ . + - (it names a "
            "directory and a table row), e.g. --name my-model."
        )
    try:
        get_method_class(name)
    except MlbenchError:
        pass
    else:
        raise MlbenchError(
            f"--name {name!r} is a built-in or installed method; choose another "
            "name for outside predictions, e.g. --name {name}-mine."
        )
    data = load_split(dataset, strategy, seed, data_dir=data_dir, ratios=ratios, train_fraction=train_fraction)
    where = f"the test part of {data.dataset} split '{strategy}' seed {seed} (split id {data.split.id})"
    _same_labels(y_true, data.Y_test, "y_true", where, dataset, strategy, seed)
    _same_labels(
        y_true_val, data.Y_val, "y_true_val", where.replace("test part", "validation part"), dataset, strategy, seed
    )
    y_test = _dense(data.Y_test)
    if np.shape(scores_test) != y_test.shape:
        raise MlbenchError(
            f"scores have shape {scores_test.shape} but {where} is {y_test.shape}; "
            "predict every test row and label in the split's order."
        )
    _, scores_test, _ = validate_inputs(y_test, scores=scores_test)
    y_val = _dense(data.Y_val)
    if scores_val is not None:
        if np.shape(scores_val) != y_val.shape:
            raise MlbenchError(
                f"scores_val have shape {np.shape(scores_val)} but the validation "
                f"part is {y_val.shape}; predict the split's validation rows."
            )
        _, scores_val, _ = validate_inputs(y_val, scores=scores_val, names=("y_true_val", "scores_val", "y_pred"))

    runs_dir = resolve_runs_dir(runs_dir)
    spec = RunSpec(name, data.dataset, int(seed), strategy, (), train_fraction, ratios)
    run_id = spec.run_id()
    run_dir = runs_dir / run_id
    if run_dir.exists():  # recording the same name on the same split again replaces it
        clear_run_dir(run_dir)
        remove_run(runs_dir, run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    finished = _now()
    atomic_write_json(
        run_dir / "config.json",
        {
            "run_id": run_id,
            "method": name,
            "display_name": name,
            "variant": spec.variant,
            "external": True,
            "notes": notes,
            "predictions": source,
            "overrides": {},
            "params": {},
            "dataset": data.dataset,
            "split": data.provenance,
            "seed": int(seed),
            "device": None,
            "versions": versions(),
            "command": shlex.join(sys.argv),
            "started_at": finished,
        },
    )
    arrays = {"scores_test": scores_test, "y_test": y_test}
    if scores_val is not None:
        arrays.update(scores_val=scores_val, y_val=y_val)
    atomic_save_npz(run_dir / "scores.npz", compressed=True, **arrays)
    metrics = {}
    for protocol in PROTOCOLS:
        if protocol == "val" and scores_val is None:
            continue
        result = evaluate(y_test, scores_test, protocol, y_true_val=y_val, scores_val=scores_val)
        metrics[protocol] = {
            "metrics": result.metrics,
            "thresholds": result.thresholds,
            "description": result.description,
        }
    atomic_write_json(run_dir / "metrics.json", metrics)
    add_rows(
        runs_dir,
        [
            {
                "dataset": data.dataset,
                "method": name,
                "variant": spec.variant,
                "seed": int(seed),
                "split": strategy,
                "split_id": data.split.id,
                "train_fraction": train_fraction,
                "protocol": protocol,
                "metric": metric,
                "value": value,
                "run_id": run_id,
                "finished_at": finished,
            }
            for protocol, result in metrics.items()
            for metric, value in result["metrics"].items()
        ],
    )
    atomic_write_json(run_dir / "status.json", {"state": "complete", "finished_at": finished, "external": True})
    return run_dir


def _dense(Y) -> np.ndarray:
    import scipy.sparse as sp

    return np.asarray(Y.toarray() if sp.issparse(Y) else Y)


def _same_labels(given, expected, what: str, where: str, dataset, strategy, seed) -> None:
    if given is None:
        return
    given, expected = np.asarray(given), _dense(expected)
    if given.shape != expected.shape or not np.array_equal(given != 0, expected != 0):
        detail = (
            f"shape {given.shape} vs {expected.shape}"
            if given.shape != expected.shape
            else f"{int(((given != 0) != (expected != 0)).any(axis=1).sum())} rows differ"
        )
        raise MlbenchError(
            f"{what} does not match {where} ({detail}); predict on that split (`mlbench split "
            f"{dataset} --split-strategy {strategy} --seeds {seed}` saves its indices) or give the "
            "--split-strategy and --seed the predictions were made on."
        )
