"""CLI commands for reproducing papers' tables: reproduce, report, check, stats, plot."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from mlbench.cli import (  # noqa: F401
    DataDir,
    JsonFlag,
    Mirror,
    RunsDir,
    _print_json,
    app,
    check_expectations,
    console,
    err_console,
)
from mlbench.errors import MlbenchError

Paper = Annotated[str, typer.Option("--paper", help="Paper id: cgmvae, mulsupcon (see mlbench.papers).")]
Protocol = Annotated[str, typer.Option("--protocol", help="fixed | val | paper (paper = oracle threshold, as the papers computed it).")]
SplitStrategy = Annotated[Optional[str], typer.Option("--split-strategy", help="Only runs of this split strategy (iterative | random | official).")]
Methods = Annotated[Optional[list[str]], typer.Option("--methods", help="Methods, in order (`--methods br mlknn`).")]
Datasets = Annotated[Optional[list[str]], typer.Option("--datasets", help="Datasets, in order.")]
TrainFraction = Annotated[float, typer.Option("--train-fraction", help="Runs trained on this fraction of the training part.")]


def _check_protocol(protocol: str) -> None:
    from mlbench.protocols import PROTOCOLS

    if protocol not in PROTOCOLS:
        raise MlbenchError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}.")


def _store(runs_dir):
    from mlbench.runner import resolve_runs_dir
    from mlbench.store import read_store

    return read_store(resolve_runs_dir(runs_dir))


def _print_rendered(out, fmt: str) -> None:
    if fmt == "rich":
        console.print(out)
    else:
        print(out, end="")


# -- reproduce -------------------------------------------------------------------------------------

@app.command()
def reproduce(
    paper: Paper,
    table: Annotated[Optional[list[str]], typer.Option("--table", help="Only this table (repeatable); default: all tables of the paper.")] = None,
    seeds: Annotated[list[int], typer.Option("--seeds", help="Seeds (`--seeds 0 1 2`).")] = [0, 1, 2],
    quick: Annotated[bool, typer.Option("--quick", help="Smoke run: 3 epochs for every *epochs parameter of neural methods (a separate variant).")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Runs in parallel worker processes on this machine.")] = 1,
    backend: Annotated[str, typer.Option("--backend", help="local | ray (Ray tasks on the cluster at RAY_ADDRESS; pip install mlbench\\[ray]).")] = "local",
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Ray cluster address (env RAY_ADDRESS; default: start a local Ray).")] = None,
    ray_gpus: Annotated[float, typer.Option("--ray-gpus", help="GPUs each Ray task reserves.")] = 0.0,
    split_strategy: Annotated[str, typer.Option("--split-strategy", help="iterative | random | official.")] = "iterative",
    datasets: Datasets = None,
    methods: Methods = None,
    data_efficiency: Annotated[bool, typer.Option("--data-efficiency", help="Also the runs of C-GMVAE Fig. 2 (10/50/100% of the training data).")] = False,
    metric: Annotated[Optional[str], typer.Option("--metric", help="Render only this metric's tables afterwards.")] = None,
    protocol: Protocol = "fixed",
    fmt: Annotated[str, typer.Option("--format", help="rich | markdown | latex | csv | html.")] = "rich",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; train nothing.")] = False,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda.")] = "auto",
    runs_dir: RunsDir = None,
    data_dir: DataDir = None,
    mirror: Mirror = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Train what a paper's tables need and the store lacks, then render them (rerun to resume)."""
    from mlbench import orchestrate as orc
    from mlbench.paper_tables import render_paper_table

    from mlbench.runner import check_seed

    _check_protocol(protocol)
    seeds = [check_seed(s) for s in seeds]
    if backend == "local":  # a missing GPU is one error now, not one per run later
        from mlbench.training import resolve_device

        device = resolve_device(device)
    plan = orc.plan_reproduction(paper, tables=table, seeds=seeds, quick=quick, strategy=split_strategy,
                                 data_dir=data_dir, datasets=datasets, methods=methods,
                                 data_efficiency=data_efficiency)
    todo = orc.pending_runs(plan.specs, runs_dir)
    _print_plan(plan, todo, dry_run)
    if dry_run:
        return
    results = []
    if todo:
        results = _run_plan(todo, runs_dir, data_dir, mirror, device, jobs, backend, ray_address,
                            ray_gpus, quiet)
    store = _store(runs_dir)
    for i, (tbl, m) in enumerate(orc.tables_to_render(plan, store, metric)):
        if i and fmt != "rich":
            print()
        _print_rendered(render_paper_table(store, paper, m, protocol, fmt, table=tbl,
                                           split=split_strategy, data_dir=data_dir), fmt)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        err_console.print(f"[bold red]{len(failed)} run(s) failed:[/]", highlight=False)
        for r in failed:
            err_console.print(f"  {r.run_id}: {r.error}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def _print_plan(plan, todo, dry_run: bool) -> None:
    done = len(plan.specs) - len(todo)
    console.print(f"[bold]{plan.paper}[/] tables {', '.join(plan.tables)}: {len(plan.specs)} runs "
                  f"needed, {done} already in the store, {len(todo)} to run.", highlight=False)
    if plan.unmatched:
        err_console.print(f"[yellow]warning:[/] not in the selected tables, ignored: "
                          f"{', '.join(plan.unmatched)}", highlight=False)
    reasons = Counter(reason for _, reason in plan.blocked)
    if reasons:
        console.print("[dim]cells mlbench cannot run here: " + ", ".join(
            f"{n} × {reason}" for reason, n in reasons.most_common()) + "[/]", highlight=False)
    if dry_run:
        for spec, force in todo:
            console.print(f"  {spec.run_id()}{' (redo: missing from the store)' if force else ''}",
                          highlight=False)


def _run_plan(todo, runs_dir, data_dir, mirror, device, jobs, backend, ray_address, ray_gpus, quiet):
    from mlbench import orchestrate as orc

    if backend == "local":
        failed_data = orc.prepare_data([s for s, _ in todo], data_dir, mirror,
                                       notify=lambda m: err_console.print(f"[yellow]warning:[/] {m}"))
    else:  # the driver still prepares the data it ships to the workers
        failed_data = orc.prepare_data([s for s, _ in todo], data_dir, mirror)
    results = [orc.RunResult(s.run_id(), "failed", error=f"data not prepared: {failed_data[s.dataset]}")
               for s, _ in todo if s.dataset in failed_data]
    todo = [(s, f) for s, f in todo if s.dataset not in failed_data]

    def report(result) -> None:
        mark = {"done": "[green]✓[/]", "resumed": "[green]✓[/] (resumed)", "skipped": "[dim]-[/]",
                "failed": "[red]✗[/]"}[result.status]
        extra = f" {result.error}" if result.error else f" [dim]{result.seconds:.1f} s[/]"
        console.print(f"{mark} {result.run_id}{extra}", highlight=False, soft_wrap=True)

    try:
        results += orc.execute(todo, runs_dir=runs_dir, data_dir=data_dir, device=device, jobs=jobs,
                               backend=backend, ray_address=ray_address, ray_gpus=ray_gpus,
                               on_result=report, progress=not quiet and jobs == 1 and sys.stderr.isatty())
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted:[/] finished runs are kept; rerun the same command "
                          "to resume the rest.")
        raise typer.Exit(130) from None
    return results


