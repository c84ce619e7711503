"""A paper's result table with our numbers beside the paper's, in the paper's own layout.

Rows, columns and their order come from ``mlbench/papers/layouts.json``; the paper's values
from ``results.csv``; ours from the results store (mean ± std over seeds, via
:func:`mlbench.results.tables.summarize`). Each cell reads ``ours ± std | paper | Δ`` (Δ = ours − paper).
A cell mlbench cannot run shows the paper's value and a short reason instead of ours.

Layouts come in two shapes:

* metrics side by side with a dataset under each (``columns == ["metric", "dataset"]``, e.g.
  C-GMVAE Table 1): one metric is rendered at a time, methods as rows, datasets as columns;
* metrics as the columns (``columns == ["metric"]``, e.g. C-GMVAE Table 4): every metric of the
  table is a column and the rows are the paper's (dataset, method) rows, best marked per dataset.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from mlbench.errors import MlbenchError
from mlbench.papers.plan import choose_table, dataset_reason, method_fraction, method_reason
from mlbench.results.tables import (
    FORMATS,
    PROTOCOL_NOTES,
    RECORD_COLUMNS,
    RECORD_FORMATS,
    format_records,
    mean_std_text,
    render_grid,
    summarize,
)

DEFAULT_VARIANT = "default"
PAPER_RECORD_COLUMNS = [*RECORD_COLUMNS, "paper", "delta", "paper_table", "note"]


# -- our numbers -----------------------------------------------------------------------------------


def _ours(store: pd.DataFrame, metrics, fractions, protocol: str, split, paper_toml: dict | None = None) -> dict:
    """(metric, method, dataset, fraction) -> (mean, std, n, variant, split strategy).

    A cell averages the runs of one variant and one split strategy. It prefers the default
    variant, then the one the paper's ``paper.toml`` names for the method's row
    (``row_variants``: an experiment may set a default explicitly, e.g. ``preset=official``),
    then the variant with the most seeds (e.g. the runs of ``--quick``). Without ``split`` it
    prefers the paper's ``split`` (the strategy its experiment runs) and otherwise takes the one
    strategy the store has for the cell, so runs of two strategies are never averaged together.
    """
    info = paper_toml or {}
    row_variants, paper_split = info.get("row_variants", {}), info.get("split")
    # A K-fold strategy is its folds together (kfold5-fold0..4 -> kfold5), as --split-strategy has it.
    strategies = [split] if split else sorted(set(store["split"].astype(str).str.replace(r"-fold\d+$", "", regex=True)))
    out = {}
    for metric in metrics:
        for fraction in fractions:
            parts = [
                summarize(store, metric, protocol, train_fraction=fraction, split=s).assign(strategy=s)
                for s in strategies
            ]
            parts = [part for part in parts if not part.empty]
            if not parts:
                continue
            summary = pd.concat(parts, ignore_index=True)
            named = summary["variant"] == summary["method"].map(row_variants)
            summary = summary.assign(
                _pref=(summary["variant"] != DEFAULT_VARIANT).astype(int) * (1 + (~named).astype(int)),
                _other_split=(summary["strategy"] != paper_split).astype(int),
            )
            summary = summary.sort_values(
                ["_pref", "_other_split", "n", "variant", "strategy"],
                ascending=[True, True, False, True, True],
                kind="stable",
            )
            for row in summary.itertuples(index=False):
                key = (metric, row.method, row.dataset, fraction)
                if key not in out:
                    out[key] = (float(row.mean), float(row.std), int(row.n), row.variant, row.strategy)
    return out


def _higher_is_better(metric: str) -> bool:
    from mlbench.metrics import get_metric

    try:
        return get_metric(metric).higher_is_better
    except MlbenchError:  # paper-only metrics (MulCon's cp, of1, ...) are all "higher is better"
        return True


def _metric_name(metric: str) -> str:
    from mlbench.metrics import get_metric

    try:
        return get_metric(metric).display_name
    except MlbenchError:
        return metric


# -- rendering -------------------------------------------------------------------------------------


def _escape_separator(text: str, fmt: str) -> str:
    # "|" separates ours/paper/Δ inside a cell; it would end a markdown cell or print as a dash
    # in LaTeX's default font.
    if fmt == "markdown":
        return text.replace("|", "\\|")
    if fmt == "latex":
        return text.replace("|", "\\textbar{}")
    return text


def _cell_text(ours, paper_value, paper_missing: bool, note: str | None) -> str:
    """``ours ± std | paper | Δ``; without ours, ``– | paper`` and the note (e.g. "not run")."""
    if paper_missing:
        theirs = "–"
    elif paper_value is None or math.isnan(paper_value):
        theirs = "?"  # unreadable in the paper's text extraction (see mlbench.papers)
    else:
        theirs = f"{paper_value:.3f}"
    if ours is None:
        return f"– | {theirs}" + (f" | {note}" if note else "")
    mean, text = ours[0], mean_std_text(*ours[:3])
    if theirs in ("–", "?") or math.isnan(mean):
        return f"{text} | {theirs}"
    delta = round(mean - paper_value, 3) + 0.0  # + 0.0 turns -0.0 into 0.0: no "-0.000"
    return f"{text} | {theirs} | {delta:+.3f}"


def _with_reason(label: str, reason: str | None) -> str:
    return f"{label} ({reason})" if reason else label


class _Lookup:
    """Our value, the paper's value and the reasons for one paper table."""

    def __init__(self, paper, table, layout, ours, data_dir, available_methods):
        from mlbench.papers import paper_results

        self.layout, self.ours = layout, ours
        self.published = {
            (r.metric, r.method, r.dataset): r.value for r in paper_results(paper, table).itertuples(index=False)
        }
        self.missing = {tuple(m) for m in layout.get("missing", [])}
        self.data_dir, self.methods = data_dir, available_methods

    def ours_of(self, metric, method, dataset):
        return self.ours.get((metric, method, dataset, method_fraction(self.layout, method)))

    def has_ours(self, cells) -> bool:
        return any(self.ours_of(*c) is not None for c in cells)

    def dataset_reason(self, dataset):
        return dataset_reason(dataset, data_dir=self.data_dir)

    def method_reason(self, method):
        return method_reason(method, available_methods=self.methods)

    def cell_reason(self, method, dataset):
        return self.dataset_reason(dataset) or self.method_reason(method)

    def cell(self, metric, method, dataset, reason_shown: bool):
        """(text, ours); a reason already printed on the row or column is not repeated."""
        got = self.ours_of(metric, method, dataset)
        note = None if got is not None or reason_shown else (self.cell_reason(method, dataset) or "not run")
        key = (metric, method, dataset)
        return _cell_text(got, self.published.get(key), key in self.missing, note), got


