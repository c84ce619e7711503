"""``mlbench report --paper P --out DIR``: one markdown file with a paper's tables (ours beside
theirs), the statistics, the plots, and the commands and package versions that made the runs.

Everything is computed from the results store and the run directories, so the report can be
rebuilt at any time; sections without data say what to run instead of being left out silently.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd

from mlbench.errors import MlbenchError
from mlbench.integrity import load_npz_checked, read_json_checked
from mlbench.results.tables import method_names

REPORT_NAME = "report.md"


def _paper_cells(paper: str) -> tuple[list[str], list[str], list[str]]:
    """The paper's methods, datasets and metrics over all its tables, in first-seen order."""
    from mlbench.papers import paper_layout, paper_tables

    methods, datasets, metrics = {}, {}, {}
    for table in paper_tables(paper):
        layout = paper_layout(paper, table)
        methods.update(dict.fromkeys(layout["methods"]))
        datasets.update(dict.fromkeys(layout["datasets"]))
        metrics.update(dict.fromkeys(layout["metrics"]))
    return list(methods), list(datasets), list(metrics)


def _metrics_with_runs(store: pd.DataFrame, paper: str) -> list[str]:
    """The paper's metrics that the store holds (image-only metrics such as mAP drop out)."""
    present = set(store["metric"])
    return [m for m in _paper_cells(paper)[2] if m in present]


def _paper_store(store: pd.DataFrame, paper: str) -> pd.DataFrame:
    methods, datasets, _ = _paper_cells(paper)
    return store[store["method"].isin(methods) & store["dataset"].isin(datasets)]


def _tables_section(store, paper, protocol, split, data_dir) -> list[str]:
    from mlbench.papers import paper_layout
    from mlbench.papers.plan import plan_reproduction, tables_to_render
    from mlbench.results.paper_tables import render_paper_table

    plan = plan_reproduction(paper, data_dir=data_dir, seeds=[0])
    shown = tables_to_render(plan, store)
    lines = ["## Tables", ""]
    for table, metric in shown:
        lines += [
            f"### Table {table} · {metric}",
            "",
            render_paper_table(
                store, paper, metric, protocol, "markdown", table=table, split=split, data_dir=data_dir
            ).rstrip(),
            "",
        ]
    left_out = [t for t in plan.tables if t not in {t for t, _ in shown}]
    if left_out:
        lines.append(
            "Not shown (no cell mlbench can run here, no runs): "
            + "; ".join(f"Table {t} ({paper_layout(paper, t)['caption']})" for t in left_out)
            + "."
        )
        lines.append("")
    return lines


def _stats_section(store, paper, protocol, split, plots_dir: Path, out_dir: Path) -> list[str]:
    from mlbench.metrics import get_metric
    from mlbench.results.plots import cd_diagram
    from mlbench.results.stats import friedman, performance_matrix

    metrics = _metrics_with_runs(store, paper)
    lines = ["## Statistics (Friedman test over datasets, Nemenyi post-hoc)", ""]
    if not metrics:
        lines.append("No runs yet.")
    for metric in metrics:
        try:
            spec = get_metric(metric)
            matrix, dropped, left_out = performance_matrix(store, metric, protocol, split=split)
            result = friedman(matrix, spec.higher_is_better, nemenyi=False)
        except MlbenchError as exc:
            lines += [f"- {metric}: not computed ({exc})"]
            continue
        ranks = ", ".join(f"{m} {r:.2f}" for m, r in result.average_ranks.items())
        lines += [
            f"- **{metric}**: Friedman χ² = {result.statistic:.3f}, p = {result.pvalue:.4g} "
            f"({result.n_methods} methods, {result.n_datasets} datasets"
            f"{'; datasets left out (not every method ran): ' + ', '.join(dropped) if dropped else ''}"
            f"{'; methods left out (too few datasets): ' + ', '.join(left_out) if left_out else ''}). "
            f"Average ranks (1 = best): {ranks}."
        ]
        try:
            png, _ = cd_diagram(
                matrix,
                plots_dir / f"cd-{_slug(metric)}",
                higher_is_better=spec.higher_is_better,
                title=metric,
                names=method_names(store),
            )
            lines += ["", f"  ![CD diagram {metric}]({png.relative_to(out_dir).as_posix()})", ""]
        except MlbenchError as exc:
            lines += [f"  (no CD diagram: {exc})"]
    return lines + [""]


def _slug(metric: str) -> str:
    return metric.replace("@", "at")