# -- report ----------------------------------------------------------------------------------------

@app.command()
def report(
    paper: Paper,
    out: Annotated[Path, typer.Option("--out", help="Directory for report.md and plots/.")] = Path("report"),
    protocol: Protocol = "fixed",
    split_strategy: SplitStrategy = None,
    heatmap_run: Annotated[Optional[Path], typer.Option("--heatmap-run", help="Run directory for the label-embedding heatmap (default: the first run that stored embeddings).")] = None,
    runs_dir: RunsDir = None,
    data_dir: DataDir = None,
) -> None:
    """Write one markdown report: tables beside the paper's, statistics, plots, commands, versions."""
    from mlbench.report import write_report

    _check_protocol(protocol)
    path = write_report(paper, out, runs_dir=runs_dir, data_dir=data_dir, protocol=protocol,
                        split=split_strategy, heatmap_run=heatmap_run)
    console.print(f"[green]✓[/] wrote {path}", highlight=False)


# -- check -----------------------------------------------------------------------------------------

EXPECTED_COLUMNS = ("dataset", "method", "metric", "value")
OPTIONAL_COLUMNS = {"protocol": None, "tolerance": None, "variant": "default", "train_fraction": 1.0}


def read_expected(path: Path, default_protocol: str) -> list[dict]:
    """Expected cells from CSV (a header with dataset,method,metric,value and optionally protocol,
    tolerance, variant, train_fraction) or JSON (a list of such objects, or the nested
    {dataset: {method: {metric: value}}})."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise MlbenchError(f"expectation file {path} not found.")
    try:
        if path.suffix.lower() == ".json":
            frame = pd.DataFrame(_json_records(json.loads(path.read_text())))
        else:
            _check_field_counts(path)
            frame = pd.read_csv(path, comment="#", dtype={"variant": str})
    except (ValueError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MlbenchError(f"cannot read {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}.") from None
    except pd.errors.EmptyDataError:
        raise MlbenchError(f"{path} is empty; it needs the columns {', '.join(EXPECTED_COLUMNS)}.") from None
    missing = [c for c in EXPECTED_COLUMNS if c not in frame.columns]
    if missing or frame.empty:
        raise MlbenchError(f"{path} needs the columns {', '.join(EXPECTED_COLUMNS)} "
                           f"(missing: {', '.join(missing) or 'rows'}).")
    from mlbench.metrics import get_metric

    rows = []
    for record in frame.to_dict("records"):
        row = {**OPTIONAL_COLUMNS, **{k: v for k, v in record.items() if not _is_blank(v)}}
        row["protocol"] = row["protocol"] or default_protocol
        try:  # a typo would otherwise read as "no finished runs"
            get_metric(str(row["metric"]))
        except MlbenchError as exc:
            raise MlbenchError(f"{path}: {exc}") from None
        _check_protocol(str(row["protocol"]))
        try:
            row["value"] = float(row["value"])
            row["train_fraction"] = float(row["train_fraction"])
        except (TypeError, ValueError):
            raise MlbenchError(f"{path}: {record} has a non-numeric value.") from None
        rows.append(row)
    return rows


def _check_field_counts(path: Path) -> None:
    """pandas pads a short row (e.g. a cut-off last line) with blanks, which would then read as
    defaults; such a row is an error naming its line."""
    import csv

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        rows = list(csv.reader(lines))
    except (UnicodeDecodeError, csv.Error):
        raise MlbenchError(f"{path} is not a text (CSV) file; rewrite it, e.g. with "
                           f"`mlbench check {path} --write`.") from None
    width = None
    for number, fields in enumerate(rows, start=1):
        if not fields or fields[0].lstrip().startswith("#"):
            continue
        if width is None:
            width = len(fields)
        elif len(fields) != width:
            raise MlbenchError(f"{path}: line {number} has {len(fields)} fields, the header "
                               f"{width} (cut off?); fix or rewrite it with `mlbench check {path} --write`.")


def _json_records(data) -> list[dict]:
    """A list of records, or the nested form {dataset: {method: {metric: value}}}."""
    if isinstance(data, dict):
        try:
            return [{"dataset": d, "method": m, "metric": k, "value": v}
                    for d, methods in data.items() for m, metrics in methods.items()
                    for k, v in metrics.items()]
        except AttributeError:
            raise MlbenchError("a JSON expectation object must be {dataset: {method: {metric: value}}}.") from None
    return data


def _is_blank(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value == ""


def check_store(store, expected: list[dict], tolerance: float, split: str | None = None) -> tuple[list[str], int]:
    """(one line per failing cell, number of cells checked): a cell fails when the store's mean
    over seeds is worse than expected beyond the tolerance, or has no runs."""
    from mlbench.tables import summarize

    failures, summaries = [], {}
    for row in expected:
        key = (row["metric"], row["protocol"], row["train_fraction"])
        if key not in summaries:
            summaries[key] = summarize(store, row["metric"], row["protocol"],
                                       train_fraction=row["train_fraction"], split=split)
        summary = summaries[key]
        hit = summary[(summary["method"] == row["method"]) & (summary["dataset"] == row["dataset"])
                      & (summary["variant"] == str(row["variant"]))]
        where = f"{row['dataset']}/{row['method']}" + (f" [{row['variant']}]" if row["variant"] != "default" else "") \
            + f" ({row['protocol']})"
        if hit.empty:
            failures.append(f"{where}: {row['metric']}: no finished runs in the store")
            continue
        tol = tolerance if row["tolerance"] is None else float(row["tolerance"])
        got = {row["metric"]: float(hit["mean"].iloc[0])}
        failures += [f"{where}: {line} (mean over {int(hit['n'].iloc[0])} seed(s))"
                     for line in check_expectations(got, {row["metric"]: row["value"]}, tol)]
    return failures, len(expected)


def snapshot_expected(store, protocol: str, split: str | None = None):
    """The store's means as an expectation table (a baseline for `check`)."""
    df = store[store["protocol"] == protocol]
    if split:
        df = df[df["split"] == split]
    if df.empty:
        raise MlbenchError(f"no finished runs under protocol {protocol!r} to snapshot.")
    grouped = df.groupby(["dataset", "method", "variant", "train_fraction", "metric"], sort=True)["value"].mean()
    out = grouped.reset_index().assign(protocol=protocol)
    out["value"] = out["value"].round(6)
    return out[["dataset", "method", "metric", "value", "protocol", "variant", "train_fraction"]]


