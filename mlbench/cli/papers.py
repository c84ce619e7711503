"""CLI commands for reproducing papers' tables: reproduce, report, check, stats, plot."""

from __future__ import annotations

import contextlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from mlbench.cli._app import (  # noqa: F401
    DataDir,
    Datasets,
    JsonFlag,
    Methods,
    Mirror,
    OutputFormat,
    Paper,
    Protocol,
    RunsDir,
    SplitStrategy,
    TrainFraction,
    app,
    check_format,
    check_protocol,
    console,
    err_console,
    print_json,
    print_paper_tables,
    print_rendered,
    read_runs_store,
)
from mlbench.errors import MlbenchError

# -- reproduce -------------------------------------------------------------------------------------

Experiment = Annotated[
    Optional[str],
    typer.Option(
        "--experiment",
        help="An experiment TOML file (docs/experiments.md), or the id of a paper whose shipped experiment to use (cgmvae, mulsupcon).",
    ),
]
Groups = Annotated[
    Optional[list[str]],
    typer.Option("--groups", help="Only these groups of the experiment (`--groups main ablation`)."),
]
OptionalPaper = Annotated[
    Optional[str],
    typer.Option("--paper", help="Paper id: cgmvae, mulsupcon (see mlbench.papers); or use --experiment."),
]


def _paper_or_experiment(paper, experiment) -> None:
    if (paper is None) == (experiment is None):
        raise MlbenchError(
            "give --paper ID (the paper's tables) or --experiment FILE.toml (or a paper "
            "id, for its shipped experiment), not both and not neither."
        )


