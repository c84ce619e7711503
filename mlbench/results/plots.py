"""Figures from the results store and from run directories (matplotlib, PNG + SVG).

Every function takes an output *stem* (``plots/bars-ex-f1``) and writes ``<stem>.png`` and
``<stem>.svg``, returning both paths. Figures are built on :class:`matplotlib.figure.Figure`
directly, so no GUI backend and no global pyplot state is involved.

* :func:`grouped_bars`: per metric, datasets on the x axis, one bar per method, std as error bars.
* :func:`data_efficiency`: C-GMVAE Fig. 2, the relative improvement (%) of each method over C2AE
  when every method trains on the same 10%, 50% and 100% of the training part.
* :func:`label_heatmap`: C-GMVAE Fig. 3, label-label inner products of a run's label embeddings
  (``extra_label_embeddings`` in ``scores.npz``, shape labels x dim), diagonal removed.
* :func:`cd_diagram`: Nemenyi critical-difference diagram (scikit-posthocs).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mlbench.errors import MlbenchError
from mlbench.results.tables import method_names, row_label, summarize

FORMATS = ("png", "svg")
EMBEDDINGS_KEY = "extra_label_embeddings"


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig, stem: str | Path) -> list[Path]:
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in FORMATS:
        path = stem.with_name(f"{stem.name}.{ext}")
        fig.savefig(path, dpi=150, bbox_inches="tight")  # long tick labels are never clipped
        paths.append(path)
    return paths


def pick_variant(frame: pd.DataFrame) -> pd.DataFrame:
    from mlbench.results.stats import pick_variant as pick

    return pick(frame)


def _metric(metric: str):
    from mlbench.metrics import get_metric

    return get_metric(metric)


def _color(i: int, n: int):
    """Distinct colours: matplotlib's 10-colour cycle, or tab20 when more series than that."""
    import matplotlib

    # A hex string: ax.bar would read an RGBA tuple as one colour per bar.
    return f"C{i}" if n <= 10 else matplotlib.colors.to_hex(matplotlib.colormaps["tab20"](i % 20))


def _label(method: str, variant: str = "default", names: dict[str, str] | None = None) -> str:
    return row_label(method, variant, names)


# -- grouped bars ----------------------------------------------------------------------------------


def grouped_bars(
    store: pd.DataFrame,
    metric: str,
    stem,
    protocol: str = "fixed",
    *,
    methods=None,
    datasets=None,
    train_fraction: float = 1.0,
    split: str | None = None,
) -> list[Path]:
    """Mean ± std over seeds: datasets on the x axis, one bar per (method, variant)."""
    summary = summarize(
        store, metric, protocol, methods=methods, datasets=datasets, train_fraction=train_fraction, split=split
    )
    if summary.empty:
        raise MlbenchError(f"no finished runs for metric {metric!r} under protocol {protocol!r}.")
    columns = [d for d in (datasets or []) if d in set(summary["dataset"])] or list(dict.fromkeys(summary["dataset"]))
    keys = list(dict.fromkeys(zip(summary["method"], summary["variant"])))
    if methods:
        keys.sort(key=lambda k: methods.index(k[0]) if k[0] in methods else len(methods))
    cells = {
        (m, v, d): (mean, std, n)
        for m, v, d, mean, std, n in summary[["method", "variant", "dataset", "mean", "std", "n"]].itertuples(
            index=False
        )
    }
    spec = _metric(metric)
    fig = _figure(max(5.0, 1.1 * len(columns) * max(1, len(keys)) ** 0.5 + 2), 3.8)
    ax = fig.add_subplot()
    # Each dataset's bars are centred on its tick, so a method missing there leaves no hole;
    # colours stay fixed per method.
    present = {d: [k for k in keys if (*k, d) in cells] for d in columns}
    width = 0.8 / max(len(v) for v in present.values())
    for i, key in enumerate(keys):
        spots = [(x, d) for x, d in enumerate(columns) if key in present[d]]
        offsets = [x + (present[d].index(key) - (len(present[d]) - 1) / 2) * width for x, d in spots]
        ax.bar(
            offsets,
            [cells[(*key, d)][0] for _, d in spots],
            width,
            yerr=[cells[(*key, d)][1] for _, d in spots],
            capsize=3,
            label=_label(*key, method_names(store)),
            color=_color(i, len(keys)),
        )
    ax.set_xticks(range(len(columns)), columns)
    ax.set_ylabel(f"{spec.display_name} ({'higher' if spec.higher_is_better else 'lower'} is better)")
    seeds = sorted(set(summary["n"]))
    seed_text = f"{seeds[0]} seed{'s' if seeds[0] > 1 else ''}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]} seeds"
    ax.set_title(f"{spec.display_name}: mean ± std over {seed_text}, protocol '{protocol}'", fontsize=10)
    ax.legend(
        fontsize=8, ncols=min(len(keys), 4), loc="lower center", bbox_to_anchor=(0.5, 1.08), frameon=False
    ) if len(keys) > 1 else None
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return _save(fig, stem)