@app.command()
def check(
    expected: Annotated[Path, typer.Argument(help="CSV or JSON of dataset, method, metric, value [, protocol, tolerance, variant, train_fraction].")],
    tolerance: Annotated[float, typer.Option("--tolerance", help="Allowed shortfall where the file gives none.")] = 0.01,
    protocol: Annotated[str, typer.Option("--protocol", help="Protocol of rows that name none.")] = "fixed",
    split_strategy: SplitStrategy = None,
    write: Annotated[bool, typer.Option("--write", help="Write the store's current means to EXPECTED (a baseline) instead of checking.")] = False,
    runs_dir: RunsDir = None,
    as_json: JsonFlag = False,
) -> None:
    """Regression gate: compare the results store with expected values; exit 1 on a regression."""
    _check_protocol(protocol)
    store = _store(runs_dir)
    if write:
        from mlbench.io import atomic_write_text

        frame = snapshot_expected(store, protocol, split_strategy)
        text = (json.dumps(frame.to_dict("records"), indent=2) + "\n"
                if expected.suffix.lower() == ".json" else frame.to_csv(index=False))
        try:
            atomic_write_text(expected, text)
        except OSError as exc:
            raise MlbenchError(f"cannot write {expected} ({exc.strerror or type(exc).__name__}); "
                               "give a path in a writable directory.") from None
        console.print(f"[green]✓[/] wrote {len(frame)} expected cells to {expected}", highlight=False)
        return
    failures, checked = check_store(store, read_expected(expected, protocol), tolerance, split_strategy)
    if as_json:
        _print_json({"checked": checked, "failures": failures})
    for line in failures:
        err_console.print(f"[bold red]regression:[/] {line}", highlight=False, soft_wrap=True)
    if failures:
        raise typer.Exit(1)
    err_console.print(f"[green]✓[/] {checked} expected cell(s) within tolerance", highlight=False)


