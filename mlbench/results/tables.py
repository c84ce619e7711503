"""Result tables from the results store: methods as rows, datasets as columns, mean ± std over
seeds, the best cell of each column marked, the threshold protocol stated under the table."""

from __future__ import annotations

import io
import json
import math

import pandas as pd

from mlbench.errors import MlbenchError

FORMATS = ("rich", "markdown", "latex", "csv", "html", "json")
#: Formats that are records (one per cell, plain numbers, no caption) rather than a laid-out grid.
RECORD_FORMATS = ("csv", "json")
RECORD_COLUMNS = ["dataset", "method", "method_name", "variant", "protocol", "metric", "mean", "std", "n"]
PROTOCOL_NOTES = {
    "fixed": "threshold 0.5",
    "val": "one threshold chosen on the validation part for the selection metric",
    "paper": "each metric maximized over thresholds 0.1..0.9 on the TEST part, as the official "
    "C-GMVAE/MPVAE/MulSupCon code does (oracle threshold: optimistic)",
}


def summarize(
    store: pd.DataFrame,
    metric: str,
    protocol: str = "fixed",
    *,
    datasets=None,
    methods=None,
    train_fraction: float = 1.0,
    split: str | None = None,
) -> pd.DataFrame:
    """Mean, std and run count per (method, variant, dataset); ``folds``/``seeds`` count the
    distinct K-fold folds (0 for other splits) and seeds behind each cell."""
    from mlbench.data.splits import split_matches

    df = store[(store["metric"] == metric) & (store["protocol"] == protocol)]
    df = df[df["train_fraction"].astype(float) == float(train_fraction)]
    if split:
        df = df[split_matches(df["split"], split)]
    if datasets:
        df = df[df["dataset"].isin(datasets)]
    if methods:
        df = df[df["method"].isin(methods)]
    grouped = df.groupby(["method", "variant", "dataset"], sort=False)["value"]
    out = grouped.agg(mean="mean", std=lambda v: v.std(ddof=1) if len(v) > 1 else 0.0, n="count")
    out = out.reset_index()
    split = df["split"].astype(str)
    keyed = df.assign(
        _fold=split.str.extract(r"^kfold\d+-fold(\d+)$")[0],
        _strategy=split.str.replace(r"-fold\d+$", "", regex=True),
        _split_setting=split_setting(df),
    )
    counts = (
        keyed.groupby(["method", "variant", "dataset"], sort=False)
        .agg(
            folds=("_fold", "nunique"),
            seeds=("seed", "nunique"),
            strategies=("_split_setting", "nunique"),
            strategy=("_strategy", lambda v: " + ".join(sorted(set(v)))),
        )
        .reset_index()
    )
    return out.merge(counts, on=["method", "variant", "dataset"], how="left")


def split_setting(df: pd.DataFrame) -> pd.Series:
    """The split a run used, without its seed and fold: the strategy, and for the ``official``
    one the validation share (its run ids carry the ratios, the ``split`` column does not), so
    MulSupCon's 20% validation and a 12.5% one count as two splits."""
    if "run_id" not in df:
        return df["split"].astype(str).str.replace(r"-fold\d+$", "", regex=True)
    part = df["run_id"].astype(str).str.split("/").str[3]
    return part.str.replace(r"-seed\d+.*$", "", regex=True).str.replace(r"-fold\d+$", "", regex=True)


def method_names(store: pd.DataFrame) -> dict[str, str]:
    """method id -> the display name its runs recorded (the store's ``method_name`` column), so
    that rendering needs no method registry (and no torch); older stores have none."""
    if "method_name" not in store.columns:
        return {}
    names = store["method_name"].fillna("").astype(str)
    named = store[names != ""]
    return dict(zip(named["method"], names[names != ""]))


def row_label(method: str, variant: str, names: dict[str, str] | None = None) -> str:
    name = (names or {}).get(method) or method
    return name if variant == "default" else f"{name} [{variant}]"