@app.command()
def reproduce(
    paper: OptionalPaper = None,
    experiment: Experiment = None,
    groups: Groups = None,
    table: Annotated[
        Optional[list[str]],
        typer.Option("--table", help="Only this table (repeatable); default: all tables of the paper."),
    ] = None,
    seeds: Annotated[
        Optional[list[int]],
        typer.Option("--seeds", help="Seeds (`--seeds 0 1 2`); default 0 1 2, or an experiment's own."),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="Smoke run: 3 epochs for every *epochs parameter of neural methods (a separate variant)."
        ),
    ] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Runs in parallel worker processes on this machine.")] = 1,
    backend: Annotated[
        str,
        typer.Option(
            "--backend", help="local | ray (Ray tasks on the cluster at RAY_ADDRESS; pip install mlbench\\[ray])."
        ),
    ] = "local",
    ray_address: Annotated[
        Optional[str],
        typer.Option("--ray-address", help="Ray cluster address (env RAY_ADDRESS; default: start a local Ray)."),
    ] = None,
    ray_gpus: Annotated[float, typer.Option("--ray-gpus", help="GPUs each Ray task reserves.")] = 0.0,
    split_strategy: Annotated[
        Optional[str],
        typer.Option(
            "--split-strategy",
            help="iterative | random | official | kfold (with --folds K); default iterative (--paper only).",
        ),
    ] = None,
    folds: Annotated[
        Optional[int],
        typer.Option(
            "--folds", help="With --split-strategy kfold: K-fold cross-validation, one run per fold and seed."
        ),
    ] = None,
    datasets: Datasets = None,
    methods: Methods = None,
    data_efficiency: Annotated[
        bool,
        typer.Option("--data-efficiency", help="Also the runs of C-GMVAE Fig. 2 (10/50/100% of the training data)."),
    ] = False,
    metric: Annotated[
        Optional[list[str]],
        typer.Option("--metric", help="Render only these metrics' tables afterwards (`--metric ex-f1 ma-f1`)."),
    ] = None,
    protocol: Protocol = "fixed",
    fmt: OutputFormat = "rich",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; train nothing.")] = False,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda.")] = "auto",
    runs_dir: RunsDir = None,
    data_dir: DataDir = None,
    mirror: Mirror = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    threads_per_job: Annotated[
        Optional[int],
        typer.Option(
            "--threads-per-job", help="torch/OpenMP threads per run (default: the cores shared out among --jobs)."
        ),
    ] = None,
) -> None:
    """Train what a paper's tables (--paper) or an experiment file (--experiment) needs and the store lacks (rerun to resume)."""
    from mlbench.papers import plan as planning
    from mlbench.results.tables import RECORD_FORMATS
    from mlbench.runs import execute as orc
    from mlbench.runs.spec import check_seed

    _paper_or_experiment(paper, experiment)
    check_protocol(protocol)
    fmt = check_format(fmt)  # before hours of training, not after
    seeds = [check_seed(s) for s in seeds] if seeds else None
    if backend == "local" and not dry_run:  # a missing GPU is one error now, not one per run later
        from mlbench.methods.neural import resolve_device

        device = resolve_device(device)
    if experiment is not None:
        # An experiment file sets its tables' split and cells; these options would be ignored.
        given = {
            "--table": table,
            "--split-strategy": split_strategy,
            "--folds": folds,
            "--data-efficiency": data_efficiency or None,
        }
        ignored = [name for name, value in given.items() if value is not None]
        if ignored:
            raise MlbenchError(
                f"{', '.join(ignored)}: only with --paper; an experiment file sets its groups' "
                "splits and runs (docs/experiments.md); select with --groups, --datasets, --methods, --seeds."
            )
        _reproduce_experiment(
            experiment,
            groups,
            quick,
            dry_run,
            runs_dir,
            data_dir,
            mirror,
            device,
            jobs,
            backend,
            ray_address,
            ray_gpus,
            quiet,
            threads_per_job,
            datasets,
            methods,
            seeds,
        )
        return
    seeds = seeds or [0, 1, 2]
    split_strategy = split_strategy or "iterative"
    plan = planning.plan_reproduction(
        paper,
        tables=table,
        seeds=seeds,
        quick=quick,
        strategy=split_strategy,
        data_dir=data_dir,
        datasets=datasets,
        methods=methods,
        data_efficiency=data_efficiency,
        folds=folds,
    )
    if split_strategy == "kfold":  # tables average the folds of this K
        split_strategy = f"kfold{folds}"
    todo = orc.pending_runs(plan.specs, runs_dir)
    # csv/json: the records alone on stdout; the plan and the per-run lines go to stderr
    with contextlib.redirect_stdout(sys.stderr) if fmt in RECORD_FORMATS else contextlib.nullcontext():
        _print_plan(plan, todo, dry_run)
        if dry_run:
            return
        results = []
        if todo:
            results = _run_plan(
                todo, runs_dir, data_dir, mirror, device, jobs, backend, ray_address, ray_gpus, quiet, threads_per_job
            )
    store = read_runs_store(runs_dir)
    if metric:
        shown = [pair for m in dict.fromkeys(metric) for pair in planning.tables_to_render(plan, store, m)]
        shown.sort(key=lambda pair: plan.tables.index(pair[0]))  # in the paper's order; stable: metrics as given
    else:
        shown = planning.tables_to_render(plan, store)
    print_paper_tables(store, paper, shown, protocol, fmt, split_strategy, data_dir)
    _exit_on_failures(results)