def _best(values: list[float | None], higher: bool) -> float | None:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    if not finite:
        return None
    return max(finite) if higher else min(finite)


def render_paper_table(
    store: pd.DataFrame,
    paper: str,
    metric: str,
    protocol: str = "fixed",
    fmt: str = "rich",
    table=None,
    split: str | None = None,
    *,
    data_dir=None,
    available_methods: Iterable[str] | None = None,
    datasets: Iterable[str] | None = None,
    methods: Iterable[str] | None = None,
):
    """Render ``table`` of ``paper`` (default: the first one reporting ``metric``) with our numbers.

    ``available_methods`` replaces the method registry and ``data_dir`` locates imported bundle
    datasets; both only decide which reason a cell without runs shows. ``datasets`` and
    ``methods`` keep only those columns and rows of the paper's layout, in the layout's order.
    """
    if fmt not in FORMATS:
        raise MlbenchError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if fmt in RECORD_FORMATS:
        return format_records(
            paper_table_records(
                store,
                paper,
                metric,
                protocol,
                table,
                split,
                data_dir=data_dir,
                available_methods=available_methods,
                datasets=datasets,
                methods=methods,
            ),
            fmt,
            PAPER_RECORD_COLUMNS,
        )
    table, layout, metrics, ours, lookup = _prepare(
        store, paper, metric, protocol, table, split, data_dir, available_methods, datasets, methods
    )
    if "dataset" in layout["columns"]:
        header, rows = _grid_methods_by_datasets(layout, metric, lookup)
    else:
        header, rows = _grid_rows_by_metrics(layout, metrics, lookup)
    rows = [(label, [(_escape_separator(t, fmt), b) for t, b in values]) for label, values in rows]
    return render_grid(rows, header, _caption(paper, table, layout, metrics, protocol, ours), fmt)