def build_grid(summary: pd.DataFrame, *, datasets=None, methods=None):
    """(rows, columns, cells, best) where cells[(row, col)] = (mean, std, n)."""
    if summary.empty:
        raise MlbenchError("no finished runs match; train some with `mlbench train` (see `mlbench table --help`).")
    columns = [d for d in (datasets or []) if d in set(summary["dataset"])] or list(dict.fromkeys(summary["dataset"]))
    keys = list(dict.fromkeys(zip(summary["method"], summary["variant"])))
    if methods:
        keys.sort(key=lambda k: methods.index(k[0]) if k[0] in methods else len(methods))
    cells = {
        ((m, v), d): (mean, std, n)
        for m, v, d, mean, std, n in summary[["method", "variant", "dataset", "mean", "std", "n"]].itertuples(
            index=False
        )
    }
    return keys, columns, cells


def best_per_column(keys, columns, cells, higher_is_better: bool) -> dict[str, float]:
    best = {}
    for column in columns:
        values = [cells[(k, column)][0] for k in keys if (k, column) in cells and not math.isnan(cells[(k, column)][0])]
        if values:
            best[column] = max(values) if higher_is_better else min(values)
    return best


def caption(metric: str, protocol: str, summary: pd.DataFrame, names: dict[str, str] | None = None) -> str:
    from mlbench.metrics import get_metric

    spec = get_metric(metric)
    seeds = sorted(set(summary["n"])) if not summary.empty else [0]
    seed_text = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    direction = "higher" if spec.higher_is_better else "lower"
    over = f"{seed_text} seed(s)"
    if "folds" in summary and not summary.empty and summary["folds"].max() > 0:
        over = (
            f"{_span(summary['n'])} run(s): {_span(summary['folds'])} fold(s) of K-fold "
            f"cross-validation × {_span(summary['seeds'])} seed(s)"
        )
    how = (
        f"Protocol '{protocol}': {PROTOCOL_NOTES[protocol]}."
        if spec.definition != "cost"
        else "Measured while training (the same under every protocol); see docs/metrics.md."
    )
    return (
        f"{spec.display_name} ({metric}, {direction} is better); mean ± std over {over}; best per column marked. {how}"
        + _split_note(summary, names)
    )


def _split_note(summary: pd.DataFrame, names: dict[str, str] | None) -> str:
    """Which split strategy each row's runs used, so that rows run on different splits (an
    experiment's official train/test files beside an 80/10/10 split) are not read as one
    comparison; and a warning where a cell averages runs of different splits."""
    if summary.empty or "strategy" not in summary:
        return ""
    mixed = " Some cells average runs of different splits: select one with --split-strategy." * bool(
        summary["strategies"].max() > 1
    )
    by_row = summary.groupby(["method", "variant"], sort=False)["strategy"].agg(lambda v: " + ".join(sorted(set(v))))
    if by_row.nunique() == 1:
        return f" Split strategy: {by_row.iloc[0]}." + mixed
    rows_of: dict[str, list[str]] = {}
    for (method, variant), strategy in by_row.items():
        rows_of.setdefault(strategy, []).append(row_label(method, variant, names))
    parts = [f"{strategy} ({', '.join(rows)})" for strategy, rows in rows_of.items()]
    return f" Split strategies differ between rows: {'; '.join(parts)}." + mixed


def _span(values) -> str:
    low, high = int(min(values)), int(max(values))
    return f"{low}" if low == high else f"{low}-{high}"


def cell_records(
    store: pd.DataFrame,
    metric: str,
    protocol: str = "fixed",
    *,
    datasets=None,
    methods=None,
    train_fraction: float = 1.0,
    split: str | None = None,
) -> list[dict]:
    """One record (:data:`RECORD_COLUMNS`) per cell of :func:`render`'s table, rows in its order:
    the unrounded mean and std over seeds and the run count ``n``."""
    from mlbench.metrics import get_metric

    metric = get_metric(metric).id
    summary = summarize(
        store, metric, protocol, datasets=datasets, methods=methods, train_fraction=train_fraction, split=split
    )
    keys, columns, cells = build_grid(summary, datasets=datasets, methods=methods)
    names = method_names(store)
    records = []
    for method, variant in keys:
        for column in columns:
            if ((method, variant), column) in cells:
                mean, std, n = cells[((method, variant), column)]
                records.append(
                    {
                        "dataset": column,
                        "method": method,
                        "method_name": names.get(method) or method,
                        "variant": variant,
                        "protocol": protocol,
                        "metric": metric,
                        "mean": float(mean),
                        "std": float(std),
                        "n": int(n),
                    }
                )
    return records


