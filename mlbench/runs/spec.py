"""What identifies a run, where runs live and what a run directory holds: torch-free, so the
read-only commands (``eval``, ``table``, ``report``) can use it.

A run is (method, overrides, dataset, split, seed, training fraction); :meth:`RunSpec.run_id`
is its directory below the runs directory (``MLBENCH_RUNS``, default ``./runs``).
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlbench.data.splits import DEFAULT_RATIOS
from mlbench.errors import MlbenchError
from mlbench.integrity import load_npz_checked, read_json_checked

RUNS_ENV = "MLBENCH_RUNS"


def resolve_runs_dir(runs_dir: str | Path | None = None) -> Path:
    return Path(runs_dir or os.environ.get(RUNS_ENV) or "runs")


def variant_name(overrides: dict[str, Any] | None) -> str:
    """``default``, or the overrides as ``k=v,...`` (hashed when long) — one directory each."""
    if not overrides:
        return "default"
    text = ",".join(f"{k}={overrides[k]}" for k in sorted(overrides))
    text = re.sub(r"[^A-Za-z0-9_.=,+-]", "_", text)
    if len(text) > 60:
        text = text[:40] + "-" + hashlib.sha1(text.encode()).hexdigest()[:10]
    return text


@dataclass(frozen=True)
class RunSpec:
    method: str
    dataset: str
    seed: int = 0
    strategy: str = "iterative"
    overrides: tuple[tuple[str, Any], ...] = ()
    train_fraction: float = 1.0
    ratios: tuple[float, float, float] = DEFAULT_RATIOS

    @property
    def variant(self) -> str:
        return variant_name(dict(self.overrides))

    def run_id(self) -> str:
        frac = "" if self.train_fraction == 1.0 else f"-frac{self.train_fraction:g}"
        ratios = "" if self.ratios == DEFAULT_RATIOS else "-r" + "-".join(f"{r:g}" for r in self.ratios)
        return f"{self.dataset}/{self.method}/{self.variant}/{self.strategy}{ratios}-seed{self.seed}{frac}"


def run_state(run_dir: Path) -> str | None:
    path = run_dir / "status.json"
    if not path.is_file():
        return None
    status = read_json_checked(
        path,
        what="run status file",
        schema={"state": str},
        fix=f"redo the run with `mlbench train ... --force` (or delete {run_dir})",
    )
    return status["state"]


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in (
        "mlbench",
        "torch",
        "numpy",
        "scipy",
        "scikit-learn",
        "scikit-multilearn-ng",
        "pandas",
        "liac-arff",
    ):
        try:
            out[package] = md.version(package)
        except md.PackageNotFoundError:
            pass
    return out


def load_scores(run_dir: Path) -> dict[str, np.ndarray]:
    path = Path(run_dir) / "scores.npz"
    if not path.is_file():
        state = run_state(Path(run_dir))
        if not Path(run_dir).is_dir():
            raise MlbenchError(f"run directory {run_dir} does not exist.")
        if state == "complete":  # e.g. docs/reports/runs: committed without its *.npz files
            raise MlbenchError(
                f"{run_dir} is complete but its scores.npz is not there (a copied or committed store "
                "keeps metrics.json only); its metrics under every protocol are in metrics.json "
                "(`mlbench table` reads them), or recompute the scores with `mlbench train ... --force`."
            )
        raise MlbenchError(
            f"{run_dir} has no scores.npz (run state: {state or 'unknown'}); finish it with "
            "`mlbench train ... --resume`."
        )
    return load_npz_checked(
        path,
        what="run scores file",
        keys=("scores_test", "y_test"),
        fix="redo the run with `mlbench train ... --force`",
    )


def clear_run_dir(run_dir: Path) -> None:
    for path in sorted(run_dir.rglob("*"), reverse=True):
        path.unlink() if path.is_file() or path.is_symlink() else path.rmdir()


def check_seed(seed: Any) -> int:
    """Seeds are integers >= 0 (numpy's generators refuse negative ones)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise MlbenchError(f"seeds must be integers >= 0, got {seed!r}.")
    return int(seed)