def render_paper_tables(
    store: pd.DataFrame,
    paper: str,
    tables: Iterable[tuple[str, str]],
    protocol: str = "fixed",
    fmt: str = "rich",
    split: str | None = None,
    *,
    data_dir=None,
    datasets: Iterable[str] | None = None,
    methods: Iterable[str] | None = None,
) -> list:
    """Several (table, metric) renderings of ``paper``, each once (a table whose columns are
    metrics shows all of them in one rendering, whichever of them is named): one
    :func:`render_paper_table` output per rendering, or for the record formats a single
    document of all their records (one header, a ``paper_table`` column). ``datasets`` and
    ``methods``: as for :func:`render_paper_table`."""
    from mlbench.papers import paper_layout

    shown = {}
    for table, metric in tables:
        by_dataset = "dataset" in paper_layout(paper, table)["columns"]
        shown.setdefault((table, metric if by_dataset else None), metric)
    if fmt in RECORD_FORMATS:
        records = [
            r
            for (table, _), metric in shown.items()
            for r in paper_table_records(
                store, paper, metric, protocol, table, split, data_dir=data_dir, datasets=datasets, methods=methods
            )
        ]
        return [format_records(records, fmt, PAPER_RECORD_COLUMNS)]
    return [
        render_paper_table(
            store,
            paper,
            metric,
            protocol,
            fmt,
            table=table,
            split=split,
            data_dir=data_dir,
            datasets=datasets,
            methods=methods,
        )
        for (table, _), metric in shown.items()
    ]


def _prepare(store, paper, metric, protocol, table, split, data_dir, available_methods, datasets=None, methods=None):
    """(table id, layout, metrics shown, our numbers, lookup) of one paper table."""
    from mlbench.papers import paper_info, paper_layout

    if protocol not in PROTOCOL_NOTES:
        raise MlbenchError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOL_NOTES)}.")
    table = choose_table(paper, metric, table)
    layout = paper_layout(paper, table)
    layout = _keep(layout, "datasets", "dataset_labels", datasets, f"{paper} table {table}")
    layout = _keep(layout, "methods", "method_labels", methods, f"{paper} table {table}")
    metrics = [metric] if "dataset" in layout["columns"] else list(layout["metrics"])
    layout = _with_outside_methods(layout, store, metrics)
    fractions = sorted({method_fraction(layout, m) for m in layout["methods"]})
    ours = _ours(store, metrics, fractions, protocol, split, paper_info(paper))
    lookup = _Lookup(
        paper, table, layout, ours, data_dir, None if available_methods is None else set(available_methods)
    )
    return table, layout, metrics, ours, lookup


def _keep(layout: dict, key: str, labels_key: str, wanted, where: str) -> dict:
    """``layout`` with only the ``wanted`` entries of ``layout[key]`` (and their labels)."""
    if not wanted:
        return layout
    have = list(layout[key])
    unknown = [w for w in wanted if w not in have]
    if unknown:
        raise MlbenchError(f"{where} has no {key[:-1]} {', '.join(map(repr, unknown))}; its {key}: {', '.join(have)}.")
    keep = [i for i, name in enumerate(have) if name in set(wanted)]
    return {**layout, key: [have[i] for i in keep], labels_key: [layout[labels_key][i] for i in keep]}


