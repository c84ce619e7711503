"""Statistical comparison of methods from the results store.

* Friedman test over datasets (Demšar, JMLR 2006): each dataset ranks the methods by their mean
  over seeds (rank 1 = best, ties averaged); ``scipy.stats.friedmanchisquare``.
* Nemenyi post-hoc test and critical difference: pairwise p-values from scikit-posthocs (the
  optional extra ``mlbench[stats]``), CD = q_alpha * sqrt(k (k + 1) / (6 N)) with q_alpha the
  studentized range quantile / sqrt(2).
* Paired Wilcoxon signed-rank test between two methods over matched (dataset, seed) runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlbench.errors import MlbenchError
from mlbench.results.tables import summarize


def _higher_is_better(metric: str) -> bool:
    from mlbench.metrics import get_metric

    return get_metric(metric).higher_is_better


def pick_variant(frame: pd.DataFrame) -> pd.DataFrame:
    """One variant per method: "default" when present, otherwise the one with the most rows."""
    chosen = {}
    for method, group in frame.groupby("method", sort=False):
        counts = group["variant"].value_counts()
        chosen[method] = "default" if "default" in counts.index else counts.index[0]
    return frame[frame["variant"] == frame["method"].map(chosen)]


def performance_matrix(
    store: pd.DataFrame,
    metric: str,
    protocol: str = "fixed",
    *,
    methods=None,
    datasets=None,
    train_fraction: float = 1.0,
    split: str | None = None,
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Datasets x methods of the mean over seeds, complete (the Friedman test needs every method
    on every dataset).

    Returns (matrix, dropped datasets, dropped methods). Named ``methods`` are all kept (datasets
    they lack are dropped); otherwise the sparsest method or dataset is dropped until complete,
    so that one method run on a single dataset does not remove every other dataset.
    """
    summary = summarize(
        store, metric, protocol, methods=methods, datasets=datasets, train_fraction=train_fraction, split=split
    )
    if summary.empty:
        raise MlbenchError(f"no finished runs for metric {metric!r} under protocol {protocol!r}.")
    summary = pick_variant(summary)
    matrix = summary.pivot(index="dataset", columns="method", values="mean")
    if methods:
        matrix = matrix[[m for m in methods if m in matrix.columns]]
    if datasets:
        matrix = matrix.loc[[d for d in datasets if d in matrix.index]]
    return _make_complete(matrix, keep_methods=bool(methods))


def _make_complete(matrix: pd.DataFrame, keep_methods: bool):
    dropped_datasets, dropped_methods = [], []
    while matrix.size and matrix.isna().to_numpy().any():
        by_method, by_dataset = matrix.isna().mean(axis=0), matrix.isna().mean(axis=1)
        if not keep_methods and by_method.max() >= by_dataset.max():
            dropped_methods.append(by_method.idxmax())
            matrix = matrix.drop(columns=dropped_methods[-1])
        else:
            dropped_datasets.append(by_dataset.idxmax())
            matrix = matrix.drop(index=dropped_datasets[-1])
    return matrix, dropped_datasets, dropped_methods


def average_ranks(matrix: pd.DataFrame, higher_is_better: bool = True) -> pd.Series:
    """Mean rank of each method over datasets (1 = best; ties share the average rank)."""
    ranks = (-matrix if higher_is_better else matrix).rank(axis=1, method="average")
    return ranks.mean(axis=0).sort_values()


@dataclass
class FriedmanResult:
    statistic: float
    pvalue: float
    n_datasets: int
    n_methods: int
    average_ranks: dict[str, float]
    critical_difference: float | None = None
    alpha: float = 0.05
    nemenyi_pvalues: pd.DataFrame | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "nemenyi_pvalues"}
        if self.nemenyi_pvalues is not None:
            out["nemenyi_pvalues"] = {
                r: {c: float(v) for c, v in row.items()} for r, row in self.nemenyi_pvalues.iterrows()
            }
        return out


def _check_blocks(matrix: pd.DataFrame) -> None:
    k, n = matrix.shape[1], matrix.shape[0]
    if k < 3:
        raise MlbenchError(
            f"the Friedman test needs at least 3 methods with runs on the same "
            f"datasets; have {k} ({', '.join(matrix.columns)}). For two methods use "
            "the paired test (`mlbench stats --paired A B`)."
        )
    if n < 2:
        raise MlbenchError(f"the Friedman test needs at least 2 datasets every method ran on; have {n}.")