# -- data efficiency (C-GMVAE Fig. 2) ---------------------------------------------------------------


def relative_improvements(
    store: pd.DataFrame,
    metric: str = "ma-f1",
    protocol: str = "fixed",
    *,
    baseline: str = "c2ae",
    methods=None,
    datasets=None,
    fractions: Sequence[float] = (0.1, 0.5, 1.0),
    split=None,
) -> pd.DataFrame:
    """Rows (dataset, method, fraction, improvement %) of each method's mean over the
    baseline's mean at the same training fraction: 100 * (m - base) / base."""
    rows = []
    for fraction in fractions:
        summary = summarize(store, metric, protocol, datasets=datasets, train_fraction=fraction, split=split)
        summary = pick_variant(summary) if not summary.empty else summary
        means = {(m, d): mean for m, d, mean in summary[["method", "dataset", "mean"]].itertuples(index=False)}
        for (method, dataset), mean in means.items():
            base = means.get((baseline, dataset))
            if method == baseline or base is None or (methods and method not in methods):
                continue
            improvement = 100.0 * (mean - base) / base if base else np.nan
            rows.append({"dataset": dataset, "method": method, "fraction": fraction, "improvement": improvement})
    return pd.DataFrame(rows, columns=["dataset", "method", "fraction", "improvement"])


