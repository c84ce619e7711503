"""Which cells of a paper's tables mlbench can run here, and what a reproduction must train.

A cell is (method, dataset, training fraction). It cannot run when its data is image data, is not
in mlbench or is not public, or when its method is one the paper's ``paper.toml`` lists as
``unimplemented``. The reasons come from data alone (no method is imported), so the read-only
commands that render paper tables never import torch; a test keeps the ``unimplemented`` lists
in step with the method registry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mlbench.errors import MlbenchError
from mlbench.papers.catalog import IMAGE_DATASETS, PAPERS, paper_info, paper_layout, paper_tables
from mlbench.runs.spec import RunSpec

QUICK_EPOCHS = 3
DEFAULT_SEEDS = (0, 1, 2)


@dataclass
class Plan:
    paper: str
    tables: list[str]
    specs: list[RunSpec] = field(default_factory=list)  # every run needed, in paper order
    blocked: list[tuple[Cell, str]] = field(default_factory=list)  # cells mlbench cannot run here
    unmatched: list[str] = field(default_factory=list)  # --methods/--datasets in none of the tables

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(s.dataset for s in self.specs))


@dataclass(frozen=True)
class Cell:
    """What a paper table needs: one (method, dataset) at the training fraction the paper used."""

    method: str
    dataset: str
    train_fraction: float = 1.0


# -- which cells can run ---------------------------------------------------------------------------


def paper_ids() -> list[str]:
    return list(PAPERS)


def unimplemented_methods() -> dict[str, str]:
    """method id -> reason, for the methods of any paper's tables that mlbench lacks."""
    return {m: reason for paper in paper_ids() for m, reason in paper_info(paper).get("unimplemented", {}).items()}


def data_efficiency_figure(paper: str) -> dict | None:
    """The paper's data-efficiency figure (methods, datasets, fractions, metric, baseline), if any."""
    return paper_info(paper).get("data_efficiency")


def dataset_reason(dataset: str, *, data_dir=None) -> str | None:
    """Why mlbench cannot run anything on ``dataset`` here, or None."""
    from mlbench.data.cache import is_cached, resolve_data_dir
    from mlbench.data.registry import DATASETS

    if dataset in IMAGE_DATASETS:
        return "image data"
    if dataset not in DATASETS:
        return "dataset not in mlbench"
    if DATASETS[dataset].is_bundle and not is_cached(resolve_data_dir(data_dir), dataset):
        # The MPVAE/C-GMVAE bundles are only reachable through dead links; a user who has a
        # copy imports it with `mlbench fetch NAME --from DIR` and the cell becomes runnable.
        return "data not public"
    return None


def method_reason(method: str, *, available_methods=None) -> str | None:
    """Why mlbench cannot run ``method``, or None.

    ``available_methods`` (the registry's ids, when the caller has loaded it) decides; without it,
    the papers' ``unimplemented`` lists do, so that no method module is imported."""
    if available_methods is None:
        return unimplemented_methods().get(method)
    if method in set(available_methods):
        return None
    return unimplemented_methods().get(method, "not implemented in mlbench")


def cell_reason(method: str, dataset: str, *, data_dir=None, available_methods=None) -> str | None:
    """Why mlbench cannot produce (method, dataset), or None when it can."""
    return dataset_reason(dataset, data_dir=data_dir) or method_reason(method, available_methods=available_methods)


def choose_table(paper: str, metric: str, table=None) -> str:
    """``table`` checked against ``metric``, or the first table of ``paper`` reporting ``metric``."""

    if table is not None:
        layout = paper_layout(paper, table)
        if metric not in layout["metrics"]:
            raise MlbenchError(
                f"table {table} of {paper!r} does not report {metric!r}; it reports "
                f"{', '.join(layout['metrics'])} (pass one of them with --metric)."
            )
        return str(table)
    for candidate in paper_tables(paper):
        if metric in paper_layout(paper, candidate)["metrics"]:
            return candidate
    reported = sorted({m for t in paper_tables(paper) for m in paper_layout(paper, t)["metrics"]})
    raise MlbenchError(
        f"no table of {paper!r} reports {metric!r}; its tables report {', '.join(reported) or 'nothing'}."
    )


def method_fraction(layout: dict, method: str) -> float:
    return float(layout.get("train_fraction_by_method", {}).get(method, layout.get("train_fraction", 1.0)))


def table_cells(paper: str, table) -> list[Cell]:
    """Every (method, dataset, train fraction) of a paper table, in paper order."""
    layout = paper_layout(paper, table)
    return [Cell(m, d, method_fraction(layout, m)) for d in layout["datasets"] for m in layout["methods"]]