def paper_table_records(
    store: pd.DataFrame,
    paper: str,
    metric: str,
    protocol: str = "fixed",
    table=None,
    split: str | None = None,
    *,
    data_dir=None,
    available_methods: Iterable[str] | None = None,
    datasets: Iterable[str] | None = None,
    methods: Iterable[str] | None = None,
) -> list[dict]:
    """One record (:data:`PAPER_RECORD_COLUMNS`) per cell of :func:`render_paper_table`'s table:
    ours (unrounded mean, std, n and the variant used; empty where we have no runs), the paper's
    value (empty where it prints none or its text is unreadable), ``delta`` = ours − paper, and
    ``note``: why a cell has no number of ours. A table with metrics as columns gives every metric."""
    table, layout, metrics, _, lookup = _prepare(
        store, paper, metric, protocol, table, split, data_dir, available_methods, datasets, methods
    )
    nan = math.nan
    records = []
    for x in metrics:
        for method, label in zip(layout["methods"], layout["method_labels"]):
            for dataset in layout["datasets"]:
                got = lookup.ours_of(x, method, dataset)
                key = (x, method, dataset)
                theirs = nan if key in lookup.missing else lookup.published.get(key, nan)
                theirs = nan if theirs is None else float(theirs)
                mean, std, n, variant, _ = got if got is not None else (nan, nan, None, None, None)
                records.append(
                    {
                        "dataset": dataset,
                        "method": method,
                        "method_name": label,
                        "variant": variant,
                        "protocol": protocol,
                        "metric": x,
                        "mean": mean,
                        "std": std,
                        "n": n,
                        "paper": theirs,
                        "delta": mean - theirs,
                        "paper_table": str(table),
                        "note": None if got is not None else (lookup.cell_reason(method, dataset) or "not run"),
                    }
                )
    return records


def _with_outside_methods(layout: dict, store: pd.DataFrame, metrics) -> dict:
    """The layout plus a row per outside method in the store (external predictions, plugin
    methods: not mlbench's own) with runs on the table's datasets; the paper has no value
    for them ("–")."""
    from mlbench.papers import METHODS as PAPER_METHODS

    ran = store[store["dataset"].isin(layout["datasets"])]["method"]
    candidates = [m for m in dict.fromkeys(ran) if m not in layout["methods"] and m not in PAPER_METHODS]
    if not candidates:  # the common case needs no method registry (and so no torch)
        return layout
    from mlbench.method_sources import builtin_method_ids

    own = builtin_method_ids()  # from the modules' source: no registry import, so no torch
    extra = [m for m in candidates if m not in own]
    if not extra:
        return layout
    missing = [*layout.get("missing", []), *[(x, m, d) for x in metrics for m in extra for d in layout["datasets"]]]
    return {
        **layout,
        "methods": [*layout["methods"], *extra],
        "method_labels": [*layout["method_labels"], *extra],
        "missing": missing,
    }


def _mark_best(columns: list[list[tuple[str, tuple | None]]], higher: list[bool]):
    """(text, ours) per cell, column-major -> (text, is best) per cell, column-major."""
    marked = []
    for column, hib in zip(columns, higher):
        best = _best([g[0] if g else None for _, g in column], hib)
        marked.append([(t, g is not None and best is not None and math.isclose(g[0], best)) for t, g in column])
    return marked


def _grid_methods_by_datasets(layout: dict, metric: str, lookup: _Lookup):
    # A reason shared by a whole row (method) or column (dataset) goes into its label once.
    methods, datasets = layout["methods"], layout["datasets"]
    col_reason = {
        d: None if lookup.has_ours([(metric, m, d) for m in methods]) else lookup.dataset_reason(d) for d in datasets
    }
    row_reason = {
        m: None if lookup.has_ours([(metric, m, d) for d in datasets]) else lookup.method_reason(m) for m in methods
    }
    columns = [[lookup.cell(metric, m, d, bool(col_reason[d] or row_reason[m])) for m in methods] for d in datasets]
    marked = _mark_best(columns, [_higher_is_better(metric)] * len(columns))
    rows = [
        (_with_reason(label, row_reason[m]), [marked[j][i] for j in range(len(datasets))])
        for i, (m, label) in enumerate(zip(methods, layout["method_labels"]))
    ]
    header = [_with_reason(label, col_reason[d]) for d, label in zip(datasets, layout["dataset_labels"])]
    return ["Method", *header], rows