def _exit_on_failures(results) -> None:
    failed = [r for r in results if r.status == "failed"]
    if failed:
        err_console.print(f"[bold red]{len(failed)} run(s) failed:[/]", highlight=False)
        for r in failed:
            err_console.print(f"  {r.run_id}: {r.error}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def _experiment_path(experiment: str) -> Path:
    from mlbench.papers.experiment import shipped_experiment

    path = Path(experiment)
    if path.suffix == ".toml" or path.exists():
        return path
    return shipped_experiment(experiment)


def _fetch_official_datasets(groups, data_dir, mirror) -> None:
    from mlbench.data.cache import resolve_data_dir
    from mlbench.data.fetch import fetch_dataset
    from mlbench.papers.plan import dataset_reason

    names = dict.fromkeys(d for g in groups if g.split.strategy == "official" for d in g.datasets)
    for name in names:
        if dataset_reason(name, data_dir=data_dir) is None:
            try:
                fetch_dataset(name, resolve_data_dir(data_dir), mirror=mirror)
            except MlbenchError as exc:  # reported as a blocked cell by the planner
                err_console.print(f"[yellow]warning:[/] {exc}", highlight=False, soft_wrap=True)


def _reproduce_experiment(
    experiment,
    groups,
    quick,
    dry_run,
    runs_dir,
    data_dir,
    mirror,
    device,
    jobs,
    backend,
    ray_address,
    ray_gpus,
    quiet,
    threads_per_job,
    datasets=None,
    methods=None,
    seeds=None,
) -> None:
    from mlbench.papers.experiment import load_experiment, plan_experiment
    from mlbench.runs import execute as orc

    exp = load_experiment(_experiment_path(experiment))
    if not dry_run:  # an official split's ratios come from the dataset's sizes: fetch it first
        _fetch_official_datasets(exp.select(groups), data_dir, mirror)
    plan = plan_experiment(exp, groups, quick=quick, data_dir=data_dir, datasets=datasets, methods=methods, seeds=seeds)
    specs = plan.specs
    todo = orc.pending_runs(specs, runs_dir)
    console.print(
        f"[bold]{exp.name}[/] groups {', '.join(g.name for g in plan.groups)}: "
        f"{len(specs)} runs needed, {len(specs) - len(todo)} already in the store, "
        f"{len(todo)} to run{' (smoke runs: --quick)' if quick else ''}.",
        highlight=False,
    )
    if plan.blocked:
        reasons = Counter(f"{dataset}: {reason}" for _, dataset, reason in plan.blocked)
        console.print(
            "[dim]cells mlbench cannot run here: " + "; ".join(f"{n} × {why}" for why, n in reasons.items()) + "[/]",
            highlight=False,
        )
    if dry_run:
        from mlbench.results.experiment_report import fit_time_estimate

        known, counts = 0.0, Counter()
        for spec, force in todo:
            estimate = fit_time_estimate(spec, runs_dir)
            if estimate is None:
                text, kind = "unknown", "unknown"
            else:
                known += estimate[0]
                text, kind = f"~{estimate[0]:.0f} s CPU", "same"
                if estimate[1] is not None:
                    text, kind = f"{text} (from {estimate[1]}, scaled by epochs)", "scaled"
            counts[kind] += 1
            console.print(
                f"  {spec.run_id()}  [dim]{text}{' (redo: missing from the store)' if force else ''}[/]",
                highlight=False,
                soft_wrap=True,
            )
        scaled = (
            f", {counts['scaled']} of them from other settings of the same method and dataset"
            if counts["scaled"]
            else ""
        )
        console.print(
            f"estimated: {known / 60:.0f} min of fit time for {counts['same'] + counts['scaled']} "
            f"run(s) (from the recorded fit times in the store{scaled}); {counts['unknown']} unknown.",
            highlight=False,
        )
        return
    results = []
    if todo:
        results = _run_plan(
            todo, runs_dir, data_dir, mirror, device, jobs, backend, ray_address, ray_gpus, quiet, threads_per_job
        )
    _exit_on_failures(results)


def _print_plan(plan, todo, dry_run: bool) -> None:
    done = len(plan.specs) - len(todo)
    console.print(
        f"[bold]{plan.paper}[/] tables {', '.join(plan.tables)}: {len(plan.specs)} runs "
        f"needed, {done} already in the store, {len(todo)} to run.",
        highlight=False,
    )
    if plan.unmatched:
        err_console.print(
            f"[yellow]warning:[/] not in the selected tables, ignored: {', '.join(plan.unmatched)}", highlight=False
        )
    reasons = Counter(reason for _, reason in plan.blocked)
    if reasons:
        console.print(
            "[dim]cells mlbench cannot run here: "
            + ", ".join(f"{n} × {reason}" for reason, n in reasons.most_common())
            + "[/]",
            highlight=False,
        )
    if dry_run:
        for spec, force in todo:
            console.print(f"  {spec.run_id()}{' (redo: missing from the store)' if force else ''}", highlight=False)


def _run_plan(
    todo, runs_dir, data_dir, mirror, device, jobs, backend, ray_address, ray_gpus, quiet, threads_per_job=None
):
    from mlbench.runs import execute as orc

    if backend == "local":
        failed_data = orc.prepare_data(
            [s for s, _ in todo], data_dir, mirror, notify=lambda m: err_console.print(f"[yellow]warning:[/] {m}")
        )
    else:  # the driver still prepares the data it ships to the workers
        failed_data = orc.prepare_data([s for s, _ in todo], data_dir, mirror)
    results = [
        orc.RunResult(s.run_id(), "failed", error=f"data not prepared: {failed_data[s.dataset]}")
        for s, _ in todo
        if s.dataset in failed_data
    ]
    todo = [(s, f) for s, f in todo if s.dataset not in failed_data]

    from mlbench.cli.progress import RunReporter, bars_wanted

    # Bars on a terminal: the run's epochs in this process, the command's runs with workers.
    reporter = RunReporter(
        [s for s, _ in todo], jobs if backend == "local" else len(todo), runs_dir, bars=bars_wanted(quiet)
    )
    try:
        with reporter.runs_bar() if jobs > 1 or backend != "local" else contextlib.nullcontext():
            results += orc.execute(
                todo,
                runs_dir=runs_dir,
                data_dir=data_dir,
                device=device,
                jobs=jobs,
                backend=backend,
                ray_address=ray_address,
                ray_gpus=ray_gpus,
                on_result=reporter.on_result,
                progress=bars_wanted(quiet) and jobs == 1,
                threads_per_job=threads_per_job,
                describe=reporter.progress.bar_label,
            )
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted:[/] finished runs are kept; rerun the same command to resume the rest.")
        raise typer.Exit(130) from None
    return results


# -- report ----------------------------------------------------------------------------------------


@app.command()
def report(
    paper: OptionalPaper = None,
    experiment: Experiment = None,
    groups: Groups = None,
    out: Annotated[
        Path, typer.Option("--out", help="Directory for report.md and plots/ (--experiment: for NAME.md).")
    ] = Path("report"),
    protocol: Protocol = "fixed",
    split_strategy: SplitStrategy = None,
    heatmap_run: Annotated[
        Optional[Path],
        typer.Option(
            "--heatmap-run",
            help="Run directory for the label-embedding heatmap (default: the first run that stored embeddings).",
        ),
    ] = None,
    runs_dir: RunsDir = None,
    data_dir: DataDir = None,
) -> None:
    """Write one markdown report: tables beside the paper's, statistics, plots, commands, versions."""
    _paper_or_experiment(paper, experiment)
    if experiment is not None:
        from mlbench.papers.experiment import load_experiment
        from mlbench.results.experiment_report import write_experiment_report

        path = write_experiment_report(
            load_experiment(_experiment_path(experiment)), out, groups=groups, runs_dir=runs_dir, data_dir=data_dir
        )
        console.print(f"[green]✓[/] wrote {path}", highlight=False)
        return
    from mlbench.results.report import write_report

    check_protocol(protocol)
    path = write_report(
        paper,
        out,
        runs_dir=runs_dir,
        data_dir=data_dir,
        protocol=protocol,
        split=split_strategy,
        heatmap_run=heatmap_run,
    )
    console.print(f"[green]✓[/] wrote {path}", highlight=False)


# -- check -----------------------------------------------------------------------------------------


@app.command()
def check(
    expected: Annotated[
        Path,
        typer.Argument(
            help="CSV or JSON of dataset, method, metric, value [, protocol, tolerance, variant, train_fraction]."
        ),
    ],
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Allowed shortfall where the file gives none.")
    ] = 0.01,
    protocol: Annotated[str, typer.Option("--protocol", help="Protocol of rows that name none.")] = "fixed",
    split_strategy: SplitStrategy = None,
    write: Annotated[
        bool,
        typer.Option("--write", help="Write the store's current means to EXPECTED (a baseline) instead of checking."),
    ] = False,
    runs_dir: RunsDir = None,
    as_json: JsonFlag = False,
) -> None:
    """Regression gate: compare the results store with expected values; exit 1 on a regression."""
    check_protocol(protocol)
    from mlbench.results.gate import check_records, read_expected, snapshot_expected

    store = read_runs_store(runs_dir)
    if write:
        from mlbench.io import atomic_write_text

        frame = snapshot_expected(store, protocol, split_strategy)
        text = (
            json.dumps(frame.to_dict("records"), indent=2) + "\n"
            if expected.suffix.lower() == ".json"
            else frame.to_csv(index=False)
        )
        try:
            atomic_write_text(expected, text)
        except OSError as exc:
            raise MlbenchError(
                f"cannot write {expected} ({exc.strerror or type(exc).__name__}); give a path in a writable directory."
            ) from None
        console.print(f"[green]✓[/] wrote {len(frame)} expected cells to {expected}", highlight=False)
        return
    records = check_records(store, read_expected(expected, protocol), tolerance, split_strategy)
    failures, checked = [r["message"] for r in records if r["status"] == "fail"], len(records)
    if as_json:  # every cell, pass or fail; the verdict lines below go to stderr
        print_json(records)
    for line in failures:
        err_console.print(f"[bold red]regression:[/] {line}", highlight=False, soft_wrap=True)
    if failures:
        raise typer.Exit(1)
    err_console.print(f"[green]✓[/] {checked} expected cell(s) within tolerance", highlight=False)


