"""Commands of the pipeline itself: datasets, fetch, split, methods, train, eval, table."""

from __future__ import annotations

import sys
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

ZeroDivision = Annotated[
    float,
    typer.Option(
        "--zero-division",
        help="Score of a sample or label with no true and no predicted positive (0/0) in ex-f1, ma-f1, mi-f1, jaccard, ex-precision, ex-recall: 0 (scikit-learn's default) or 1. The official-code (paper) definitions keep their own.",
    ),
]

# -- datasets ------------------------------------------------------------------------------------


@app.command()
def datasets(data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """List every registered dataset, its shape and whether it is cached."""
    from mlbench.data.cache import read_meta, resolve_data_dir
    from mlbench.data.fetch import embedded_datasets
    from mlbench.data.registry import DATASETS

    root = resolve_data_dir(data_dir)
    embedded = set(embedded_datasets())
    records = []
    for spec in DATASETS.values():
        meta = read_meta(root, spec.name)
        source = meta["source"] if meta else "/".join(s.name for s in spec.sources)
        records.append(_dataset_record(spec, meta, source, embedded=spec.name in embedded))
    from mlbench.data.user_registry import user_specs

    for spec in user_specs(root).values():  # datasets of your own (user-datasets.json)
        source = "local" if spec.origin == "local" else "/".join(s.name for s in spec.sources)
        records.append(_dataset_record(spec, read_meta(root, spec.name), source, embedded=False))
    if as_json:
        print_json(records)
        return
    table = Table(title=f"Datasets (cache: {root})")
    for column in ("name", "domain", "samples", "features", "labels", "card.", "source", "cached"):
        table.add_column(column, justify="right" if column in ("samples", "features", "labels", "card.") else "left")
    for r in records:
        cached = "[green]yes[/]" if r["cached"] else ("embedded" if r["embedded"] else "-")
        table.add_row(
            r["name"],
            r["domain"],
            _fmt(r["n_samples"]),
            _fmt(r["n_features"]),
            _fmt(r["n_labels"]),
            _fmt(r["cardinality"]),
            r["source"],
            cached,
        )
    console.print(table)


def _dataset_record(spec, meta: dict | None, source: str, embedded: bool) -> dict:
    """One row of ``mlbench datasets``: the cached dataset's own figures where it is cached,
    else the registry's."""
    return {
        "name": spec.name,
        "domain": spec.domain,
        "n_samples": meta["n_samples"] if meta else spec.n_samples,
        "n_features": meta["n_features"] if meta else spec.n_features,
        "n_labels": meta["n_labels"] if meta else spec.n_labels,
        "cardinality": round(meta["cardinality"], 3) if meta else spec.cardinality,
        "source": source,
        "cached": meta is not None,
        "embedded": embedded,
    }


def _fmt(value) -> str:
    return "?" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


# -- fetch ---------------------------------------------------------------------------------------


@app.command()
def fetch(
    names: Annotated[Optional[list[str]], typer.Argument(help="Datasets to fetch.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Fetch every downloadable dataset.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Download and parse again.")] = False,
    source: Annotated[Optional[str], typer.Option("--source", help="Use only this source (e.g. mulan, meka).")] = None,
    from_dir: Annotated[
        Optional[Path],
        typer.Option(
            "--from",
            help="Import local files: an MPVAE/C-GMVAE bundle of a registered dataset, or a dataset of your own under a new NAME.",
        ),
    ] = None,
    fmt: Annotated[
        Optional[str],
        typer.Option(
            "--input-format", help="Format of --from: mulan | meka | libsvm | npz | bundle (default: detected)."
        ),
    ] = None,
    n_features: Annotated[
        Optional[int], typer.Option("--n-features", help="Feature count of headerless libsvm files (or of a bundle).")
    ] = None,
    n_labels: Annotated[
        Optional[int], typer.Option("--n-labels", help="Label count of headerless libsvm files or of a bundle.")
    ] = None,
    registry: Annotated[
        Optional[Path],
        typer.Option("--registry", help="A shared user registry JSON file listing the datasets named (URL + sha256)."),
    ] = None,
    data_dir: DataDir = None,
    mirror: Mirror = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="Re-hash the cached copy, its raw files and splits in full.")
    ] = False,
) -> None:
    """Download, verify (sha256), parse and cache datasets; import your own with --from."""
    from mlbench.data.fetch import fetch_dataset
    from mlbench.data.registry import DATASETS
    from mlbench.data.user_registry import get_dataset

    if all_:
        names = [n for n, spec in DATASETS.items() if not spec.is_bundle]
    if not names:
        raise MlbenchError("name at least one dataset (see `mlbench datasets`) or pass --all.")
    if from_dir is not None and len(names) > 1:
        raise MlbenchError("--from imports one dataset; name only one (`mlbench fetch NAME --from PATH`).")
    if from_dir is None and registry is None:  # fail on a typo before downloading anything
        names = [get_dataset(name, data_dir).name for name in names]
    for name in names:
        dataset = fetch_dataset(
            name,
            data_dir,
            mirror=mirror,
            force=force,
            source=source,
            from_dir=from_dir,
            progress=not quiet and sys.stderr.isatty(),
            notify=lambda message: err_console.print(f"[yellow]warning:[/] {message}"),
            fmt=fmt,
            n_features=n_features,
            n_labels=n_labels,
            registry=registry,
            verify=verify,
        )
        if verify:
            from mlbench.data.cache import resolve_data_dir
            from mlbench.verify import Report, verify_dataset

            report = Report()
            verify_dataset(resolve_data_dir(data_dir), dataset.name, report)
            if report.problems:
                raise MlbenchError(report.problems[0])
        console.print(
            f"[green]✓[/] {dataset.name}: {dataset.n_samples} samples, {dataset.n_features} "
            f"features, {dataset.n_labels} labels (cardinality {dataset.cardinality:.2f}), "
            f"source {dataset.meta.get('source')}"
        )