def runnable_cells(paper: str, table, *, data_dir=None, available_methods=None) -> list[Cell]:
    """The cells of a paper table that mlbench can run here (method registered, data reachable)."""
    return [
        c
        for c in table_cells(paper, table)
        if cell_reason(c.method, c.dataset, data_dir=data_dir, available_methods=available_methods) is None
    ]


def render_metrics(paper: str, table) -> list[str]:
    """The ``--metric`` values that together render all of a table (one per rendering)."""
    layout = paper_layout(paper, table)
    return list(layout["metrics"]) if "dataset" in layout["columns"] else layout["metrics"][:1]


# -- planning --------------------------------------------------------------------------------------


def quick_overrides(method: str, epochs: int = QUICK_EPOCHS) -> dict[str, int]:
    """Few epochs for every ``*epochs`` parameter the method declares (pretraining included).

    Only lowered, never raised: a parameter that is 0 by default (a feature switched off, e.g.
    warm-up epochs) stays 0, and one already below ``epochs`` keeps its value.
    """
    from mlbench.methods import get_method_class

    cls = get_method_class(method)
    return {
        name: min(default, epochs)
        for name, default in cls.params.items()
        if name.endswith("epochs")
        and isinstance(default, int)
        and not isinstance(default, bool)
        and default > 0
        and name not in cls.fixed_params
    }


def _cells(paper: str, tables: list[str], data_efficiency: bool, datasets) -> list[Cell]:
    cells = [c for t in tables for c in table_cells(paper, t)]
    if data_efficiency:
        figure = data_efficiency_figure(paper)
        if figure is None:
            raise MlbenchError(f"paper {paper!r} has no data-efficiency figure; drop --data-efficiency.")
        cells += [
            Cell(m, d, f)
            for d in (datasets or figure["datasets"])
            for m in figure["methods"]
            for f in figure["fractions"]
        ]
    return list(dict.fromkeys(cells))


def plan_reproduction(
    paper: str,
    *,
    tables: Iterable[str] | None = None,
    seeds: Iterable[int] = DEFAULT_SEEDS,
    quick: bool = False,
    strategy: str = "iterative",
    data_dir=None,
    datasets=None,
    methods=None,
    data_efficiency: bool = False,
    available_methods=None,
    folds: int | None = None,
) -> Plan:
    """Every run that ``tables`` of ``paper`` (default: all) need and mlbench can run here
    (``strategy="kfold"`` with ``folds`` K: one run per fold and seed)."""
    from mlbench.data.splits import expand_strategy

    strategies = expand_strategy(strategy, folds)
    known = paper_tables(paper)
    tables = [str(t) for t in tables] if tables else known
    for t in tables:
        if t not in known:
            raise MlbenchError(f"paper {paper!r} has no table {t!r}; its tables are {', '.join(known)}.")
    plan = Plan(paper, tables)
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    cells = _cells(paper, tables, data_efficiency, datasets)
    plan.unmatched = [m for m in methods or [] if m not in {c.method for c in cells}] + [
        d for d in datasets or [] if d not in {c.dataset for c in cells}
    ]
    for cell in cells:
        if (datasets and cell.dataset not in datasets) or (methods and cell.method not in methods):
            continue
        reason = cell_reason(cell.method, cell.dataset, data_dir=data_dir, available_methods=available_methods)
        if reason:
            plan.blocked.append((cell, reason))
            continue
        overrides = tuple(sorted(quick_overrides(cell.method).items())) if quick else ()
        plan.specs += [
            RunSpec(cell.method, cell.dataset, s, split, overrides, cell.train_fraction)
            for s in seeds
            for split in strategies
        ]
    return plan


# -- the tables to show afterwards ----------------------------------------------------------------


def tables_to_render(plan: Plan, store, metric: str | None = None) -> list[tuple[str, str]]:
    """(table, metric) pairs worth rendering: tables with a runnable cell or any of our runs."""
    ran = {(s.method, s.dataset) for s in plan.specs}
    have = set(zip(store["method"], store["dataset"])) if len(store) else set()
    out = []
    for table in plan.tables:
        cells = {(c.method, c.dataset) for c in table_cells(plan.paper, table)}
        if not cells & (ran | have):
            continue
        metrics = render_metrics(plan.paper, table)
        if metric is not None:
            metrics = [metric] if metric in paper_layout(plan.paper, table)["metrics"] else []
        out += [(table, m) for m in metrics]
    return out