# -- stats -----------------------------------------------------------------------------------------


@app.command()
def stats(
    metric: Annotated[
        list[str],
        typer.Option(
            "--metric",
            help="Metric id(s), e.g. ex-f1 (`--metric ex-f1 ma-f1`: one test per metric, in that order).",
        ),
    ] = ["ex-f1"],
    methods: Methods = None,
    datasets: Datasets = None,
    protocol: Protocol = "fixed",
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    paired: Annotated[
        Optional[tuple[str, str]],
        typer.Option("--paired", help="Wilcoxon signed-rank test of two methods over (dataset, seed): `--paired A B`."),
    ] = None,
    cd_diagram: Annotated[
        Optional[Path],
        typer.Option(
            "--cd-diagram",
            help="Write the CD diagram to STEM.png and STEM.svg (several metrics: STEM-<metric>.png/.svg each).",
        ),
    ] = None,
    train_fraction: TrainFraction = 1.0,
    split_strategy: SplitStrategy = None,
    runs_dir: RunsDir = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Machine-readable output: one object per metric (several: a JSON list).")
    ] = False,
) -> None:
    """Friedman test over datasets with Nemenyi post-hoc (and CD diagram), or a paired test; one per metric."""
    from mlbench.metrics import get_metric

    check_protocol(protocol)
    specs = list({spec.id: spec for spec in map(get_metric, metric)}.values())  # aliases named twice: once
    store = read_runs_store(runs_dir)
    filters = dict(train_fraction=train_fraction, split=split_strategy)
    records = []
    for spec in specs:
        if paired:
            records.append(_paired_of(store, spec, paired, protocol, datasets, filters, as_json))
            continue
        stem = cd_diagram
        if cd_diagram is not None and len(specs) > 1:  # one diagram per metric, named after it
            stem = cd_diagram.with_name(f"{cd_diagram.name}-{_slug(spec.id)}")
        records.append(_friedman_of(store, spec, protocol, methods, datasets, alpha, stem, filters, as_json))
    if as_json:  # one metric: the object alone, as before several were accepted
        print_json(records[0] if len(records) == 1 else records)