# -- stats -----------------------------------------------------------------------------------------

@app.command()
def stats(
    metric: Annotated[str, typer.Option("--metric", help="Metric id, e.g. ex-f1.")] = "ex-f1",
    methods: Methods = None,
    datasets: Datasets = None,
    protocol: Protocol = "fixed",
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    paired: Annotated[Optional[tuple[str, str]], typer.Option("--paired", help="Wilcoxon signed-rank test of two methods over (dataset, seed): `--paired A B`.")] = None,
    cd_diagram: Annotated[Optional[Path], typer.Option("--cd-diagram", help="Write the CD diagram to STEM.png and STEM.svg.")] = None,
    train_fraction: TrainFraction = 1.0,
    split_strategy: SplitStrategy = None,
    runs_dir: RunsDir = None,
    as_json: JsonFlag = False,
) -> None:
    """Friedman test over datasets with Nemenyi post-hoc (and CD diagram), or a paired test."""
    from mlbench import stats as st
    from mlbench.metrics import get_metric

    _check_protocol(protocol)
    spec = get_metric(metric)
    store = _store(runs_dir)
    filters = dict(train_fraction=train_fraction, split=split_strategy)
    if paired:
        result = st.paired_test(store, spec.id, paired[0], paired[1], protocol, datasets=datasets, **filters)
        _show_paired(result, spec, as_json)
        return
    matrix, dropped, left_out = st.performance_matrix(store, spec.id, protocol, methods=methods,
                                                      datasets=datasets, **filters)
    result = st.friedman(matrix, spec.higher_is_better, alpha, nemenyi=False)
    try:
        result.critical_difference = st.critical_difference(result.n_methods, result.n_datasets, alpha)
        result.nemenyi_pvalues = st.nemenyi_pvalues(matrix)
    except MlbenchError as exc:  # scikit-posthocs missing: Friedman alone is still useful
        if cd_diagram is not None:
            raise
        err_console.print(f"[yellow]note:[/] {exc}", highlight=False)
    if cd_diagram is not None:
        from mlbench.plots import cd_diagram as draw

        paths = draw(matrix, cd_diagram, higher_is_better=spec.higher_is_better, alpha=alpha, title=spec.id)
    if as_json:
        _print_json({**result.to_dict(), "metric": spec.id, "protocol": protocol,
                     "dropped_datasets": dropped, "dropped_methods": left_out})
        return
    _show_friedman(matrix, result, spec, protocol, dropped, left_out)
    if cd_diagram is not None:
        console.print("[green]✓[/] CD diagram: " + ", ".join(map(str, paths)), highlight=False)


