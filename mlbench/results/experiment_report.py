"""The markdown report of an experiment (``mlbench report --experiment FILE``): torch-free.

For every group and dataset, one line per (row, metric): ours under each of the group's protocols
(mean ± std over the finished seeds), the paper's value, Δ = ours − paper under the first
protocol, the seeds and the selected epochs; then the group's per-metric verdicts (the last row of
each comparison against the best of the others, a tie being within one pooled seed std), the
cells far from the paper, the runs still missing, the commands and the versions.

A *smoke run* is a run of a row's settings with fewer epochs (``--quick``): the report only uses
one when the row's full run is missing, says so in the row's label, and gives it no Δ.
"""

from __future__ import annotations

import csv
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from mlbench.io import atomic_write_text, read_json
from mlbench.papers.catalog import paper_value
from mlbench.papers.experiment import Experiment, Group, Row, plan_experiment, shipped_experiments
from mlbench.runs.spec import RunSpec, resolve_runs_dir, run_state, versions

FAR_FROM_PAPER = 0.02


def fmt_mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def selected_epoch(run_dir: Path) -> int | None:
    """The epoch kept by model selection: the last epoch marked best in train_log.csv (of the
    last stage, e.g. fine-tuning after pretraining)."""
    path = run_dir / "train_log.csv"
    if not path.is_file():
        return None
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and "stage" in rows[0]:
        rows = [r for r in rows if r["stage"] == rows[-1]["stage"]]
    best = [r for r in rows if r.get("best") == "True"]
    return int(best[-1]["epoch"]) if best else None


def _smoke_run(runs_dir: Path, spec: RunSpec) -> tuple[Path, dict] | None:
    """A complete run of ``spec``'s settings but with fewer epochs (``--quick``), if any: same
    dataset, method, split and seed; its overrides differ only in ``*epochs`` parameters, each lower
    than the spec's (or not set by it)."""
    tail = spec.run_id().split("/", 3)[3]
    wanted = dict(spec.overrides)
    for run_dir in sorted((runs_dir / spec.dataset / spec.method).glob(f"*/{tail}")):
        if run_state(run_dir) != "complete" or not (run_dir / "config.json").is_file():
            continue
        have = read_json(run_dir / "config.json").get("overrides", {})
        changed = {k for k in set(have) | set(wanted) if have.get(k) != wanted.get(k)}
        if not changed or not all(k.endswith("epochs") and k in have for k in changed):
            continue
        if all(k not in wanted or have[k] < wanted[k] for k in changed):
            return run_dir, {k: have[k] for k in sorted(changed)}
    return None


def collect(runs_dir: Path, specs: list[RunSpec]) -> dict:
    """Values over the finished seeds of ``specs`` (one row, dataset, fraction): protocol ->
    metric -> list, the seeds, fit seconds, selected epochs; ``smoke`` names the lowered epochs
    when the values come from smoke runs."""
    out = {"values": {}, "seeds": [], "fit_seconds": [], "epochs": [], "smoke": None}
    for spec in specs:
        run_dir = runs_dir / spec.run_id()
        if run_state(run_dir) != "complete":
            found = _smoke_run(runs_dir, spec)
            if found is None:
                continue
            run_dir, lowered = found
            out["smoke"] = ", ".join(f"{k}={v}" for k, v in lowered.items())
        metrics = read_json(run_dir / "metrics.json")
        for protocol, result in metrics.items():
            for metric, value in result["metrics"].items():
                out["values"].setdefault(protocol, {}).setdefault(metric, []).append(value)
        out["seeds"].append(spec.seed)
        out["fit_seconds"].append(read_json(run_dir / "status.json").get("fit_seconds", math.nan))
        epoch = selected_epoch(run_dir)
        if epoch is not None:
            out["epochs"].append(epoch)
    return out