def _grid_rows_by_metrics(layout: dict, metrics: list[str], lookup: _Lookup):
    # The paper bolds the best method within each dataset block, so best is per (dataset, metric).
    labels = dict(zip(layout["metrics"], layout.get("metric_labels", layout["metrics"])))
    several = len(layout["datasets"]) > 1
    rows = []
    for dataset, dataset_label in zip(layout["datasets"], layout["dataset_labels"]):
        reason = {
            m: None if lookup.has_ours([(x, m, dataset) for x in metrics]) else lookup.cell_reason(m, dataset)
            for m in layout["methods"]
        }
        columns = [[lookup.cell(x, m, dataset, bool(reason[m])) for m in layout["methods"]] for x in metrics]
        marked = _mark_best(columns, [_higher_is_better(x) for x in metrics])
        for i, (method, method_label) in enumerate(zip(layout["methods"], layout["method_labels"])):
            label = f"{dataset_label}: {method_label}" if several else method_label
            rows.append((_with_reason(label, reason[method]), [marked[j][i] for j in range(len(metrics))]))
    first = "Dataset: method" if several else f"Method ({layout['dataset_labels'][0]})"
    return [first, *[labels.get(m, m) for m in metrics]], rows


def _seed_text(layout, ours: dict) -> str:
    """The range of seeds behind the cells the table shows (not the store's other cells)."""
    seeds = sorted({n for _, (_, _, n, *_) in _shown_cells(layout, ours)})
    if not seeds:
        return "no runs yet"
    count = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    return f"mean ± std over {count} seed{'' if seeds == [1] else 's'}"


def _shown_cells(layout, ours) -> list[tuple[str, tuple]]:
    """(method, our cell) for the cells of ``ours`` that the table shows: its rows and datasets
    (``ours`` also holds the store's other methods and datasets)."""
    return [
        (method, cell)
        for (_, method, dataset, _), cell in ours.items()
        if method in layout["methods"] and dataset in layout["datasets"]
    ]


def _split_note(layout, ours) -> str:
    """Which split strategy each row's runs used (one per cell: see :func:`_ours`)."""
    labels = dict(zip(layout["methods"], layout["method_labels"]))
    by_split: dict[str, list[str]] = {}
    for method, (*_, strategy) in _shown_cells(layout, ours):
        names = by_split.setdefault(strategy, [])
        if labels[method] not in names:
            names.append(labels[method])
    if not by_split:
        return ""
    if len(by_split) == 1:
        return f" Split strategy: {next(iter(by_split))}."
    parts = [f"{s} ({', '.join(names)})" for s, names in sorted(by_split.items())]
    return f" Split strategies (one per cell, never mixed): {'; '.join(parts)}."


def _caption(paper, table, layout, metrics, protocol, ours) -> str:
    names = ", ".join(f"{_metric_name(m)} ({m})" for m in metrics)
    directions = " / ".join(sorted({"higher" if _higher_is_better(m) else "lower" for m in metrics}))
    fraction_note = ""
    if any(method_fraction(layout, m) != 1.0 for m in layout["methods"]):
        fraction_note = (
            " Training fractions: "
            + ", ".join(
                f"{label} {method_fraction(layout, m):g}"
                for m, label in zip(layout["methods"], layout["method_labels"])
            )
            + "."
        )
    variants = sorted(
        {
            f"{method} [{variant}]"
            for method, (_, _, _, variant, _) in _shown_cells(layout, ours)
            if variant != DEFAULT_VARIANT
        }
    )
    variant_note = f" Non-default variants shown: {', '.join(variants)}." if variants else ""
    split_note = _split_note(layout, ours)
    compare = "" if protocol == "paper" else "; compare like with like with --protocol paper"
    return (
        f"{paper} Table {table}: {layout['caption']}. {names}, {directions} is better. Each cell: "
        f"ours ({_seed_text(layout, ours)}) | paper | Δ = ours − paper; best of ours marked. Ours under "
        f"protocol '{protocol}': {PROTOCOL_NOTES[protocol]}. Paper values as published (the papers "
        f"pick the threshold on the test set: an oracle threshold{compare})."
        f"{fraction_note}{split_note}{variant_note}"
    )