def _show_friedman(matrix, result, spec, protocol, dropped, left_out) -> None:
    table = Table(title=f"{spec.display_name} ({spec.id}), protocol '{protocol}': mean over seeds",
                  caption=f"Friedman χ² = {result.statistic:.3f}, p = {result.pvalue:.4g} over "
                          f"{result.n_datasets} datasets, {result.n_methods} methods"
                          + (f"; Nemenyi CD = {result.critical_difference:.3f} at α = {result.alpha:g}"
                             if result.critical_difference is not None else "")
                          + (f"; datasets left out (not every method ran): {', '.join(dropped)}" if dropped else "")
                          + (f"; methods left out (too few datasets): {', '.join(left_out)}" if left_out else ""),
                  caption_justify="left")
    order = list(result.average_ranks)
    table.add_column("dataset")
    for method in order:
        table.add_column(method, justify="right")
    for dataset, row in matrix.iterrows():
        table.add_row(str(dataset), *[f"{row[m]:.4f}" for m in order])
    table.add_row("[bold]average rank[/]", *[f"[bold]{result.average_ranks[m]:.2f}[/]" for m in order])
    console.print(table)
    if result.nemenyi_pvalues is not None:
        pv = Table(title="Nemenyi post-hoc p-values")
        pv.add_column("")
        for method in order:
            pv.add_column(method, justify="right")
        for a in order:
            pv.add_row(a, *[("[bold]" if result.nemenyi_pvalues.loc[a, b] < result.alpha and a != b else "")
                            + f"{result.nemenyi_pvalues.loc[a, b]:.3f}" for b in order])
        console.print(pv)


def _show_paired(result, spec, as_json: bool) -> None:
    if as_json:
        _print_json({**result.to_dict(), "metric": spec.id})
        return
    better = "higher" if spec.higher_is_better else "lower"
    console.print(
        f"{result.method_a} vs {result.method_b} on {spec.display_name} ({spec.id}, {better} is "
        f"better) over {result.n_pairs} (dataset, seed) pairs: mean difference "
        f"{result.mean_difference:+.4f}; {result.method_a} better {result.wins}, ties {result.ties}, "
        f"worse {result.losses}; Wilcoxon signed-rank W = {result.statistic:g}, "
        f"p = {result.pvalue:.4g} (two-sided).", highlight=False)


# -- plot ------------------------------------------------------------------------------------------

plot_app = typer.Typer(help="Figures (PNG and SVG): grouped bars, data efficiency, label heatmap, CD diagram.",
                       no_args_is_help=True)