def _plots_section(
    store, paper, protocol, split, plots_dir: Path, out_dir: Path, data_dir, heatmap_run, runs_dir: Path
) -> list[str]:
    from mlbench.papers.plan import data_efficiency_figure
    from mlbench.results.plots import data_efficiency, grouped_bars, label_heatmap

    methods, datasets, _ = _paper_cells(paper)
    metrics = _metrics_with_runs(store, paper)
    lines = ["## Plots", ""]

    def add(title, make):
        try:
            png, _ = make()
        except MlbenchError as exc:
            lines.append(f"- {title}: not drawn ({exc})")
            return
        lines.extend([f"### {title}", "", f"![{title}]({png.relative_to(out_dir).as_posix()})", ""])

    for metric in metrics:
        add(
            f"{metric}: mean ± std per dataset",
            lambda m=metric: grouped_bars(
                store, m, plots_dir / f"bars-{_slug(m)}", protocol, methods=methods, datasets=datasets, split=split
            ),
        )
    figure = data_efficiency_figure(paper)
    if figure:
        add(
            f"Data efficiency ({figure['metric']} relative to {figure['baseline']})",
            lambda: data_efficiency(
                store,
                plots_dir / "data-efficiency",
                figure["metric"],
                protocol,
                baseline=figure["baseline"],
                methods=list(figure["methods"]),
                fractions=figure["fractions"],
                split=split,
            ),
        )
    run_dir = heatmap_run or _embedding_run(store, runs_dir)
    if run_dir is not None:
        add(
            f"Label-label embedding inner products ({Path(run_dir).as_posix()})",
            lambda: label_heatmap(run_dir, plots_dir / "label-heatmap", data_dir=data_dir),
        )
    else:
        lines.append(
            "- Label embedding heatmap: no run with stored label embeddings "
            "(`extra_label_embeddings`; e.g. a finished cgmvae run)."
        )
    return lines + [""]


def _embedding_run(store, runs_dir: Path) -> Path | None:
    """The first finished run (preferring C-GMVAE on eBird, as Fig. 3) that stored label embeddings."""

    if store.empty:
        return None
    runs = store.drop_duplicates("run_id")
    runs = runs.assign(_pref=[(m != "cgmvae", d != "ebird") for m, d in zip(runs["method"], runs["dataset"])])
    for run_id in runs.sort_values("_pref", kind="stable")["run_id"]:
        path = Path(runs_dir) / run_id / "scores.npz"
        if path.is_file():
            arrays = load_npz_checked(path, what="run scores file", fix="redo the run with `mlbench train ... --force`")
            if "extra_label_embeddings" in arrays:
                return path.parent
    return None


def _display_command(command: str) -> str:
    """``/path/to/bin/mlbench reproduce ...`` -> ``mlbench reproduce ...`` (same command, portable)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    if words and Path(words[0]).name == "mlbench":
        return shlex.join(["mlbench", *words[1:]])
    return command


def _provenance_section(store, runs_dir: Path, command: str | None) -> list[str]:
    from mlbench.runs.spec import versions

    commands, version_sets = Counter(), Counter()
    for run_id in dict.fromkeys(store["run_id"]):
        config = Path(runs_dir) / run_id / "config.json"
        if not config.is_file():
            continue
        data = read_json_checked(config, what="the run config", fix="redo the run with `mlbench train ... --force`")
        commands[_display_command(data.get("command", "?"))] += 1
        version_sets[tuple(sorted((data.get("versions") or {}).items()))] += 1
    lines = ["## Provenance", "", "Commands that produced the runs (number of runs):", "", "```"]
    lines += [f"{cmd}    # {n} run(s)" for cmd, n in commands.most_common()] or ["(no runs)"]
    lines += ["```", "", "Package versions of the runs:", ""]
    for items, n in version_sets.most_common():
        lines.append(f"- {n} run(s): " + ", ".join(f"{k} {v}" for k, v in items))
    now = versions()
    lines += [
        "",
        "This report was made with:",
        "",
        "```",
        command or shlex.join(["mlbench", *sys.argv[1:]]),
        "```",
        "",
        "Versions now: " + ", ".join(f"{k} {v}" for k, v in now.items()),
        "",
    ]
    return lines


def write_report(
    paper: str,
    out_dir,
    *,
    runs_dir=None,
    data_dir=None,
    protocol: str = "fixed",
    split: str | None = None,
    heatmap_run=None,
    command: str | None = None,
) -> Path:
    """Write ``<out_dir>/report.md`` and its plots under ``<out_dir>/plots/``."""
    from mlbench.papers import PAPERS, paper_tables
    from mlbench.results.tables import PROTOCOL_NOTES
    from mlbench.runs.spec import resolve_runs_dir
    from mlbench.runs.store import read_store

    paper_tables(paper)  # unknown paper -> error with suggestions
    runs_dir = resolve_runs_dir(runs_dir)
    out_dir = Path(out_dir)
    plots_dir = out_dir / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    store = _paper_store(read_store(runs_dir), paper)
    lines = [
        f"# Reproduction report: {paper}",
        "",
        f"> {PAPERS[paper]}",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from the results store "
        f"`{runs_dir}` ({store['run_id'].nunique()} finished runs of this paper's methods and "
        f"datasets). Protocol of our numbers: **{protocol}** ({PROTOCOL_NOTES[protocol]})."
        + (f" Split strategy: {split}." if split else ""),
        "",
        f"Regenerate the runs with `mlbench reproduce --paper {paper}` (it only trains what is "
        "missing) and this report with the command under Provenance.",
        "",
    ]
    lines += _tables_section(store, paper, protocol, split, data_dir)
    lines += _stats_section(store, paper, protocol, split, plots_dir, out_dir)
    lines += _plots_section(store, paper, protocol, split, plots_dir, out_dir, data_dir, heatmap_run, runs_dir)
    lines += _provenance_section(store, runs_dir, command)
    path = out_dir / REPORT_NAME
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return path
