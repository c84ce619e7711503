"""The shared PyTorch training loop: the base class of every neural method.

A neural method subclasses :class:`NeuralMethod` and implements two things::

    @register_method
    class MyMethod(NeuralMethod):
        id, display_name = "mine", "Mine"
        params = {**NeuralMethod.params, "hidden": [256, 512, 256]}

        def build_module(self, n_features, n_labels):   # -> nn.Module
            ...
        def batch_loss(self, module, xb, yb):            # -> (loss tensor, {"part": value})
            ...

and optionally overrides

* ``predict_scores(module, xb)``: per-label probabilities for one batch (default: sigmoid of
  ``module(xb)``); used for validation and ``predict_proba``, always in eval mode, no grad;
* ``configure_optimizer(module)`` (default Adam(lr, weight_decay)),
  ``configure_scheduler(optimizer, epochs)`` (default none; stepped once per epoch by
  ``step_scheduler``);
* ``train_stages()``: the training recipe. The default is one stage,
  ``self.run_stage("train", self.module_, epochs=self.hparams["epochs"])``. Multi-stage methods
  (MoCo pretraining then fine-tuning, ...) call :meth:`NeuralMethod.run_stage` several times,
  each with its own module, loss, optimizer and selection rule;
* ``epoch_batches(n, bs)``: the index batches of one epoch (default: a fresh permutation each epoch,
  last partial batch kept unless ``drop_last``).

What the loop guarantees:

* **Determinism.** ``fit`` seeds python, numpy and torch with ``context.seed`` before
  ``build_module``, turns on ``torch.use_deterministic_algorithms`` (warn-only) on CUDA (CPU
  kernels are deterministic already) and shuffles with
  its own ``torch.Generator``; same seed + same device -> identical scores. Randomness inside
  ``batch_loss`` (dropout, masks, reparameterisation) must come from torch's global RNG, which is
  checkpointed.
* **Data on the device once.** Each split is densified to float32, standardised with the
  training mean/std (``standardize``) and moved to the device as one tensor; batches are index
  slices. No DataLoader, no per-sample Python.
* **Model selection.** After every epoch the validation set is scored with
  ``selection_metric`` (any metric id of :mod:`mlbench.metrics`, or ``loss`` for the validation
  loss), at ``selection_threshold`` (a float, or ``val``: the best threshold of
  :data:`mlbench.metrics.protocols.VAL_GRID` on validation, like the official C-GMVAE/MPVAE selection,
  which maxes val macro-F1 over thresholds). The chosen threshold is kept in
  ``selected_threshold_``. The best epoch's ``state_dict`` is kept in memory and
  restored at the end of the stage (earliest epoch wins ties). ``early_stopping`` > 0 stops after
  that many epochs without improvement.
* **Logs.** One record per epoch (stage, epoch, train loss and parts, validation value, lr,
  seconds) is appended to ``context.log`` and, with ``context.run_dir``, written to
  ``train_log.csv``.
* **Checkpoints.** With ``context.run_dir`` set, a checkpoint (module, optimizer, scheduler, all
  RNG states, epoch, best state so far, log) is taken in memory after every epoch and written
  atomically to ``checkpoint.pt`` (with ``train_log.csv``) when :data:`CHECKPOINT_EVERY_SECONDS`
  have passed since the last write, and whenever ``fit`` is left by an exception, so a
  KeyboardInterrupt (which propagates) loses at most the epoch in flight, and a hard kill at most
  that many seconds of training. ``context.resume``
  continues from it and gives exactly the result of an uninterrupted run. Mutable training state
  must therefore live in the module (parameters/buffers), the optimizer or the scheduler. When
  ``fit`` completes, the selected weights are saved as ``model.pt`` and the checkpoint is deleted
  (it holds optimizer state and a second copy of the weights; a finished run does not need it).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from mlbench.errors import MlbenchError
from mlbench.integrity import CorruptFileError, to_plain, torch_load_checked
from mlbench.io import atomic_path, atomic_write_text
from mlbench.methods.base import FitContext, MultiLabelMethod
from mlbench.metrics import get_metric, resolve_metric_ids

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict[str, Any]]]

CHECKPOINT = "checkpoint.pt"
MODEL = "model.pt"
# Version 2: tensors and plain data only (read with weights_only=True), with the run's config
# hash. Version 1 files pickled numpy objects and are refused.
CHECKPOINT_VERSION = 2
MODEL_FORMAT, MODEL_VERSION = "mlbench-model", 1
TRAIN_LOG = "train_log.csv"
# Writing checkpoint.pt and train_log.csv after every epoch cost 8% of a BCE fit on yeast
# (1.5 of 19 CPU-s, 100 epochs of 0.15 s); the copy in memory each epoch costs ~1 ms. So the
# copy is written at most this often, and on every exception that leaves ``fit``.
CHECKPOINT_EVERY_SECONDS = 30.0


def resolve_device(device: str = "auto") -> str:
    """'auto' -> 'cuda' when available else 'cpu'; 'cuda' (or 'cuda:N') without CUDA is an error."""
    device = device.strip().lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise MlbenchError(
                f"device {device!r} requested but CUDA is not available "
                f"(torch {torch.__version__}); use --device cpu or auto."
            )
        return device
    raise MlbenchError(f"unknown device {device!r}; use auto, cpu or cuda.")


def adam(params, **kwargs) -> torch.optim.Adam:
    """``torch.optim.Adam`` with the fused (multi-tensor, one kernel per step) implementation:
    the same update rule, 3.2-3.7x faster optimizer steps on CPU than the default for-each loop
    (issue 14's measurement; ``benchmarks/speed_latent.py`` shows the effect on epochs). Results
    can differ from the unfused Adam in the last bits, so runs are reproducible within one
    implementation, as always across devices."""
    return torch.optim.Adam(params, fused=True, **kwargs)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def as_dense_float32(X: np.ndarray | sp.spmatrix) -> np.ndarray:
    if sp.issparse(X):
        return X.toarray().astype(np.float32, copy=False)
    return np.asarray(X, dtype=np.float32)


def _rng_state(generator: torch.Generator) -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "generator": generator.get_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], generator: torch.Generator) -> None:
    python = state["python"]  # a checkpoint read back holds lists where getstate gave tuples
    random.setstate((python[0], tuple(python[1]), python[2]))
    name, keys, *rest = state["numpy"]  # the key array is a tensor in a checkpoint (to_plain)
    keys = keys.numpy() if torch.is_tensor(keys) else keys
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def _snapshot(obj: Any) -> Any:
    """A copy of ``obj`` (a state dict) that later in-place updates of its tensors leave alone."""
    if torch.is_tensor(obj):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {key: _snapshot(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_snapshot(value) for value in obj)
    return copy.deepcopy(obj)


def _selection_value(y_true: np.ndarray, scores: np.ndarray, metric: str, threshold: str) -> tuple[float, float | None]:
    """(value of ``metric`` on validation, threshold used), with NaN mapped to the worst value.

    ``threshold='val'`` picks the best threshold of :data:`mlbench.metrics.protocols.VAL_GRID`, the grid
    the ``val`` evaluation protocol uses, so the threshold chosen here is the one it would pick.
    """
    from mlbench.metrics import compute_metrics
    from mlbench.metrics.protocols import VAL_GRID, best_threshold

    spec = get_metric(metric)
    if not spec.needs_threshold:
        t, value = None, compute_metrics(y_true, scores, 0.5, [spec.id])[spec.id]
    elif threshold == "val":
        t, value = best_threshold(y_true, scores, spec.id, VAL_GRID)
    else:
        t = float(threshold)
        value = compute_metrics(y_true, scores, t, [spec.id])[spec.id]
    if not np.isfinite(value):  # e.g. map on a split without positives: never the best epoch
        value = -np.inf if spec.higher_is_better else np.inf
    return float(value), t


def flushing_subnormals() -> bool:
    """Whether this thread flushes subnormal floats to zero (torch has a setter, no getter)."""
    return (torch.tensor([1e-39]) * 1.0).item() == 0.0


@contextlib.contextmanager
def torch_cpu_mode(n: int):
    """torch's intra-op thread count set to ``n`` (> 0) inside, and restored after: a method's
    ``num_threads`` must not leak into the later runs of the same process; 0 leaves it alone.

    Subnormal floats are flushed to zero inside (x86 FTZ/DAZ, ``torch.set_flush_denormal``).
    Weights and Adam moments of units whose gradient stays zero (dead ReLUs, words absent from a
    batch) decay geometrically into the subnormal range (below 1.2e-38), where every CPU float op
    on them is 20x slower: a C-GMVAE delicious epoch went from 15 s to 38 s over 90 epochs, with
    4.6% of one layer's weights and 22% of its Adam first moments subnormal (docs/benchmarks.md).
    Flushing makes those values 0 (they are below 1.2e-38 in magnitude). The flag is per thread:
    torch's OpenMP workers inherit it when they are created, so it reaches them when the first
    parallel torch op of the process runs inside a fit (as in every mlbench command); a library
    user whose process ran torch ops on several threads before calls
    ``torch.set_flush_denormal(True)`` first. GPUs are unaffected: they handle
    subnormals at full speed."""
    before = torch.get_num_threads()
    flushed_before = flushing_subnormals()
    torch.set_flush_denormal(True)
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n > 0:
            torch.set_num_threads(before)
        torch.set_flush_denormal(flushed_before)


class NeuralMethod(MultiLabelMethod):
    """Base class of the neural methods; see the module docstring for the contract."""

    is_neural: ClassVar[bool] = True
    params: ClassVar[dict[str, Any]] = {
        "epochs": 100,
        "batch_size": 128,
        "lr": 1e-3,
        "weight_decay": 0.0,
        "dropout": 0.5,
        "standardize": True,  # z-score with the training split's mean/std
        "selection_metric": "ma-f1",  # a metric id, or 'loss' (validation loss, lower is better)
        "selection_threshold": "val",  # 'val' (best of protocols.VAL_GRID) or a number, e.g. '0.5'
        "early_stopping": 0,  # patience in epochs; 0 = run all epochs
        "grad_clip": 0.0,  # max gradient norm; 0 = off
        "num_threads": 0,  # torch CPU threads; 0 = torch's default
        "precision": "fp32",  # 'fp32' | 'bf16' (autocast mixed precision; recorded with the run)
    }
    param_ranges: ClassVar[dict[str, str]] = {
        "epochs": ">= 1",
        "batch_size": ">= 1",
        "lr": ">= 0",
        "weight_decay": ">= 0",
        "dropout": "[0, 1)",
        "early_stopping": ">= 0",
        "grad_clip": ">= 0",
        "num_threads": ">= 0",
    }
    drop_last: ClassVar[bool] = False  # drop the last partial batch (e.g. for BatchNorm)
    # Share of the training rows held out for model selection when fit gets no validation part.
    validation_fraction: ClassVar[float] = 0.1
    test_params: ClassVar[dict[str, Any]] = {"epochs": 2, "batch_size": 16}
    eval_batch_size: ClassVar[int] = 4096

    # -- to implement ------------------------------------------------------------------------
    def build_module(self, n_features: int, n_labels: int) -> nn.Module:
        """The network (called after seeding, so its initialisation is reproducible)."""
        raise NotImplementedError

    def batch_loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        """Scalar training loss of one batch and named parts to log (floats or 0-d tensors)."""
        raise NotImplementedError

    # -- optional hooks ----------------------------------------------------------------------
    def predict_scores(self, module: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        """Per-label probabilities of one batch; called in eval mode under ``no_grad``."""
        return torch.sigmoid(module(xb))

    def configure_optimizer(self, module: nn.Module) -> torch.optim.Optimizer:
        return adam(module.parameters(), lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"])

    def configure_scheduler(self, optimizer: torch.optim.Optimizer, epochs: int) -> Any:
        """An LR scheduler stepped once per epoch (after validation), or None."""
        return None

    def step_scheduler(self, scheduler: Any, record: dict[str, Any]) -> None:
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            # Plateau on what the stage selects on; configure its mode to match (min for loss).
            scheduler.step(record.get("val_value", record["train_loss"]))
        else:
            scheduler.step()

    def epoch_batches(self, n: int, bs: int) -> Sequence[torch.Tensor]:
        """Index tensors (on the device) of one epoch over ``n`` training rows, batch size
        ``bs``. Must draw randomness only from ``self.generator_`` (it is checkpointed)."""
        perm = torch.randperm(n, generator=self.generator_).to(self.device_)
        stop = n - n % bs if self.drop_last and n >= bs else n
        return perm[:stop].split(bs)

    def train_stages(self) -> None:
        """The training recipe; override to chain stages (pretraining, fine-tuning, ...)."""
        self.run_stage("train", self.module_, epochs=self.hparams["epochs"])

    def on_epoch_end(self, stage: str, record: dict[str, Any]) -> None:
        """Called after each epoch's checkpoint is taken (an exception raised here writes it to
        disk; tests use it to interrupt)."""

    # -- fit / predict -------------------------------------------------------------------------
    def fit(self, X, Y, X_val=None, Y_val=None, context: FitContext | None = None):
        """Train on (X, Y), selecting the epoch on (X_val, Y_val).

        Without ``Y_val`` (e.g. inside ``GridSearchCV``) a seeded, iteratively stratified
        ``validation_fraction`` of the training rows is held out for model selection and the
        rest is trained on; with fewer than :data:`MIN_CARVE_ROWS` rows nothing is held out and
        the last epoch is kept.
        """
        ctx = context or FitContext(progress=False)  # no bars inside GridSearchCV & co.
        if Y_val is None:
            X, Y, X_val, Y_val = carve_validation(X, Y, self.validation_fraction, ctx.seed)
        with torch_cpu_mode(self.hparams["num_threads"]):
            self._setup(ctx, X, Y, X_val, Y_val)
            self.module_ = self.build_module(self.n_features_, self.n_labels_).to(self.device_)
            try:
                self.train_stages()
            except BaseException:
                self._flush_checkpoint(on_error=True)
                raise
        if ctx.run_dir is not None:
            self.save(Path(ctx.run_dir) / MODEL)
            _write_log_csv(Path(ctx.run_dir) / TRAIN_LOG, self.log_)
            (Path(ctx.run_dir) / CHECKPOINT).unlink(missing_ok=True)
        self._ckpt = self._pending = None
        return self

    @torch.no_grad()
    def predict_proba(self, X) -> np.ndarray:
        with torch_cpu_mode(self.hparams["num_threads"]):
            return self._scores(self.module_, self._to_device(X)).astype(np.float64)

    def predict_scores_tensor(self, module: nn.Module, X: torch.Tensor) -> torch.Tensor:
        """``predict_scores`` over a whole device tensor, batched, in eval mode."""
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad(), self.autocast():
                parts = [self.predict_scores(module, xb).float() for xb in X.split(self.eval_batch_size)]
        finally:
            module.train(was_training)
        if not parts:
            return torch.empty(0, self.n_labels_, device=X.device)
        return torch.cat(parts)

    def _scores(self, module: nn.Module, X: torch.Tensor) -> np.ndarray:
        scores = self.predict_scores_tensor(module, X).float().cpu().numpy()
        return np.clip(np.nan_to_num(scores, nan=0.0), 0.0, 1.0)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """The fitted weights plus what is needed to predict (hparams, feature scaling)."""
        blob = {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "config_sha256": getattr(getattr(self, "context_", None), "config_hash", None),
            "method": self.id,
            "hparams": self.hparams,
            "n_features": self.n_features_,
            "n_labels": self.n_labels_,
            "mean": self.mean_,
            "scale": self.scale_,
            "threshold": self.selected_threshold_,
            "state_dict": _cpu_state(self.module_),
        }
        with atomic_path(path) as tmp:
            torch.save(to_plain(blob), tmp)

    @classmethod
    def load(cls, path: Path, device: str = "cpu") -> NeuralMethod:
        """Rebuild a fitted method from :meth:`save`'s file, ready for ``predict_proba``."""
        fix = "retrain the run with `mlbench train ... --force`"
        blob = torch_load_checked(path, what="model file", fix=fix, map_location="cpu")
        if not isinstance(blob, dict) or blob.get("format") != MODEL_FORMAT:
            raise CorruptFileError(f"model file {path} is not an mlbench model; {fix}.")
        if blob.get("version") != MODEL_VERSION or blob.get("method") != cls.id:
            raise CorruptFileError(
                f"model file {path} is version {blob.get('version')!r} of method "
                f"{blob.get('method')!r}; this mlbench reads version {MODEL_VERSION} of "
                f"{cls.id!r}; {fix}."
            )
        self = cls(**blob["hparams"])
        self.device_ = resolve_device(device)
        self.n_features_, self.n_labels_ = blob["n_features"], blob["n_labels"]
        self.n_features_in_, self.classes_ = self.n_features_, np.arange(self.n_labels_)
        self.mean_, self.scale_ = (None if v is None else v.numpy() for v in (blob["mean"], blob["scale"]))
        self.selected_threshold_ = blob["threshold"]
        self.module_ = self.build_module(self.n_features_, self.n_labels_).to(self.device_)
        self.module_.load_state_dict(blob["state_dict"])
        return self

    # -- the loop ------------------------------------------------------------------------------
    def run_stage(
        self,
        name: str,
        module: nn.Module,
        *,
        epochs: int,
        loss_fn: LossFn | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        scheduler: Any = None,
        select: str | None = "val",
        batch_size: int | None = None,
    ) -> None:
        """Train ``module`` for ``epochs`` epochs with ``loss_fn`` (default ``batch_loss``) and
        batches of ``batch_size`` (default the ``batch_size`` hyperparameter).

        ``optimizer`` defaults to ``configure_optimizer(module)`` and ``scheduler`` to
        ``configure_scheduler(optimizer, epochs)``. ``select`` picks the weights the stage ends
        with: ``'val'`` (best ``selection_metric`` on validation; the last epoch when there is no
        validation split), ``'train_loss'`` (lowest mean training loss, e.g. for pretraining),
        or None (the last epoch). Stage names must be unique within a fit (they key the
        checkpoint); on resume a finished stage is not rerun, its final weights and RNG state are
        restored.
        """
        if name in self._stages_seen:
            raise ValueError(f"stage name {name!r} used twice")
        self._stages_seen.add(name)
        loss_fn = loss_fn or self.batch_loss
        batch_size = batch_size or self.hparams["batch_size"]
        optimizer = optimizer or self.configure_optimizer(module)
        if scheduler is None:
            scheduler = self.configure_scheduler(optimizer, epochs)
        if select == "val" and self.val_ is None:
            select = None
        if select not in ("val", "train_loss", None):
            raise ValueError(f"select must be 'val', 'train_loss' or None, got {select!r}")
        metric = self.hparams["selection_metric"]
        lower_is_better = select == "train_loss" or (
            select == "val" and (metric == "loss" or not get_metric(metric).higher_is_better)
        )
        state = self._resume_stage(name, module, optimizer, scheduler)
        if state is None:
            return  # finished before the interruption; its weights and RNG state are restored

        patience = self.hparams["early_stopping"] if select is not None else 0
        progress = _progress() if self.context_.progress else None
        with progress or contextlib.nullcontext():
            if progress:
                label = self.context_.label  # the stage is named when it is not the only one
                described = f"{label} · {name}" if label and name != "train" else label or name
                task = progress.add_task(described, total=epochs, completed=state["epoch"] + 1, info="")
            for epoch in range(state["epoch"] + 1, epochs):
                # Checked before the epoch, so a run resumed after the stopping epoch stops too.
                if patience and state["bad"] >= patience:
                    break
                start = time.perf_counter()
                record = {"stage": name, "epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"]}
                record.update(self.train_epoch(module, optimizer, loss_fn, batch_size))
                if not np.isfinite(record["train_loss"]):
                    raise MlbenchError(
                        f"training diverged: {name} loss is {record['train_loss']} in epoch "
                        f"{epoch + 1}; try a lower lr (--set lr=...) or grad_clip."
                    )
                value = None
                if select == "val":
                    record.update(self._validate(module, loss_fn))
                    value = record["val_value"]
                elif select == "train_loss":
                    value = record["train_loss"]
                if scheduler is not None:
                    self.step_scheduler(scheduler, record)
                best = state["best_value"]
                improved = value is not None and (best is None or (value < best if lower_is_better else value > best))
                if improved:
                    state.update(best_value=value, best_epoch=epoch, bad=0)
                    state["best_state"] = _cpu_state(module)
                    state["threshold"] = record.get("val_threshold")
                elif value is not None:
                    state["bad"] += 1
                state["epoch"] = epoch
                record.update(best=improved, seconds=round(time.perf_counter() - start, 4))
                self.log_.append(record)
                self._checkpoint(name, module, optimizer, scheduler, state)
                if progress:
                    progress.update(task, advance=1, info=_describe(record, metric))
                self.on_epoch_end(name, record)

        if state["best_state"] is not None:
            module.load_state_dict(state["best_state"])
            self.selected_threshold_ = state["threshold"]
            self.best_epoch_ = state["best_epoch"] + 1
        else:
            self.best_epoch_ = state["epoch"] + 1
        self._stage_done(name, module)

    def _resume_stage(self, name, module, optimizer, scheduler) -> dict[str, Any] | None:
        """The stage's loop state: fresh, or from the checkpoint being resumed (which also
        restores the module, optimizer, scheduler and RNGs); None if the stage had finished."""
        ckpt = self._ckpt
        if ckpt is not None and name in ckpt["done"]:
            done = ckpt["done"][name]
            module.load_state_dict(done["module"])
            self.selected_threshold_, self.best_epoch_ = done["threshold"], done["best_epoch"]
            _set_rng_state(done["rng"], self.generator_)
            return None
        if ckpt is not None and ckpt["current"] is not None and ckpt["current"]["stage"] == name:
            cur = ckpt["current"]
            module.load_state_dict(cur["module"])
            optimizer.load_state_dict(cur["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(cur["scheduler"])
            _set_rng_state(cur["rng"], self.generator_)
            self._ckpt = None  # later stages start fresh
            return cur["state"]
        return {"epoch": -1, "best_value": None, "best_epoch": -1, "best_state": None, "bad": 0}

    def train_epoch(
        self, module: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn, batch_size: int
    ) -> dict[str, float]:
        """One epoch of optimisation; returns the sample-weighted means ``train_loss`` and
        ``train_<part>`` of the batches' losses and parts."""
        module.train()
        X, Y = self.train_
        params = [p for group in optimizer.param_groups for p in group["params"]]
        clip = self.hparams["grad_clip"]
        totals: dict[str, Any] = {}
        seen = 0
        for idx in self.epoch_batches(X.shape[0], batch_size):
            with self.autocast():
                loss, parts = loss_fn(module, X[idx], Y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip > 0:
                nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            n = len(idx)
            seen += n
            # Accumulated as tensors so the GPU is not synchronised every batch.
            for key, value in {"loss": loss, **parts}.items():
                value = value.detach() if torch.is_tensor(value) else value
                totals[key] = totals.get(key, 0.0) + value * n
        return {f"train_{k}": float(v) / max(seen, 1) for k, v in totals.items()}

    def autocast(self):
        """Mixed precision for forward passes when ``precision='bf16'`` (bfloat16 needs no loss
        scaling, unlike float16, and runs on CPU and CUDA); a no-op context for 'fp32'."""
        if self.hparams["precision"] == "fp32":
            return contextlib.nullcontext()
        return torch.autocast("cuda" if self.device_.startswith("cuda") else "cpu", dtype=torch.bfloat16)

    # -- internals -----------------------------------------------------------------------------
    def _setup(self, ctx: FitContext, X, Y, X_val, Y_val) -> None:
        self.context_ = ctx
        self.device_ = resolve_device(ctx.device)
        self._check_hparams()
        if self.device_.startswith("cuda"):
            # Only CUDA has nondeterministic kernels. On CPU the call is not needed, and it costs
            # seconds per process: it imports torch's compiler stack (measured 4-17 s here).
            # cuBLAS needs this variable for deterministic matmuls, set before CUDA initialises.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        seed_everything(ctx.seed)
        self.generator_ = torch.Generator().manual_seed(ctx.seed)

        Xd = as_dense_float32(X)
        Y = np.asarray(Y.toarray() if sp.issparse(Y) else Y)
        if Xd.shape[0] != Y.shape[0]:
            raise MlbenchError(f"X has {Xd.shape[0]} rows but Y has {Y.shape[0]}.")
        self.n_features_, self.n_labels_ = Xd.shape[1], Y.shape[1]
        if self.hparams["standardize"]:
            mean = Xd.mean(axis=0, dtype=np.float64)
            std = Xd.std(axis=0, dtype=np.float64)
            self.mean_ = mean.astype(np.float32)
            self.scale_ = np.where(std > 0, std, 1.0).astype(np.float32)
        else:
            self.mean_ = self.scale_ = None
        self.train_ = (
            self._to_device(Xd),
            torch.as_tensor(Y, dtype=torch.float32, device=self.device_),
        )
        self.val_ = None
        self.Y_val_ = None
        if X_val is not None and Y_val is not None and Y_val.shape[0] > 0:
            self.Y_val_ = np.asarray(Y_val.toarray() if sp.issparse(Y_val) else Y_val)
            self.val_ = (
                self._to_device(X_val),
                torch.as_tensor(self.Y_val_, dtype=torch.float32, device=self.device_),
            )
        self.selected_threshold_: float | None = None
        self.best_epoch_: int | None = None
        self._stages_seen: set[str] = set()
        self._done: dict[str, Any] = {}
        self.log_ = ctx.log
        self._ckpt = self._load_checkpoint() if ctx.resume and ctx.run_dir is not None else None
        self._pending: tuple[dict[str, Any] | None, int] | None = None  # (current, log length) not on disk yet
        self._written_at = time.monotonic()

    def _check_hparams(self) -> None:
        if self.hparams["selection_metric"] != "loss":
            resolve_metric_ids([self.hparams["selection_metric"]])  # unknown or a cost: MlbenchError
        t = self.hparams["selection_threshold"]
        if t != "val":
            try:
                ok = 0.0 <= float(t) <= 1.0
            except ValueError:
                ok = False
            if not ok:
                raise MlbenchError(f"selection_threshold must be 'val' or a number in [0, 1], got {t!r}.")
        if self.hparams["precision"] not in ("fp32", "bf16"):
            raise MlbenchError(f"precision must be 'fp32' or 'bf16', got {self.hparams['precision']!r}.")
        for key in ("epochs", "batch_size"):
            if self.hparams.get(key, 1) < 1:
                raise MlbenchError(f"parameter {key!r} must be >= 1, got {self.hparams[key]}.")

    def _to_device(self, X) -> torch.Tensor:
        X = as_dense_float32(X)
        if self.mean_ is not None:
            X = (X - self.mean_) / self.scale_
        return torch.as_tensor(X, dtype=torch.float32, device=self.device_)

    def _validate(self, module: nn.Module, loss_fn: LossFn) -> dict[str, Any]:
        Xv, Yv = self.val_
        metric = self.hparams["selection_metric"]
        if metric == "loss":
            module.eval()
            bs = self.eval_batch_size
            with torch.no_grad():
                total = sum(loss_fn(module, xb, yb)[0].detach() * len(xb) for xb, yb in zip(Xv.split(bs), Yv.split(bs)))
            return {"val_value": float(total) / len(Xv), "val_threshold": None}
        value, threshold = _selection_value(
            self.Y_val_, self._scores(module, Xv), metric, self.hparams["selection_threshold"]
        )
        return {"val_value": value, "val_threshold": threshold}

    def _checkpoint(self, stage, module, optimizer, scheduler, state) -> None:
        run_dir = self.context_.run_dir
        if run_dir is None:
            return
        current = {
            "stage": stage,
            "module": _cpu_state(module),
            "optimizer": _snapshot(optimizer.state_dict()),
            "scheduler": _snapshot(scheduler.state_dict()) if scheduler is not None else None,
            "state": dict(state),  # its best_state is replaced on improvement, never changed in place
            "rng": _rng_state(self.generator_),
        }
        self._pending = (current, len(self.log_))
        if time.monotonic() - self._written_at >= CHECKPOINT_EVERY_SECONDS:
            self._flush_checkpoint()

    def _flush_checkpoint(self, on_error: bool = False) -> None:
        """Write the checkpoint taken last, if it is not on disk yet."""
        if self._pending is None or self.context_.run_dir is None:
            return
        current, n_records = self._pending
        try:
            self._write_checkpoint(current, self.log_[:n_records])
        except Exception:
            if not on_error:
                raise
            # Leaving fit on another exception (Ctrl-C, a diverged loss): that one is reported;
            # a resume then starts from an older checkpoint, or from scratch.
            return
        self._pending = None
        self._written_at = time.monotonic()

    def _stage_done(self, stage: str, module: nn.Module) -> None:
        self._done[stage] = {
            "module": _cpu_state(module),
            "threshold": self.selected_threshold_,
            "best_epoch": self.best_epoch_,
            "rng": _rng_state(self.generator_),
        }
        if self.context_.run_dir is not None:  # written with the next checkpoint, or on an exception
            self._pending = (None, len(self.log_))

    def _checkpoint_identity(self) -> dict[str, Any]:
        """What a checkpoint must match to be this run's: written into it, checked on resume."""
        return {
            "config_sha256": self.context_.config_hash,
            "method": self.id,
            "hparams": self.hparams,
            "seed": self.context_.seed,
            "device": self.device_,
            "shape": (int(self.train_[0].shape[0]), self.n_features_, self.n_labels_),
        }

    def _write_checkpoint(self, current: dict[str, Any] | None, log: list[dict[str, Any]]) -> None:
        run_dir = Path(self.context_.run_dir)
        blob = {
            "version": CHECKPOINT_VERSION,
            **self._checkpoint_identity(),
            "done": self._done,
            "current": current,
            "log": list(log),
        }
        with atomic_path(run_dir / CHECKPOINT) as tmp:
            torch.save(to_plain(blob), tmp)
        _write_log_csv(run_dir / TRAIN_LOG, log)

    def _load_checkpoint(self) -> dict[str, Any] | None:
        path = Path(self.context_.run_dir) / CHECKPOINT
        if not path.exists():
            return None
        ckpt = check_checkpoint_file(path)
        expected = self._checkpoint_identity()
        for key, value in expected.items():
            if ckpt.get(key) != value:
                raise MlbenchError(
                    f"checkpoint {path} was written with a different {key} "
                    f"({_clip(ckpt.get(key))}, now {_clip(value)}); resume with the same "
                    "settings or delete it."
                )
        self._done = ckpt["done"]
        self.log_[:] = ckpt["log"]
        return ckpt


def check_checkpoint_file(path: Path) -> dict[str, Any]:
    """The checkpoint in ``path`` if it is one this mlbench wrote (tensors and plain data only,
    this format version); a one-line error otherwise, without running anything it holds."""
    fix = f"delete it to start over (`rm {path}`), or train without --resume"
    # On the CPU: RNG states must stay CPU tensors; load_state_dict moves the weights.
    ckpt = torch_load_checked(path, what="checkpoint", fix=fix, map_location="cpu")
    if not isinstance(ckpt, dict) or not {"done", "current", "log"} <= set(ckpt):
        raise CorruptFileError(f"checkpoint {path} is not an mlbench checkpoint; {fix}.")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise CorruptFileError(
            f"checkpoint {path} is format version {ckpt.get('version')!r}, this mlbench "
            f"reads version {CHECKPOINT_VERSION}; {fix}."
        )
    return ckpt


def _clip(value: Any, width: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


MIN_CARVE_ROWS = 10  # below this a held-out part is too small to select anything on


def carve_validation(X, Y, fraction: float, seed: int):
    """(X_train, Y_train, X_val, Y_val): ``fraction`` of the rows held out by iterative
    stratification (Sechidis et al., 2011; the splitter of :mod:`mlbench.data.splits`), seeded
    with ``seed``; (X, Y, None, None) when there are too few rows or ``fraction`` is 0."""
    from mlbench.data.splits import iterative_stratification

    n = X.shape[0]
    if fraction <= 0 or n < MIN_CARVE_ROWS:
        return X, Y, None, None
    Yd = Y.toarray() if sp.issparse(Y) else np.asarray(Y)
    train, val = iterative_stratification(Yd, (1 - fraction, fraction), np.random.default_rng(seed))
    return X[train], Y[train], X[val], Y[val]


def _progress():
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=Console(stderr=True),  # keep stdout for results
        transient=True,
    )


def _describe(record: dict[str, Any], metric: str) -> str:
    text = f"loss {record['train_loss']:.4f}"
    if "val_value" in record:
        text += f"  val {metric} {record['val_value']:.4f}"
    return text


def _write_log_csv(path: Path, records: list[dict[str, Any]]) -> None:
    fields: dict[str, None] = {}
    for record in records:
        fields.update(dict.fromkeys(record))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    atomic_write_text(path, buffer.getvalue())


__all__ = ["NeuralMethod", "resolve_device", "seed_everything", "as_dense_float32"]