def mixed_strategies(
    store: pd.DataFrame, metric: str, protocol: str = "fixed", *, train_fraction: float = 1.0, split: str | None = None
) -> bool:
    """Whether some cell averages runs of several split strategies (the caption says so; the
    record formats have no caption, so the CLI warns)."""
    summary = summarize(store, metric, protocol, train_fraction=train_fraction, split=split)
    return not summary.empty and summary["strategies"].max() > 1


def format_records(records: list[dict], fmt: str, columns: list[str] = RECORD_COLUMNS) -> str:
    """``csv`` (a header, then one line per record; readable by ``pandas.read_csv``) or ``json``
    (a list of objects; NaN as null)."""
    frame = pd.DataFrame(records, columns=columns)
    if fmt == "json":
        clean = [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in frame.astype(object).to_dict("records")
        ]
        return json.dumps(clean, indent=2) + "\n"
    if "n" in frame:  # an integer column with gaps (paper cells we did not run) stays integer
        frame["n"] = frame["n"].astype("Int64")
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue()


def mean_std_text(mean: float, std: float, n: int | None) -> str:
    """``mean ± std`` over the runs of a cell; one run has no spread to show, so just its value."""
    return f"{mean:.3f}" if n == 1 else f"{mean:.3f} ± {std:.3f}"


def render(
    store: pd.DataFrame,
    metric: str,
    protocol: str = "fixed",
    fmt: str = "rich",
    *,
    datasets=None,
    methods=None,
    train_fraction: float = 1.0,
    split: str | None = None,
):
    """The table as a string (markdown/latex/html; csv/json: :func:`cell_records`) or a rich
    Table (``rich``)."""
    from mlbench.metrics import get_metric

    if fmt not in FORMATS:
        raise MlbenchError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if fmt in RECORD_FORMATS:
        return format_records(
            cell_records(
                store, metric, protocol, datasets=datasets, methods=methods, train_fraction=train_fraction, split=split
            ),
            fmt,
        )
    spec = get_metric(metric)
    summary = summarize(
        store, metric, protocol, datasets=datasets, methods=methods, train_fraction=train_fraction, split=split
    )
    keys, columns, cells = build_grid(summary, datasets=datasets, methods=methods)
    best = best_per_column(keys, columns, cells, spec.higher_is_better)
    names = method_names(store)
    text = caption(metric, protocol, summary, names)

    def cell(key, column) -> tuple[str, bool]:
        if (key, column) not in cells:
            return "–", False
        mean, std, n = cells[(key, column)]
        return mean_std_text(mean, std, n), column in best and math.isclose(mean, best[column])

    rows = [(row_label(*key, names), [cell(key, c) for c in columns]) for key in keys]
    return render_grid(rows, ["Method", *columns], text, fmt)


def render_grid(rows: list[tuple[str, list[tuple[str, bool]]]], header: list[str], text: str, fmt: str):
    """Lay out labelled rows of (cell text, is best) pairs in one of :data:`FORMATS` but the
    record formats (which have their own functions: a grid of text is no record)."""
    if fmt in RECORD_FORMATS:
        raise MlbenchError(f"format {fmt!r} is records, not a grid; use format_records.")
    if fmt == "rich":
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table()
        for i, name in enumerate(header):
            table.add_column(name, justify="left" if i == 0 else "right")
        for label, values in rows:
            table.add_row(label, *[f"[bold green]{v}[/]" if b else v for v, b in values])
        return Group(table, Text(text, style="dim"))
    from tabulate import tabulate

    if fmt == "markdown":
        body = [[label, *[f"**{v}**" if b else v for v, b in values]] for label, values in rows]
        return tabulate(body, headers=header, tablefmt="github") + f"\n\n{text}\n"
    if fmt == "latex":
        body = [[label, *[f"\\textbf{{{v}}}" if b else v for v, b in values]] for label, values in rows]
        body = [[c.replace("±", "$\\pm$").replace("–", "--") for c in row] for row in body]
        latex = tabulate(body, headers=header, tablefmt="latex_raw", disable_numparse=True)
        latex = latex.replace("\\hline", "\\midrule", 2)
        latex = latex.replace("\\midrule", "\\toprule", 1).replace("\\hline", "\\bottomrule")
        return f"% {text}\n{latex}\n"
    body = [[label, *[f"<b>{v}</b>" if b else v for v, b in values]] for label, values in rows]
    return tabulate(body, headers=header, tablefmt="unsafehtml") + f"\n<p>{text}</p>\n"