def _paired_of(store, spec, paired, protocol, datasets, filters, as_json) -> dict:
    from mlbench.results import stats as st

    result = st.paired_test(store, spec.id, paired[0], paired[1], protocol, datasets=datasets, **filters)
    if not as_json:
        _show_paired(result, spec)
    return {**result.to_dict(), "metric": spec.id}


def _friedman_of(store, spec, protocol, methods, datasets, alpha, cd_stem, filters, as_json) -> dict:
    """Friedman (+ Nemenyi, + the CD diagram at ``cd_stem``) of one metric: shown unless
    ``as_json``; returned as the --json object."""
    from mlbench.results import stats as st

    matrix, dropped, left_out = st.performance_matrix(
        store, spec.id, protocol, methods=methods, datasets=datasets, **filters
    )
    result = st.friedman(matrix, spec.higher_is_better, alpha, nemenyi=False)
    try:
        result.critical_difference = st.critical_difference(result.n_methods, result.n_datasets, alpha)
        result.nemenyi_pvalues = st.nemenyi_pvalues(matrix)
    except MlbenchError as exc:  # scikit-posthocs missing: Friedman alone is still useful
        if cd_stem is not None:
            raise
        err_console.print(f"[yellow]note:[/] {exc}", highlight=False)
    if cd_stem is not None:
        from mlbench.results.plots import cd_diagram as draw
        from mlbench.results.tables import method_names

        paths = draw(
            matrix,
            cd_stem,
            higher_is_better=spec.higher_is_better,
            alpha=alpha,
            title=spec.id,
            names=method_names(store),
        )
    if not as_json:
        _show_friedman(matrix, result, spec, protocol, dropped, left_out)
        if cd_stem is not None:
            console.print("[green]✓[/] CD diagram: " + ", ".join(map(str, paths)), highlight=False)
    return {
        **result.to_dict(),
        "metric": spec.id,
        "protocol": protocol,
        "dropped_datasets": dropped,
        "dropped_methods": left_out,
    }