def data_efficiency(
    store: pd.DataFrame,
    stem,
    metric: str = "ma-f1",
    protocol: str = "fixed",
    *,
    baseline: str = "c2ae",
    methods=None,
    datasets=None,
    fractions: Sequence[float] = (0.1, 0.5, 1.0),
    split=None,
) -> list[Path]:
    """One panel per dataset: improvement (%) over ``baseline`` against the training fraction."""
    frame = relative_improvements(
        store, metric, protocol, baseline=baseline, methods=methods, datasets=datasets, fractions=fractions, split=split
    )
    if frame.empty:
        raise MlbenchError(
            f"no runs of {baseline!r} and another method at the same training fraction "
            f"({', '.join(f'{f:g}' for f in fractions)}); make them with "
            "`mlbench reproduce --paper cgmvae --data-efficiency`."
        )
    if not methods:  # a method run on the full data only is not a data-efficiency curve
        curves = frame.groupby("method")["fraction"].nunique()
        frame = frame[frame["method"].isin(curves[curves > 1].index)] if (curves > 1).any() else frame
    panels = [d for d in (datasets or []) if d in set(frame["dataset"])] or list(dict.fromkeys(frame["dataset"]))
    order = [m for m in (methods or []) if m in set(frame["method"])] or list(dict.fromkeys(frame["method"]))
    fig = _figure(3.6 * len(panels) + 0.6, 3.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    spec = _metric(metric)
    for ax, dataset in zip(axes, panels):
        part = frame[frame["dataset"] == dataset]
        for i, method in enumerate(order):
            line = part[part["method"] == method].sort_values("fraction")
            if not line.empty:
                ax.plot(
                    100 * line["fraction"],
                    line["improvement"],
                    marker="o",
                    color=f"C{i % 10}",
                    label=_label(method, names=method_names(store)),
                )
        ax.axhline(0, color="grey", lw=0.8, ls="--")
        ax.set_xticks([100 * f for f in fractions], [f"{100 * f:g}%" for f in fractions])
        ax.set_xlabel("training data")
        ax.set_title(dataset, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{spec.display_name}: improvement over {_label(baseline, names=method_names(store))} (%)")
    axes[-1].legend(fontsize=8)
    return _save(fig, stem)


# -- label-label embedding heatmap (C-GMVAE Fig. 3) -----------------------------------------------


def load_label_embeddings(run_dir) -> np.ndarray:
    path = Path(run_dir) / "scores.npz"
    if not path.is_file():
        raise MlbenchError(f"{run_dir} has no scores.npz; is it a finished run directory?")
    from mlbench.integrity import load_npz_checked

    arrays = load_npz_checked(path, what="run scores file", fix="redo the run with `mlbench train ... --force`")
    if EMBEDDINGS_KEY not in arrays:
        raise MlbenchError(
            f"{path} holds no label embeddings ({EMBEDDINGS_KEY}); only methods that learn "
            "them (e.g. cgmvae) store them."
        )
    emb = np.asarray(arrays[EMBEDDINGS_KEY], dtype=float)
    if emb.ndim != 2:
        raise MlbenchError(f"{EMBEDDINGS_KEY} in {path} has shape {emb.shape}; expected labels x dim.")
    return emb


def run_label_names(run_dir, data_dir=None) -> list[str] | None:
    """Label names of the run's dataset, from the dataset cache (None when not available)."""
    from mlbench.data.cache import read_meta, resolve_data_dir
    from mlbench.integrity import read_json_checked

    config = Path(run_dir) / "config.json"
    if not config.is_file():
        return None
    dataset = read_json_checked(
        config, what="the run config", schema={"dataset": str}, fix="redo the run with `mlbench train ... --force`"
    )["dataset"]
    meta = read_meta(resolve_data_dir(data_dir), dataset)
    return list(meta["label_names"]) if meta and "label_names" in meta else None


def _select_labels(names: list[str], labels, max_labels: int, gram: np.ndarray) -> list[int]:
    if labels:
        index = {n: i for i, n in enumerate(names)}
        missing = [lbl for lbl in labels if lbl not in index and not str(lbl).isdigit()]
        if missing:
            raise MlbenchError(
                f"unknown label(s) {', '.join(map(str, missing))}; the run's labels are "
                f"{', '.join(names[:20])}{' ...' if len(names) > 20 else ''}."
            )
        return [index[lbl] if lbl in index else int(lbl) for lbl in labels]
    if len(names) <= max_labels:
        return list(range(len(names)))
    # Too many to read: keep the labels with the strongest interactions with the others.
    strength = np.abs(gram).sum(axis=1)
    return sorted(np.argsort(-strength)[:max_labels].tolist())


def _cluster_order(gram: np.ndarray) -> list[int]:
    # Group labels that embed alike next to each other, as Fig. 3 orders its birds into blocks.
    from scipy.cluster.hierarchy import leaves_list, linkage

    if len(gram) < 3:
        return list(range(len(gram)))
    return leaves_list(
        linkage(gram, method="average", metric="cosine" if np.all(np.linalg.norm(gram, axis=1) > 0) else "euclidean")
    ).tolist()


def label_heatmap(
    run_dir,
    stem,
    *,
    labels: Sequence[str] | None = None,
    max_labels: int = 30,
    order: str = "cluster",
    label_names: Sequence[str] | None = None,
    data_dir=None,
) -> list[Path]:
    """Inner products of the label embeddings, self-products removed (set to 0)."""
    emb = load_label_embeddings(run_dir)
    names = list(label_names or run_label_names(run_dir, data_dir) or [f"label {i}" for i in range(len(emb))])
    if len(names) != len(emb):
        names = [f"label {i}" for i in range(len(emb))]
    gram = emb @ emb.T
    np.fill_diagonal(gram, 0.0)
    keep = _select_labels(names, labels, max_labels, gram)
    gram, names = gram[np.ix_(keep, keep)], [names[i] for i in keep]
    if order == "cluster":
        perm = _cluster_order(gram)
        gram, names = gram[np.ix_(perm, perm)], [names[i] for i in perm]
    elif order != "given":
        raise MlbenchError(f"unknown order {order!r}; use cluster or given.")
    size = 2.5 + 0.28 * len(names)
    fig = _figure(size + 1.2, size)
    ax = fig.add_subplot()
    if gram.min() >= 0:  # darker = closer, as in the paper
        image = ax.imshow(gram, cmap="Blues")
    else:
        limit = float(np.abs(gram).max()) or 1.0
        image = ax.imshow(gram, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    fig.colorbar(image, ax=ax, shrink=0.8, label="inner product (diagonal removed)")
    title = Path(run_dir).as_posix().split("/")
    ax.set_title("Label-label embedding inner products\n" + "/".join(title[-4:]), fontsize=9)
    return _save(fig, stem)


# -- critical-difference diagram -------------------------------------------------------------------


def cd_diagram(
    matrix: pd.DataFrame,
    stem,
    *,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    title: str = "",
    names: dict[str, str] | None = None,
) -> list[Path]:
    """Average ranks with Nemenyi non-significance bars (scikit-posthocs) and the CD; ``names``
    maps method ids to display names (:func:`mlbench.results.tables.method_names`)."""
    from mlbench.results.stats import average_ranks, critical_difference, nemenyi_pvalues, posthoc_tests

    posthocs = posthoc_tests()
    if matrix.shape[1] < 2 or matrix.shape[0] < 2:
        raise MlbenchError("a CD diagram needs at least 2 methods on at least 2 common datasets.")
    ranks = average_ranks(matrix, higher_is_better)
    labels = {m: _label(m, names=names) for m in matrix.columns}
    pvalues = nemenyi_pvalues(matrix).rename(index=labels, columns=labels)
    cd = critical_difference(matrix.shape[1], matrix.shape[0], alpha)
    fig = _figure(7, 0.5 + 0.35 * matrix.shape[1])
    ax = fig.add_subplot()
    posthocs.critical_difference_diagram(ranks.rename(index=labels), pvalues, ax=ax, alpha=alpha)
    ax.set_title(
        f"{title}{' · ' if title else ''}average rank over {matrix.shape[0]} datasets "
        f"(1 = best); Nemenyi CD = {cd:.2f} at α = {alpha:g}",
        fontsize=9,
    )
    return _save(fig, stem)