app.add_typer(plot_app, name="plot")
Out = Annotated[Path, typer.Option("--out", help="Output stem: writes STEM.png and STEM.svg.")]


def _done(paths) -> None:
    console.print("[green]✓[/] " + ", ".join(map(str, paths)), highlight=False)


@plot_app.command("bars")
def plot_bars(
    metrics: Annotated[list[str], typer.Option("--metrics", help="One figure per metric (`--metrics ex-f1 ma-f1`).")] = ["ex-f1"],
    out: Out = Path("plots/bars"),
    methods: Methods = None,
    datasets: Datasets = None,
    protocol: Protocol = "fixed",
    train_fraction: TrainFraction = 1.0,
    split_strategy: SplitStrategy = None,
    runs_dir: RunsDir = None,
) -> None:
    """Mean ± std over seeds per dataset, one bar per method (STEM-<metric>.png/.svg)."""
    from mlbench.plots import grouped_bars

    _check_protocol(protocol)
    store = _store(runs_dir)
    for metric in metrics:
        _done(grouped_bars(store, metric, out.with_name(f"{out.name}-{metric.replace('@', 'at')}"), protocol,
                           methods=methods, datasets=datasets, train_fraction=train_fraction,
                           split=split_strategy))


@plot_app.command("data-efficiency")
def plot_data_efficiency(
    metric: Annotated[str, typer.Option("--metric", help="Metric id.")] = "ma-f1",
    baseline: Annotated[str, typer.Option("--baseline", help="Method the improvements are relative to.")] = "c2ae",
    out: Out = Path("plots/data-efficiency"),
    methods: Methods = None,
    datasets: Datasets = None,
    protocol: Protocol = "fixed",
    split_strategy: SplitStrategy = None,
    runs_dir: RunsDir = None,
) -> None:
    """C-GMVAE Fig. 2: relative improvement over the baseline at 10/50/100% training data."""
    from mlbench.plots import data_efficiency

    _check_protocol(protocol)
    _done(data_efficiency(_store(runs_dir), out, metric, protocol, baseline=baseline, methods=methods,
                          datasets=datasets, split=split_strategy))


@plot_app.command("heatmap")
def plot_heatmap(
    run_dir: Annotated[Path, typer.Argument(help="A finished run that stored label embeddings (e.g. cgmvae).")],
    out: Out = Path("plots/label-heatmap"),
    labels: Annotated[Optional[list[str]], typer.Option("--label", help="Only these labels (repeatable; names or indices).")] = None,
    max_labels: Annotated[int, typer.Option("--max-labels", help="Without --label, keep the labels with the strongest interactions.")] = 30,
    order: Annotated[str, typer.Option("--order", help="cluster (group similar labels) | given.")] = "cluster",
    data_dir: DataDir = None,
) -> None:
    """C-GMVAE Fig. 3: label-label embedding inner products of one run (diagonal removed)."""
    from mlbench.plots import label_heatmap

    _done(label_heatmap(run_dir, out, labels=labels, max_labels=max_labels, order=order, data_dir=data_dir))


@plot_app.command("cd")
def plot_cd(
    metric: Annotated[str, typer.Option("--metric", help="Metric id.")] = "ex-f1",
    out: Out = Path("plots/cd"),
    methods: Methods = None,
    datasets: Datasets = None,
    protocol: Protocol = "fixed",
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    train_fraction: TrainFraction = 1.0,
    split_strategy: SplitStrategy = None,
    runs_dir: RunsDir = None,
) -> None:
    """Nemenyi critical-difference diagram over datasets (needs mlbench\\[stats])."""
    from mlbench.metrics import get_metric
    from mlbench.plots import cd_diagram
    from mlbench.stats import performance_matrix

    _check_protocol(protocol)
    spec = get_metric(metric)
    matrix, _, _ = performance_matrix(_store(runs_dir), spec.id, protocol, methods=methods,
                                      datasets=datasets, train_fraction=train_fraction, split=split_strategy)
    _done(cd_diagram(matrix, out, higher_is_better=spec.higher_is_better, alpha=alpha, title=spec.id))