def _show_friedman(matrix, result, spec, protocol, dropped, left_out) -> None:
    table = Table(
        title=f"{spec.display_name} ({spec.id}), protocol '{protocol}': mean over seeds",
        caption=f"Friedman χ² = {result.statistic:.3f}, p = {result.pvalue:.4g} over "
        f"{result.n_datasets} datasets, {result.n_methods} methods"
        + (
            f"; Nemenyi CD = {result.critical_difference:.3f} at α = {result.alpha:g}"
            if result.critical_difference is not None
            else ""
        )
        + (f"; datasets left out (not every method ran): {', '.join(dropped)}" if dropped else "")
        + (f"; methods left out (too few datasets): {', '.join(left_out)}" if left_out else ""),
        caption_justify="left",
    )
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
            pv.add_row(
                a,
                *[
                    ("[bold]" if result.nemenyi_pvalues.loc[a, b] < result.alpha and a != b else "")
                    + f"{result.nemenyi_pvalues.loc[a, b]:.3f}"
                    for b in order
                ],
            )
        console.print(pv)


def _show_paired(result, spec) -> None:
    better = "higher" if spec.higher_is_better else "lower"
    console.print(
        f"{result.method_a} vs {result.method_b} on {spec.display_name} ({spec.id}, {better} is "
        f"better) over {result.n_pairs} (dataset, seed) pairs: mean difference "
        f"{result.mean_difference:+.4f}; {result.method_a} better {result.wins}, ties {result.ties}, "
        f"worse {result.losses}; Wilcoxon signed-rank W = {result.statistic:g}, "
        f"p = {result.pvalue:.4g} (two-sided).",
        highlight=False,
    )


# -- plot ------------------------------------------------------------------------------------------

plot_app = typer.Typer(
    help="Figures (PNG and SVG): grouped bars, data efficiency, label heatmap, CD diagram.", no_args_is_help=True
)
app.add_typer(plot_app, name="plot")
# --out is a directory everywhere (as for `report`); each figure's file names say what it is.
Out = Annotated[
    Path, typer.Option("--out", help="Output directory (made if missing): writes NAME.png and NAME.svg in it.")
]


def _out_dir(out: Path) -> Path:
    if out.suffix.lower() in (".png", ".svg", ".pdf") or out.is_file():
        raise MlbenchError(
            f"--out {out} is a file name; --out is a directory (e.g. --out "
            f"{out.parent / 'plots'}), the figures are named after what they show."
        )
    return out


def _slug(metric: str) -> str:
    return metric.replace("@", "at")


def _done(paths) -> None:
    console.print("[green]✓[/] " + ", ".join(map(str, paths)), highlight=False)


@plot_app.command("bars")
def plot_bars(
    metrics: Annotated[
        list[str], typer.Option("--metrics", help="Metric id(s): one figure per metric (`--metrics ex-f1 ma-f1`).")
    ] = ["ex-f1"],
    out: Out = Path("plots"),
    methods: Methods = None,
    datasets: Datasets = None,
    protocol: Protocol = "fixed",
    train_fraction: TrainFraction = 1.0,
    split_strategy: SplitStrategy = None,
    runs_dir: RunsDir = None,
) -> None:
    """Mean ± std over seeds per dataset, one bar per method (OUT/bars-<metric>.png/.svg)."""
    from mlbench.results.plots import grouped_bars

    check_protocol(protocol)
    out = _out_dir(out)
    store = read_runs_store(runs_dir)
    for metric in metrics:
        _done(
            grouped_bars(
                store,
                metric,
                out / f"bars-{_slug(metric)}",
                protocol,
                methods=methods,
                datasets=datasets,
                train_fraction=train_fraction,
                split=split_strategy,
            )
        )