# -- split ---------------------------------------------------------------------------------------


@app.command()
def split(
    name: Annotated[str, typer.Argument(help="Dataset.")],
    seeds: Annotated[list[int], typer.Option("--seeds", help="Seeds (`--seeds 0 1 2`).")] = [0],
    strategy: Annotated[
        Optional[str], typer.Option("--split-strategy", help="iterative | random | official | kfold (with --folds K).")
    ] = None,
    folds: Annotated[
        Optional[int], typer.Option("--folds", help="K-fold cross-validation: make all K iteratively stratified folds.")
    ] = None,
    ratios: Annotated[
        list[float], typer.Option("--ratios", help="Train val test fractions (K-fold: only val is used).")
    ] = [0.8, 0.1, 0.1],
    force: Annotated[bool, typer.Option("--force", help="Recompute saved splits.")] = False,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """Make seeded train/val/test splits (or K-fold splits) and save their indices."""
    from mlbench.data import load_dataset
    from mlbench.data.cache import resolve_data_dir
    from mlbench.data.splits import expand_strategy, get_split

    strategies = expand_strategy(strategy, folds)
    from mlbench.runs.spec import check_seed

    for seed in seeds:
        check_seed(seed)
    dataset = load_dataset(name, data_dir)
    results = []
    for seed in seeds:
        for strategy in strategies:
            s = get_split(resolve_data_dir(data_dir), dataset, strategy, seed, tuple(ratios), force=force)
            results.append({"dataset": dataset.name, "strategy": strategy, "seed": seed, "split_id": s.id, **s.summary})
    if as_json:
        print_json(results)
        return
    for result in results:
        table = Table(
            title=f"{dataset.name} · {result['strategy']} · seed {result['seed']} · split {result['split_id']}"
        )
        for column in ("part", "size", "cardinality", "labels with no positive example"):
            table.add_column(column)
        for part in ("train", "val", "test"):
            info = result[part]
            missing = info["labels_without_positives"]
            shown = ", ".join(missing[:6]) + (f" (+{len(missing) - 6} more)" if len(missing) > 6 else "")
            table.add_row(part, str(info["size"]), f"{info['cardinality']:.3f}", shown or "-")
        console.print(table)


# -- methods -------------------------------------------------------------------------------------


MethodIds = Annotated[
    Optional[list[str]], typer.Argument(help="Show these methods in detail (`mlbench methods cgmvae`).")
]


@app.command()
def methods(ids: MethodIds = None, methods: Methods = None, as_json: JsonFlag = False) -> None:
    """List the registered methods and their hyperparameters; name methods to see one in detail."""
    from mlbench.methods import get_method_class, method_ids
    from mlbench.methods.base import all_param_ranges
    from mlbench.methods.plugins import method_source

    chosen = [*(ids or []), *(methods or [])]
    records = []
    for method_id in chosen or method_ids():
        cls = get_method_class(method_id)  # unknown id: one line with the close matches
        source = method_source(cls)
        records.append(
            {
                "id": method_id,
                "name": cls.display_name,
                "neural": cls.is_neural,
                "params": {**cls.params, **cls.fixed_params},
                "fixed_params": dict(cls.fixed_params),
                "param_ranges": all_param_ranges(cls),
                "datasets_with_paper_settings": sorted(cls.dataset_params),
                "dataset_params": {d: dict(p) for d, p in sorted(cls.dataset_params.items())},
                "citation": cls.citation,
                "summary": _first_paragraph(cls.__doc__),
                "source": "mlbench"
                if source is None
                else f"{source.get('package') or source['module']} {source.get('version') or ''}".strip(),
            }
        )
    if as_json:
        print_json(records)
        return
    if chosen:
        for r in records:
            console.print(_method_detail(r))
        return
    shared = _shared_neural_params(records)
    caption = (
        "Every neural method also takes "
        + ", ".join(f"{k}={v}" for k, v in shared.items())
        + " (a row shows its own default where it differs)."
        if shared
        else None
    )
    table = Table(title="Methods (`mlbench methods ID` for one in full)", caption=caption)
    for column in ("id", "name", "kind", "source", "hyperparameters (defaults)"):
        table.add_column(column)
    for r in records:
        own = {k: v for k, v in r["params"].items() if not (r["neural"] and k in shared and repr(shared[k]) == repr(v))}
        params = ", ".join(f"{k}={v}" for k, v in own.items())
        table.add_row(r["id"], r["name"], "neural" if r["neural"] else "classic", r["source"], params)
    console.print(table)


def _shared_neural_params(records: list[dict]) -> dict:
    """The parameters every listed neural method has (the training loop's), each with its most
    common default: the overview states them once instead of in every neural row."""
    from collections import Counter

    neural = [r["params"] for r in records if r["neural"]]
    if len(neural) < 2:
        return {}
    keys = [k for k in neural[0] if all(k in p for p in neural[1:])]
    common = {k: Counter(repr(p[k]) for p in neural).most_common(1)[0][0] for k in keys}
    return {k: next(p[k] for p in neural if repr(p[k]) == common[k]) for k in keys}


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def _method_detail(record: dict) -> Table:
    """One method's parameters: default, allowed values, the papers' per-dataset settings."""
    kind = "neural" if record["neural"] else "classic"
    caption = " · ".join(x for x in (record["summary"], record["citation"]) if x)
    table = Table(title=f"{record['id']}: {record['name']} ({kind}, {record['source']})", caption=caption)
    for column in ("parameter", "default", "allowed", "paper settings per dataset"):
        table.add_column(column)
    for name, default in record["params"].items():
        per_dataset = ", ".join(f"{d}: {p[name]}" for d, p in record["dataset_params"].items() if name in p)
        allowed = "fixed by this variant" if name in record["fixed_params"] else record["param_ranges"].get(name, "")
        table.add_row(name, str(default), allowed, per_dataset)
    return table


# -- train ---------------------------------------------------------------------------------------


def parse_sets(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise MlbenchError(f"--set expects key=value, got {item!r}.")
        out[key.strip()] = value.strip()
    return out


# The keys of a --config file, with the types their values may have.
CONFIG_KEYS = {
    "method": (str, list),
    "dataset": (str, list),
    "seeds": (int, list),
    "seed": (int, list),
    "split_strategy": str,
    "device": str,
    "params": dict,
    "folds": int,
    "fold": (int, list),
}


def load_config_file(path: Path) -> dict:
    import tomllib

    from mlbench.errors import suggest

    try:
        with open(path, "rb") as handle:
            cfg = tomllib.load(handle)
    except FileNotFoundError:
        raise MlbenchError(f"config file {path} not found.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MlbenchError(f"config file {path} is not valid TOML: {exc}.") from None
    except OSError as exc:
        raise MlbenchError(f"cannot read config file {path} ({exc.strerror}).") from None
    for key, value in cfg.items():  # a typo would otherwise be ignored silently
        if key not in CONFIG_KEYS:
            raise MlbenchError(f"config file {path}: " + suggest(key, CONFIG_KEYS, "key"))
        kinds = CONFIG_KEYS[key] if isinstance(CONFIG_KEYS[key], tuple) else (CONFIG_KEYS[key],)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise MlbenchError(
                f"config file {path}: {key} must be a {' or '.join(k.__name__ for k in kinds)}, got {value!r}."
            )
    return cfg


@app.command()
def train(
    method: Annotated[
        Optional[list[str]], typer.Option("--method", "-m", help="Method id(s) (see `mlbench methods`).")
    ] = None,
    dataset: Annotated[Optional[list[str]], typer.Option("--dataset", "-d", help="Dataset(s).")] = None,
    seed: Annotated[Optional[list[int]], typer.Option("--seed", help="Seed(s): `--seed 0 1 2`.")] = None,
    split_strategy: Annotated[
        Optional[str],
        typer.Option(
            "--split-strategy", help="iterative | random | official | kfold (with --folds K) | kfold<K>-fold<k>."
        ),
    ] = None,
    folds: Annotated[
        Optional[int],
        typer.Option(
            "--folds", help="K-fold cross-validation: one run per fold (with --split-strategy kfold, the default then)."
        ),
    ] = None,
    fold: Annotated[
        Optional[list[int]], typer.Option("--fold", help="Only these folds of --folds K (`--fold 0 1`).")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda.")] = "auto",
    config: Annotated[
        Optional[Path],
        typer.Option(
            "--config", help="TOML file: method, dataset, seeds, split_strategy, folds, fold, device, [params]."
        ),
    ] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Hyperparameter key=value (repeatable).")] = None,
    train_fraction: Annotated[
        float, typer.Option("--train-fraction", help="Train on this seeded fraction of the training part.")
    ] = 1.0,
    force: Annotated[bool, typer.Option("--force", help="Redo runs that already exist.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue interrupted runs from their checkpoint.")] = False,
    runs_dir: RunsDir = None,
    data_dir: DataDir = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    zero_division: ZeroDivision = 0.0,
    jobs: Annotated[
        Optional[int],
        typer.Option(
            "--jobs",
            "-j",
            help="Runs at a time, in worker processes (default: the usable cores, capped by the runs, when a neural or slow run is among them, or one per neural run where they would not share out evenly among the cores; 1: one after the other in this process).",
        ),
    ] = None,
) -> None:
    """Train methods on datasets (one run per method x dataset x seed) and store the results."""
    from mlbench.cli.training import start_workers_early
    from mlbench.metrics import check_zero_division

    zero_division = check_zero_division(zero_division)
    cfg = load_config_file(config) if config else {}
    methods_ = method or _as_list(cfg.get("method"))
    datasets_ = dataset or _as_list(cfg.get("dataset"))
    seeds = seed or _as_list(cfg.get("seeds", cfg.get("seed"))) or [0]
    # Before this process imports torch (resolve_device), so the workers' imports run beside its.
    start_workers_early(
        set(methods_), len(methods_) * max(1, len(datasets_)) * len(seeds), jobs, cfg.get("device", device)
    )
    from mlbench.data.splits import expand_strategy
    from mlbench.methods.neural import resolve_device
    from mlbench.runs.runner import RunSpec

    strategies = expand_strategy(
        split_strategy or cfg.get("split_strategy"), folds or cfg.get("folds"), fold or _as_list(cfg.get("fold"))
    )
    device = resolve_device(cfg.get("device", device) if device == "auto" else device)
    if not methods_:
        raise MlbenchError("give --method (or a --config file naming it); see `mlbench methods`.")
    if not datasets_:  # as `table` shows every dataset in the store: every one already fetched
        datasets_ = _fetched_datasets(data_dir)
        if not datasets_:
            raise MlbenchError("no dataset is fetched yet; give --dataset or run `mlbench fetch yeast` first.")
        err_console.print(f"no --dataset: training on every fetched dataset ({', '.join(datasets_)})", highlight=False)
    overrides = {**cfg.get("params", {}), **parse_sets(set_ or [])}
    from mlbench.data import get_dataset
    from mlbench.methods import get_method_class, resolve_params
    from mlbench.runs.runner import check_runs_dir, check_seed, resolve_runs_dir

    seeds = [check_seed(s) for s in seeds]
    check_runs_dir(resolve_runs_dir(runs_dir))
    # package.module:Class / ./file.py:Class -> the loaded class's id (file paths reduced)
    methods_ = [get_method_class(m).id for m in methods_]
    per_method = overrides_per_method(methods_, overrides)
    for m in methods_:  # validate everything before the first (possibly long) run
        for d in datasets_:
            resolve_params(m, get_dataset(d, data_dir).name, per_method[m])
    specs = [
        RunSpec(
            m,
            get_dataset(d, data_dir).name,
            int(s),
            strategy,
            tuple(sorted(_typed_overrides(m, per_method[m]).items())),
            train_fraction,
        )
        for d in datasets_
        for m in methods_
        for s in seeds
        for strategy in strategies
    ]
    from mlbench.cli.training import train_specs

    train_specs(
        specs,
        references=[m for m in (method or _as_list(cfg.get("method"))) if ":" in m],
        jobs=jobs,
        runs_dir=runs_dir,
        data_dir=data_dir,
        device=device,
        force=force,
        resume=resume,
        quiet=quiet,
        zero_division=zero_division,
    )


def _fetched_datasets(data_dir) -> list[str]:
    from mlbench.data.cache import is_cached, resolve_data_dir
    from mlbench.data.registry import DATASETS
    from mlbench.data.user_registry import user_specs

    root = resolve_data_dir(data_dir)
    return [name for name in [*DATASETS, *user_specs(root)] if is_cached(root, name)]


def overrides_per_method(methods: list[str], overrides: dict) -> dict[str, dict]:
    """``--set`` for several methods at once: ``bce.epochs=5`` applies to ``bce`` only; a bare
    ``epochs=5`` to every method that has the parameter, and is an error only if none has it."""
    from mlbench.methods import get_method_class

    out: dict[str, dict] = {m: {} for m in methods}
    for key, value in overrides.items():
        method, dot, name = key.partition(".")
        if dot and method in out:
            out[method][name] = value
            continue
        if dot:
            raise MlbenchError(
                f"--set {key}: {method!r} is not among the methods trained "
                f"({', '.join(methods)}); use METHOD.{name}=VALUE with one of them."
            )
        takers = [m for m in methods if key in get_method_class(m).params] or methods[:1]
        for m in takers:  # with no taker, the first method reports the unknown parameter
            out[m][key] = value
    return out


def _typed_overrides(method_id: str, overrides: dict) -> dict:
    from mlbench.methods.base import coerce_param
    from mlbench.methods.registry import get_method_class

    cls = get_method_class(method_id)
    return {k: coerce_param(cls, k, v) for k, v in overrides.items()}


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _report_run(run_dir: Path, what: str) -> None:
    from mlbench.io import read_json

    if what == "skipped":
        console.print(f"[dim]- {run_dir} already complete (use --force to redo)[/]")
        return
    metrics = read_json(run_dir / "metrics.json")["fixed"]["metrics"]
    shown = "  ".join(f"{k} {metrics[k]:.3f}" for k in ("ha", "ex-f1", "mi-f1", "ma-f1", "p@1", "map") if k in metrics)
    console.print(f"[green]✓[/] {run_dir}  {shown}  [dim](threshold 0.5)[/]")


# -- eval ----------------------------------------------------------------------------------------


@app.command("eval")
def eval_(
    run_dir: Annotated[Optional[Path], typer.Argument(help="A run directory.")] = None,
    predictions: Annotated[
        Optional[Path],
        typer.Option(
            "--predictions", help="An .npz with y_true, scores (and y_true_val, scores_val for --protocol val)."
        ),
    ] = None,
    protocol: Annotated[str, typer.Option("--protocol", help="fixed | val | paper.")] = "fixed",
    threshold: Annotated[float, typer.Option("--threshold", help="Threshold of the fixed protocol.")] = 0.5,
    selection_metric: Annotated[
        str, typer.Option("--selection-metric", help="Metric the val protocol maximizes.")
    ] = "ma-f1",
    expect: Annotated[
        Optional[Path], typer.Option("--expect", help="JSON {metric: expected value}: exit 1 on a regression.")
    ] = None,
    tolerance: Annotated[float, typer.Option("--tolerance", help="Allowed shortfall for --expect.")] = 0.01,
    name: Annotated[
        Optional[str],
        typer.Option(
            "--name", help="Record --predictions in the results store as method NAME (needs --dataset, --seed)."
        ),
    ] = None,
    dataset: Annotated[
        Optional[str], typer.Option("--dataset", "-d", help="With --name: the dataset the predictions are for.")
    ] = None,
    split_strategy: Annotated[
        str, typer.Option("--split-strategy", help="With --name: iterative | random | official.")
    ] = "iterative",
    seed: Annotated[Optional[int], typer.Option("--seed", help="With --name: the split seed.")] = None,
    notes: Annotated[Optional[str], typer.Option("--notes", help="With --name: free text kept in config.json.")] = None,
    runs_dir: Annotated[
        Optional[Path], typer.Option("--runs-dir", help="Runs directory (env MLBENCH_RUNS, default ./runs).")
    ] = None,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
    zero_division: ZeroDivision = 0.0,
) -> None:
    """Recompute metrics from saved scores (a run, or your own model's predictions); with
    --name, record the predictions in the results store beside the built-in methods."""
    from mlbench.metrics.protocols import evaluate
    from mlbench.runs.spec import load_scores

    if (run_dir is None) == (predictions is None):
        raise MlbenchError("give either a RUN_DIR or --predictions FILE.npz.")
    if name is not None:
        if predictions is None or dataset is None or seed is None:
            raise MlbenchError(
                "--name records --predictions FILE.npz; give it with --dataset D "
                "and --seed K (and --split-strategy if not iterative)."
            )
        from mlbench.runs.runner import record_external_predictions

        y_true, scores, y_val, scores_val = _read_predictions(predictions)
        recorded = record_external_predictions(
            dataset,
            seed,
            scores,
            scores_val,
            name=name,
            strategy=split_strategy,
            y_true=y_true,
            y_true_val=y_val,
            notes=notes,
            runs_dir=runs_dir,
            data_dir=data_dir,
            source=str(Path(predictions).resolve()),
        )
        _report_run(recorded, "done")
        return
    if run_dir is not None:
        arrays = load_scores(run_dir)
        y_true, scores = arrays["y_test"], arrays["scores_test"]
        y_val, scores_val = arrays.get("y_val"), arrays.get("scores_val")
    else:
        y_true, scores, y_val, scores_val = _read_predictions(predictions)
    result = evaluate(
        y_true,
        scores,
        protocol,
        y_true_val=y_val,
        scores_val=scores_val,
        threshold=threshold,
        selection_metric=selection_metric,
        zero_division=zero_division,
    )
    if as_json:  # as metrics.json keeps each protocol, plus which protocol this is
        print_json(result.to_dict())
    else:
        from mlbench.metrics import get_metric

        caption = f"{result.description}; 0/0 scores {result.zero_division:g}"
        if run_dir is not None:  # the cost is measured at training, not recomputed: shown as kept
            from mlbench.runs.cost import describe, recorded_cost

            cost = recorded_cost(run_dir)
            caption += f"\ncost recorded at training: {describe(cost)}" if cost else ""
        table = Table(caption=caption, caption_justify="left", title=str(run_dir or predictions))
        table.add_column("metric")
        table.add_column("value", justify="right")
        for key, value in result.metrics.items():
            table.add_row(f"{get_metric(key).display_name} ({key})", f"{value:.4f}")
        console.print(table)
    if expect is not None:
        from mlbench.results.gate import check_expectations, read_expected_metrics

        failures = check_expectations(result.metrics, read_expected_metrics(expect), tolerance)
        if failures:
            for line in failures:
                err_console.print(f"[bold red]regression:[/] {line}", highlight=False)
            raise typer.Exit(1)
        err_console.print(f"[green]✓[/] all expected metrics within tolerance {tolerance}")


def _read_predictions(path: Path):
    from mlbench.integrity import load_npz_checked

    if not Path(path).is_file():
        raise MlbenchError(f"predictions file {path} not found.")
    arrays = load_npz_checked(
        path,
        what="predictions file",
        keys=("y_true", "scores"),
        fix="write it with numpy.savez(path, y_true=..., scores=...)",
    )
    return arrays["y_true"], arrays["scores"], arrays.get("y_true_val"), arrays.get("scores_val")


# -- table ---------------------------------------------------------------------------------------


@app.command()
def table(
    metric: Annotated[
        list[str],
        typer.Option(
            "--metric",
            help="Metric id(s), e.g. ex-f1 (`--metric ex-f1 ma-f1`: one table per metric; csv/json: a metric column).",
        ),
    ] = ["ex-f1"],
    datasets: Annotated[Optional[list[str]], typer.Option("--datasets", help="Columns, in order.")] = None,
    methods: Annotated[Optional[list[str]], typer.Option("--methods", help="Rows, in order.")] = None,
    protocol: Annotated[str, typer.Option("--protocol", help="fixed | val | paper.")] = "fixed",
    fmt: OutputFormat = "rich",
    as_json: Annotated[bool, typer.Option("--json", help="The records as JSON (= --format json).")] = False,
    train_fraction: Annotated[float, typer.Option("--train-fraction")] = 1.0,
    split_strategy: Annotated[
        Optional[str],
        typer.Option(
            "--split-strategy",
            help="Only runs of this split strategy (kfold5: every fold of 5-fold runs, averaged with the seeds).",
        ),
    ] = None,
    paper: Annotated[
        Optional[str],
        typer.Option("--paper", help="Render a paper's table (cgmvae, mulsupcon) in its layout, ours beside theirs."),
    ] = None,
    paper_table: Annotated[
        Optional[str], typer.Option("--table", help="Which table of --paper (default: the one holding --metric).")
    ] = None,
    runs_dir: RunsDir = None,
    zero_division: Annotated[
        Optional[float],
        typer.Option(
            "--zero-division",
            help="Only runs evaluated with this zero_division (0 or 1); default: all, with a warning if they mix.",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Render finished runs: methods x datasets, mean ± std over seeds (csv/json: one record per cell)."""
    from mlbench.metrics.protocols import PROTOCOLS
    from mlbench.runs.spec import resolve_runs_dir
    from mlbench.runs.store import read_store

    fmt = check_format(fmt, as_json)
    if protocol not in PROTOCOLS:
        raise MlbenchError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}.")
    store = read_store(resolve_runs_dir(runs_dir))
    if zero_division is not None:
        from mlbench.metrics import check_zero_division

        store = store[store["zero_division"].astype(float) == check_zero_division(zero_division)]
    elif store["zero_division"].nunique() > 1:
        err_console.print(
            "[yellow]warning:[/] the stored runs mix zero_division 0 and 1; pass "
            "--zero-division 0 or 1 to render one of them.",
            highlight=False,
        )
    _warn_stale(store, data_dir)
    metrics = list(dict.fromkeys(metric))
    if len(metrics) > 1 and paper is None:  # show what the store has; one absent metric is no reason to fail
        from mlbench.metrics import get_metric

        stored = set(store["metric"])
        absent = [m for m in metrics if get_metric(m).id not in stored]
        if absent and len(absent) < len(metrics):
            err_console.print(
                f"[yellow]warning:[/] no stored run has {', '.join(absent)} (e.g. cost rows of runs made "
                "before mlbench recorded cost); showing the others.",
                highlight=False,
            )
            metrics = [m for m in metrics if m not in absent]
    if paper is not None:
        _paper_tables(store, paper, metrics, protocol, fmt, paper_table, split_strategy, datasets, methods)
        return
    from mlbench.results import tables as tb

    if fmt in tb.RECORD_FORMATS:  # one document: every metric's records, with a metric column
        records = [
            r
            for m in metrics
            for r in tb.cell_records(
                store,
                m,
                protocol,
                datasets=datasets,
                methods=methods,
                train_fraction=train_fraction,
                split=split_strategy,
            )
        ]
        if any(
            tb.mixed_strategies(store, m, protocol, train_fraction=train_fraction, split=split_strategy)
            for m in metrics
        ):
            err_console.print(
                "[yellow]warning:[/] some cells average runs of different splits; select one with --split-strategy.",
                highlight=False,
            )
        print(tb.format_records(records, fmt), end="")
        return
    for i, m in enumerate(metrics):
        if i and fmt != "rich":
            print()
        print_rendered(
            tb.render(
                store,
                m,
                protocol,
                fmt,
                datasets=datasets,
                methods=methods,
                train_fraction=train_fraction,
                split=split_strategy,
            ),
            fmt,
        )


def _paper_tables(store, paper, metrics, protocol, fmt, paper_table, split, datasets, methods) -> None:
    """Each paper table holding one of ``metrics``, once (a table with metrics as its columns
    shows all of them at once), with only ``datasets`` and ``methods`` of its layout if given."""
    from mlbench.papers.plan import choose_table

    print_paper_tables(
        store,
        paper,
        [(choose_table(paper, m, paper_table), m) for m in metrics],
        protocol,
        fmt,
        split,
        datasets=datasets,
        methods=methods,
    )


def _warn_stale(store, data_dir) -> None:
    from mlbench.data.cache import resolve_data_dir
    from mlbench.verify import stale_datasets, stale_message

    for dataset, n in stale_datasets(store, resolve_data_dir(data_dir)).items():
        err_console.print(f"[yellow]warning:[/] {stale_message(dataset, n)}", highlight=False, soft_wrap=True)


# -- verify --------------------------------------------------------------------------------------


@app.command()
def verify(
    names: Annotated[Optional[list[str]], typer.Argument(help="Datasets to check (default: every cached one).")] = None,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Rewrite a results store without its lines that do not parse (the old one is kept as results.csv.bak).",
        ),
    ] = False,
    runs_dir: RunsDir = None,
    data_dir: DataDir = None,
) -> None:
    """Re-hash cached data, splits, run directories and the results store; exit 1 on a mismatch."""
    from mlbench.data.cache import resolve_data_dir
    from mlbench.data.user_registry import get_dataset
    from mlbench.runs.runner import resolve_runs_dir
    from mlbench.verify import verify_all

    datasets_ = [get_dataset(n).name for n in names] if names else None
    report = verify_all(resolve_data_dir(data_dir), resolve_runs_dir(runs_dir), datasets_, repair)
    for line in report.warnings:
        err_console.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True)
    for line in report.problems:
        err_console.print(f"[bold red]problem:[/] {line}", highlight=False, soft_wrap=True)
    counted = ", ".join(f"{n} {what}" for what, n in report.counts.items()) or "nothing"
    if report.problems:
        err_console.print(f"[bold red]{len(report.problems)} problem(s)[/] in {counted}.", highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]✓[/] verified {counted}.", highlight=False)
