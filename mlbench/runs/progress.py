"""What a person reads while runs train: each run's name (``bce · yeast · seed 1``), ``run 4/9``,
an ETA, and one plain line per finished run.

Torch-free text only; the commands decide where it goes (a bar on a terminal, plain lines in a
CI log).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from mlbench.data.splits import DEFAULT_RATIOS
from mlbench.runs.schedule import Estimate, makespan
from mlbench.runs.spec import RunSpec

# The metrics a finished-run line shows, when the run stored them (fixed protocol).
LINE_METRICS = ("ha", "ex-f1", "mi-f1", "ma-f1", "p@1", "map")


def run_label(spec: RunSpec) -> str:
    """``method · dataset · seed k``, then whatever else sets the run apart from the defaults:
    ``fold k of K``, a non-iterative split strategy, split ratios, the training fraction, the
    variant (``--set`` overrides)."""
    parts = [spec.method, spec.dataset, f"seed {spec.seed}"]
    fold = re.fullmatch(r"kfold(\d+)-fold(\d+)", spec.strategy)
    if fold:
        parts.append(f"fold {int(fold[2])} of {int(fold[1])}")
    elif spec.strategy != "iterative":
        parts.append(spec.strategy)
    if spec.strategy == "official" and tuple(spec.ratios) != DEFAULT_RATIOS:
        # Upstream train/test files: only the validation share is a setting (the run id's other
        # two ratios are placeholders), so that is all the label shows.
        parts.append(f"validation {spec.ratios[1]:.1%} of the samples")
    elif tuple(spec.ratios) != DEFAULT_RATIOS:
        parts.append("ratios " + "/".join(f"{r:g}" for r in spec.ratios))
    if spec.train_fraction != 1.0:
        parts.append(f"{spec.train_fraction:g} of train")
    if spec.variant != "default":
        parts.append(spec.variant)
    return " · ".join(parts)


def format_seconds(seconds: float) -> str:
    """``0.4 s``, ``12.1 s``, ``4 min 05 s``, ``2 h 03 min``."""
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    if seconds < 3600 - 0.5:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest:02d} s"
    hours, rest = divmod(round(seconds / 60), 60)
    return f"{hours} h {rest:02d} min"


def format_eta(seconds: float) -> str:
    """Like :func:`format_seconds`, in whole seconds rounded up (an estimate has no tenths, and
    never says 0 s while work is left)."""
    return f"{math.ceil(seconds)} s" if seconds <= 59 else format_seconds(seconds)


class RunProgress:
    """Counts finished runs of a command and estimates the time the rest will take.

    A run's estimate is the mean time of this command's finished runs with the same method,
    dataset and settings; else ``prior(spec)`` (the store's recorded fit time of such runs);
    else the mean of this command's finished runs of the same method on any dataset; else the
    run is *untimed*. The ETA is the wall time of the timed runs on ``jobs`` workers (see
    :func:`mlbench.runs.schedule.makespan`); untimed runs are named, not guessed.
    """

    def __init__(self, specs: Sequence[RunSpec], jobs: int = 1, prior: Estimate | None = None):
        self.specs = list(specs)
        self.total = len(self.specs)
        self.jobs = max(1, jobs)
        self.prior = prior or (lambda spec: None)
        self.finished = 0
        self._left = {spec.run_id(): spec for spec in self.specs}
        self._seconds: dict[tuple, list[float]] = {}
        self._prior_cache: dict[str, float | None] = {}

    @staticmethod
    def _key(spec: RunSpec) -> tuple:
        return spec.method, spec.dataset, spec.variant, spec.train_fraction, spec.ratios

    def estimate(self, spec: RunSpec) -> float | None:
        own = self._seconds.get(self._key(spec))
        if own:
            return sum(own) / len(own)
        if spec.run_id() not in self._prior_cache:
            self._prior_cache[spec.run_id()] = self.prior(spec)
        if self._prior_cache[spec.run_id()] is not None:
            return self._prior_cache[spec.run_id()]
        same_method = [s for key, values in self._seconds.items() if key[0] == spec.method for s in values]
        return sum(same_method) / len(same_method) if same_method else None

    def eta(self) -> tuple[float, int]:
        """(seconds the timed runs left will take, number of untimed runs left)."""
        estimates = [self.estimate(spec) for spec in self._left.values()]
        timed = [e for e in estimates if e is not None]
        return makespan(timed, self.jobs), len(estimates) - len(timed)

    def eta_text(self) -> str:
        """``ETA 40 s``; ``ETA ≥ 40 s (2 runs not timed yet)`` or ``ETA unknown (2 runs not timed
        yet)`` while some runs left have no estimate; empty when nothing is left."""
        if not self._left:
            return ""
        seconds, untimed = self.eta()
        if not untimed:
            return f"ETA {format_eta(seconds)}"
        runs = f"{untimed} run{'s' if untimed > 1 else ''} not timed yet"
        return f"ETA ≥ {format_eta(seconds)} ({runs})" if seconds else f"ETA unknown ({runs})"

    def counter(self, index: int | None = None) -> str:
        """``run 4/9``: by default the run that starts next (one at a time)."""
        return f"run {self.finished + 1 if index is None else index}/{self.total}"

    def bar_label(self, spec: RunSpec) -> str:
        """The description of the training bar of the run that starts next (one at a time):
        ``run 4/9, ETA 1 min 05 s · bce · yeast · seed 1``, the ETA being the whole command's
        (the bar's own columns time the run); the run's name alone when it is the only one."""
        label = run_label(spec)
        if self.total == 1:
            return label
        seconds, untimed = self.eta()
        eta = f", ETA {format_eta(seconds)}" if not untimed else ""
        return f"{self.counter()}{eta} · {label}"

    def done(self, spec: RunSpec, seconds: float | None) -> int:
        """Count ``spec`` as finished after ``seconds`` (None: failed, not used to estimate);
        returns its number, the k of ``run k/N``."""
        self._left.pop(spec.run_id(), None)
        if seconds is not None:
            self._seconds.setdefault(self._key(spec), []).append(seconds)
        self.finished += 1
        return self.finished

    def plan_text(self, skipped: int = 0) -> str:
        """The line a command prints before its first run: how many runs, how many at a time,
        and about how long, from the recorded fit times where the store has them."""
        n = self.total
        text = f"{n} run{'s' if n != 1 else ''} to train"
        if skipped:
            text += f" ({skipped} more already complete: skipped; --force redoes them)"
        if n > 1:
            text += f", {self.jobs} at a time in worker processes" if self.jobs > 1 else ", one after the other"
        seconds, untimed = self.eta()
        if n and untimed < n:
            basis = (
                "by the recorded fit times of the same settings"
                if not untimed
                else f"for the {n - untimed} with recorded fit times; {untimed} not timed yet"
            )
            text += f"; about {format_eta(seconds)} {basis}"
        return text + "."


def finished_line(
    progress: RunProgress,
    spec: RunSpec,
    status: str,
    seconds: float | None,
    run_dir: str | Path | None = None,
    error: str | None = None,
    metrics: dict[str, float] | None = None,
) -> str:
    """One plain line per finished run, e.g.
    ``run 4/9 done  bce · yeast · seed 1  ex-f1 0.630  12.1 s  ETA 40 s  runs/yeast/...``.
    Call after :meth:`RunProgress.done`."""
    parts = [f"{progress.counter(progress.finished)} {status}", run_label(spec)]
    if error:
        parts.append(error)
    if metrics:
        parts.append("  ".join(f"{k} {metrics[k]:.3f}" for k in LINE_METRICS if k in metrics))
    if seconds is not None:
        parts.append(format_seconds(seconds))
    eta = progress.eta_text()
    if eta:
        parts.append(eta)
    if run_dir is not None and not error:
        parts.append(str(run_dir))
    return "  ".join(parts)


def stored_metrics(run_dir: str | Path | None, protocol: str = "fixed") -> dict[str, float] | None:
    """The metrics a finished run wrote under ``protocol`` (None when it wrote none)."""
    from mlbench.io import read_json

    path = Path(run_dir) / "metrics.json" if run_dir is not None else None
    if path is None or not path.is_file():
        return None
    return read_json(path).get(protocol, {}).get("metrics")


__all__ = [
    "RunProgress",
    "finished_line",
    "format_eta",
    "format_seconds",
    "run_label",
    "stored_metrics",
]