def _paper_number(row: Row, metric: str, dataset: str) -> float | None:
    cell = row.paper
    if cell is None:
        return None
    theirs = dict(cell.metrics).get(metric, metric)
    try:
        return paper_value(cell.paper, theirs, cell.method, cell.dataset or dataset, table=cell.table)
    except Exception:  # the paper does not report this metric/dataset: no cell, not an error
        return None


def _label(row: Row, res: dict) -> str:
    return row.label + (f" **[smoke run: {res['smoke']}]**" if res["smoke"] else "")


def _verdict(cells: dict, keys: tuple[str, ...], metrics: list[str], protocol: str) -> str | None:
    """Per metric: the last row minus the best of the others, and whether that exceeds the
    rows' pooled seed standard deviation (else a tie)."""
    best = cells.get(keys[-1])
    others = [cells[k] for k in keys[:-1] if cells.get(k) and cells[k]["seeds"]]
    if not best or not best["seeds"] or not others:
        return None
    parts, tally = [], {"better": 0, "tie": 0, "worse": 0}
    for m in metrics:
        mine = best["values"].get(protocol, {}).get(m)
        rivals = [c for c in others if c["values"].get(protocol, {}).get(m)]
        if not mine or not rivals:
            continue
        rival = max(rivals, key=lambda c: np.mean(c["values"][protocol][m]))
        diff = float(np.mean(mine) - np.mean(rival["values"][protocol][m]))
        var = [np.var(v, ddof=1) for v in (mine, rival["values"][protocol][m]) if len(v) > 1]
        noise = float(np.sqrt(np.mean(var))) if var else 0.0
        tag = "better" if diff > noise else "worse" if diff < -noise else "tie"
        tally[tag] += 1
        parts.append(f"{m} {diff:+.3f} ({tag})")
    if not parts:
        return None
    smoke = [k for k in keys if cells.get(k) and cells[k]["smoke"]]
    warning = f" **(includes smoke runs: {', '.join(smoke)})**" if smoke else ""
    return (
        f"{keys[-1]} minus the best of {', '.join(keys[:-1])}: "
        + ", ".join(parts)
        + f" → better on {tally['better']}, tied on {tally['tie']}, worse on {tally['worse']} "
        f"of {len(parts)} (tie = within one pooled seed std; {protocol} protocol){warning}"
    )


def _group_section(group: Group, plan, runs_dir: Path, far: list, lines: list[str]) -> None:
    add = lines.append
    add(f"## {group.title}\n")
    if group.notes:
        add(group.notes + "\n")
    protocols = group.protocols
    add(
        f"Split: {group.split.describe()}. Seeds: {' '.join(map(str, group.seeds))}. "
        f"Δ = ours ({protocols[0]} protocol) − paper, only where the paper's cell is the same "
        "dataset and the run is not a smoke run.\n"
    )
    runs = [r for r in plan.runs if r.group == group.name]
    for fraction in group.train_fractions:
        for dataset in group.datasets:
            cells = {}
            for row in group.rows:
                specs = [r.spec for r in runs if r.row == row and r.dataset == dataset and r.train_fraction == fraction]
                cells[row.key] = collect(runs_dir, specs) if specs else None
            if not any(c for c in cells.values()):
                continue
            suffix = "" if len(group.train_fractions) == 1 and fraction == 1 else f", {fraction:g} of the training part"
            add(f"### {dataset}{suffix}\n")
            head = " | ".join(f"ours ({p})" for p in protocols)
            add(f"| method | metric | {head} | paper | Δ | seeds | selected epochs | fit s/run |")
            add("|---|---|" + "---|" * (len(protocols) + 5))
            for row in group.rows:
                res = cells[row.key]
                if res is None:
                    continue
                for metric in group.metrics:
                    ours = [fmt_mean_std(res["values"].get(p, {}).get(metric, [])) for p in protocols]
                    ref = _paper_number(row, metric, dataset)
                    same = row.paper is not None and row.paper.dataset in (None, dataset)
                    first = res["values"].get(protocols[0], {}).get(metric, [])
                    if ref is None or not first:
                        delta = "-"
                    elif res["smoke"]:
                        delta = "n/a (smoke run)"
                    elif not same:
                        delta = f"n/a ({row.paper.dataset})"
                    else:
                        delta = f"{np.mean(first) - ref:+.3f}"
                        if abs(np.mean(first) - ref) > FAR_FROM_PAPER:
                            far.append((group.title, dataset, row.label, metric, float(np.mean(first)), ref))
                    paper_text = "-" if ref is None else f"{ref:.3f}" + ("" if same else f" ({row.paper.dataset})")
                    epochs = "/".join(map(str, res["epochs"])) or "-"
                    fit = _seconds(np.nanmean(res["fit_seconds"])) if res["seeds"] else "-"
                    add(
                        f"| {_label(row, res)} | {metric} | "
                        + " | ".join(ours)
                        + f" | {paper_text} | {delta} | {','.join(map(str, res['seeds'])) or 'not run'} "
                        f"| {epochs} | {fit} |"
                    )
            add("")
            for comparison in group.comparisons:
                line = _verdict(
                    cells, comparison.rows, group.metrics, "paper" if "paper" in protocols else protocols[0]
                )
                if line:
                    add(f"* {dataset}, {comparison.what}: {line}")
            if group.comparisons:
                add("")