def critical_difference(n_methods: int, n_datasets: int, alpha: float = 0.05) -> float:
    """Nemenyi CD: two average ranks further apart than this differ at level ``alpha``."""
    from scipy.stats import studentized_range

    q = studentized_range.ppf(1 - alpha, n_methods, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(n_methods * (n_methods + 1) / (6 * n_datasets)))


def friedman(
    matrix: pd.DataFrame, higher_is_better: bool = True, alpha: float = 0.05, nemenyi: bool = True
) -> FriedmanResult:
    """Friedman test over the datasets (rows) of ``matrix``; with ``nemenyi``, the post-hoc
    p-values (scikit-posthocs) and the critical difference."""
    from scipy.stats import friedmanchisquare

    _check_blocks(matrix)
    statistic, pvalue = friedmanchisquare(*[matrix[c].to_numpy() for c in matrix.columns])
    ranks = average_ranks(matrix, higher_is_better)
    result = FriedmanResult(
        float(statistic),
        float(pvalue),
        matrix.shape[0],
        matrix.shape[1],
        {k: float(v) for k, v in ranks.items()},
        alpha=alpha,
    )
    if nemenyi:
        result.critical_difference = critical_difference(matrix.shape[1], matrix.shape[0], alpha)
        result.nemenyi_pvalues = nemenyi_pvalues(matrix)
    return result


def posthoc_tests():
    try:
        import scikit_posthocs
    except ImportError:
        raise MlbenchError(
            "the Nemenyi test and the CD diagram need scikit-posthocs: `pip install mlbench[stats]`."
        ) from None
    return scikit_posthocs


def nemenyi_pvalues(matrix: pd.DataFrame) -> pd.DataFrame:
    """Pairwise Nemenyi p-values (methods x methods). Symmetric in the direction of the metric."""
    posthocs = posthoc_tests()
    out = posthocs.posthoc_nemenyi_friedman(matrix.to_numpy())
    out.index = out.columns = list(matrix.columns)
    return out


@dataclass
class PairedResult:
    method_a: str
    method_b: str
    n_pairs: int
    mean_difference: float  # a - b
    wins: int  # pairs where a is better (direction of the metric)
    ties: int
    losses: int
    statistic: float
    pvalue: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def paired_values(
    store: pd.DataFrame,
    metric: str,
    method_a: str,
    method_b: str,
    protocol: str = "fixed",
    *,
    datasets=None,
    train_fraction: float = 1.0,
    split: str | None = None,
) -> pd.DataFrame:
    """Runs of the two methods matched on (dataset, split, seed): columns ``a`` and ``b``."""
    df = store[
        (store["metric"] == metric)
        & (store["protocol"] == protocol)
        & (store["train_fraction"].astype(float) == float(train_fraction))
    ]
    if split:
        from mlbench.data.splits import split_matches

        df = df[split_matches(df["split"], split)]
    if datasets:
        df = df[df["dataset"].isin(datasets)]
    sides = []
    for name, method in (("a", method_a), ("b", method_b)):
        part = pick_variant(df[df["method"] == method])
        if part.empty:
            raise MlbenchError(f"no finished runs of {method!r} for metric {metric!r} under protocol {protocol!r}.")
        sides.append(part.set_index(["dataset", "split", "seed"])["value"].rename(name))
    return pd.concat(sides, axis=1, join="inner").dropna()


def paired_test(
    store: pd.DataFrame, metric: str, method_a: str, method_b: str, protocol: str = "fixed", **filters
) -> PairedResult:
    """Two-sided Wilcoxon signed-rank test of a vs b over matched (dataset, seed) runs."""
    from scipy.stats import wilcoxon

    pairs = paired_values(store, metric, method_a, method_b, protocol, **filters)
    if len(pairs) < 2:
        raise MlbenchError(
            f"{method_a!r} and {method_b!r} share {len(pairs)} (dataset, seed) "
            "run(s); the paired test needs at least 2."
        )
    diff = pairs["a"] - pairs["b"]
    sign = 1 if _higher_is_better(metric) else -1
    if (diff == 0).all():
        statistic, pvalue = 0.0, 1.0  # identical results: no evidence of a difference
    else:
        statistic, pvalue = wilcoxon(pairs["a"], pairs["b"], zero_method="wilcox")
    return PairedResult(
        method_a,
        method_b,
        len(pairs),
        float(diff.mean()),
        int((sign * diff > 0).sum()),
        int((diff == 0).sum()),
        int((sign * diff < 0).sum()),
        float(statistic),
        float(pvalue),
    )