@plot_app.command("data-efficiency")
def plot_data_efficiency(
    metric: Annotated[
        list[str], typer.Option("--metric", help="Metric id(s): one figure per metric (`--metric ma-f1 mi-f1`).")
    ] = ["ma-f1"],
    baseline: Annotated[str, typer.Option("--baseline", help="Method the improvements are relative to.")] = "c2ae",
    out: Out = Path("plots"),
    methods: Methods = None,
    datasets: Datasets = None,
    protocol: Protocol = "fixed",
    split_strategy: SplitStrategy = None,
    runs_dir: RunsDir = None,
) -> None:
    """C-GMVAE Fig. 2: relative improvement over the baseline at 10/50/100% training data
    (OUT/data-efficiency-<metric>.png/.svg)."""
    from mlbench.results.plots import data_efficiency

    check_protocol(protocol)
    out = _out_dir(out)
    store = read_runs_store(runs_dir)
    for m in dict.fromkeys(metric):
        _done(
            data_efficiency(
                store,
                out / f"data-efficiency-{_slug(m)}",
                m,
                protocol,
                baseline=baseline,
                methods=methods,
                datasets=datasets,
                split=split_strategy,
            )
        )


@plot_app.command("heatmap")
def plot_heatmap(
    run_dir: Annotated[Path, typer.Argument(help="A finished run that stored label embeddings (e.g. cgmvae).")],
    out: Out = Path("plots"),
    labels: Annotated[
        Optional[list[str]], typer.Option("--label", help="Only these labels (repeatable; names or indices).")
    ] = None,
    max_labels: Annotated[
        int, typer.Option("--max-labels", help="Without --label, keep the labels with the strongest interactions.")
    ] = 30,
    order: Annotated[str, typer.Option("--order", help="cluster (group similar labels) | given.")] = "cluster",
    data_dir: DataDir = None,
) -> None:
    """C-GMVAE Fig. 3: label-label embedding inner products of one run, diagonal removed
    (OUT/label-heatmap.png/.svg)."""
    from mlbench.results.plots import label_heatmap

    _done(
        label_heatmap(
            run_dir,
            _out_dir(out) / "label-heatmap",
            labels=labels,
            max_labels=max_labels,
            order=order,
            data_dir=data_dir,
        )
    )


@plot_app.command("cd")
def plot_cd(
    metric: Annotated[
        list[str], typer.Option("--metric", help="Metric id(s): one diagram per metric (`--metric ex-f1 ma-f1`).")
    ] = ["ex-f1"],
    out: Out = Path("plots"),
    methods: Methods = None,
    datasets: Datasets = None,
    protocol: Protocol = "fixed",
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    train_fraction: TrainFraction = 1.0,
    split_strategy: SplitStrategy = None,
    runs_dir: RunsDir = None,
) -> None:
    """Nemenyi critical-difference diagram over datasets, OUT/cd-<metric>.png/.svg (needs mlbench\\[stats])."""
    from mlbench.metrics import get_metric
    from mlbench.results.plots import cd_diagram
    from mlbench.results.stats import performance_matrix
    from mlbench.results.tables import method_names

    check_protocol(protocol)
    specs = list({spec.id: spec for spec in map(get_metric, metric)}.values())
    out = _out_dir(out)
    store = read_runs_store(runs_dir)
    for spec in specs:
        matrix, _, _ = performance_matrix(
            store,
            spec.id,
            protocol,
            methods=methods,
            datasets=datasets,
            train_fraction=train_fraction,
            split=split_strategy,
        )
        _done(
            cd_diagram(
                matrix,
                out / f"cd-{_slug(spec.id)}",
                higher_is_better=spec.higher_is_better,
                alpha=alpha,
                title=spec.id,
                names=method_names(store),
            )
        )