def report_text(
    experiment: Experiment, *, groups: list[str] | None = None, runs_dir=None, data_dir=None, command: str | None = None
) -> str:
    # The store named as given (relative stays relative), so the printed commands run as shown.
    runs_arg = f" --runs-dir {runs_dir}" if runs_dir is not None else ""
    runs_dir = resolve_runs_dir(runs_dir)
    plan = plan_experiment(experiment, groups, data_dir=data_dir)
    shown = _shown_experiment(experiment)
    group_args = f" --groups {' '.join(groups)}" if groups else ""
    lines = [f"# {experiment.title}", ""]
    lines.append(
        f"Runs: `mlbench reproduce --experiment {shown}{group_args}{runs_arg}` (trains what is "
        "missing; rerun to resume; `--jobs N`, `--dry-run`).  "
    )
    lines.append(
        f"This report: `{command or 'mlbench report --experiment ' + shown + group_args + runs_arg}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; runs directory `{runs_dir}`).  "
    )
    lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".\n")
    lines.append(
        "Protocols: **paper** = each metric at its best threshold in 0.1..0.9 on the *test* "
        "set with the paper's metric definitions (what the official codes report; "
        "optimistic); **val** = thresholds chosen on the validation part; **fixed** = "
        "threshold 0.5. Mean ± std over the seeds listed.\n"
    )
    if experiment.notes:
        lines += [experiment.notes, ""]
    far: list = []
    for group in plan.groups:
        _group_section(group, plan, runs_dir, far, lines)
    lines += [f"## Cells more than {FAR_FROM_PAPER} from the paper\n"]
    if far:
        lines += ["| group | dataset | method | metric | ours | paper | Δ |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {g} | {d} | {label} | {m} | {o:.3f} | {p:.3f} | {o - p:+.3f} |" for g, d, label, m, o, p in far]
    else:
        lines.append("None.")
    lines.append("")
    specs = plan.specs
    missing = [s for s in specs if run_state(runs_dir / s.run_id()) != "complete"]
    smoke = [s for s in missing if _smoke_run(runs_dir, s) is not None]
    lines.append("## Not run\n")
    if smoke:
        lines.append(
            f"{len(smoke)} run(s) are shown from smoke runs (fewer epochs than this "
            "experiment's settings, marked in their rows); they are not the experiment's "
            "numbers.\n"
        )
    if missing:
        lines.append(f"{len(missing)} of {len(specs)} planned runs are not complete:\n")
        lines += [f"* {s.run_id()}" for s in missing]
        lines.append("")
    else:
        lines.append("Nothing: every planned run is complete.\n")
    if plan.blocked:
        lines.append("Cells mlbench cannot run here:\n")
        seen = dict.fromkeys(f"* {label} on {dataset}: {reason}" for label, dataset, reason in plan.blocked)
        lines += list(seen) + [""]
    return "\n".join(lines)


def _seconds(value: float) -> str:
    """Two significant figures: BR's 0.12 s must not print as 0."""
    return "-" if math.isnan(value) else f"{value:.2g}" if value < 10 else f"{value:.0f}"


def _shown_experiment(experiment: Experiment) -> str:
    """How a command names the experiment: the id of a shipped one, else its path (relative to
    the working directory where it lies below it), so a printed command runs as shown."""
    path = Path(experiment.path).resolve()
    for name, shipped in shipped_experiments().items():
        if Path(shipped).resolve() == path:
            return name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def write_experiment_report(experiment: Experiment, out: str | Path, **kwargs) -> Path:
    command = "mlbench " + shlex.join(sys.argv[1:]) if Path(sys.argv[0]).name == "mlbench" else None
    if command is None:
        groups = kwargs.get("groups")
        command = shlex.join(
            [
                "mlbench",
                "report",
                "--experiment",
                _shown_experiment(experiment),
                *(["--groups", *groups] if groups else []),
                *(["--runs-dir", str(kwargs["runs_dir"])] if kwargs.get("runs_dir") is not None else []),
            ]
            + ["--out", str(out)]
        )
    path = Path(out) / f"{experiment.name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, report_text(experiment, command=command, **kwargs))
    return path


def estimated_fit_seconds(spec: RunSpec, runs_dir=None) -> float | None:
    """Estimated fit seconds of ``spec`` from the store (:func:`fit_time_estimate`), or None."""
    estimate = fit_time_estimate(spec, runs_dir)
    return None if estimate is None else estimate[0]


def fit_time_estimate(spec: RunSpec, runs_dir=None) -> tuple[float, str | None] | None:
    """``(seconds, None)``: the mean recorded fit time of the complete runs with ``spec``'s
    dataset, method and settings (any seed or split) in the store.

    Where there are none, ``(seconds, basis)`` from the same method on the same dataset with
    other settings, each run's time scaled by the ratio of epochs (``spec``'s ``epochs`` over
    the run's; a run without an ``epochs`` parameter is taken as is): those closest to
    ``spec`` (the same settings but the epochs) if any, else all. ``basis`` names the
    variants used. None where the store has no run of the method on the dataset, or where
    the epochs cannot be compared.
    """
    method_dir = resolve_runs_dir(runs_dir) / spec.dataset / spec.method
    runs = []  # (variant, overrides, params, fit seconds) of the complete runs
    for status in method_dir.glob("*/*/status.json"):
        info = read_json(status)
        config = status.parent / "config.json"
        if info.get("state") != "complete" or "fit_seconds" not in info or not config.is_file():
            continue
        config = read_json(config)
        runs.append(
            (
                config.get("variant"),
                config.get("overrides") or {},
                config.get("params") or {},
                float(info["fit_seconds"]),
            )
        )
    same = [seconds for variant, _, _, seconds in runs if variant == spec.variant]
    if same:
        return float(np.mean(same)), None
    wanted = dict(spec.overrides)
    target = wanted.get("epochs")
    if target is None:  # the method's default: what the runs without an epochs override ran
        target = next((params.get("epochs") for _, overrides, params, _ in runs if "epochs" not in overrides), None)

    def without_epochs(overrides: dict) -> dict:
        return {k: v for k, v in overrides.items() if k != "epochs"}

    def scaled(run) -> float | None:
        epochs = run[2].get("epochs")
        if epochs is None:
            return run[3]
        return None if target is None else run[3] * float(target) / float(epochs)

    closest = [run for run in runs if without_epochs(run[1]) == without_epochs(wanted)] or runs
    estimates = [(run[0], seconds) for run in closest if (seconds := scaled(run)) is not None]
    if not estimates:
        return None
    basis = ", ".join(sorted({variant for variant, _ in estimates}))
    return float(np.mean([seconds for _, seconds in estimates])), basis
