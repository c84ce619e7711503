"""Experiments as data: a TOML file of named groups of rows, planned into runs.

An experiment says what to train (each row: a method id and its parameter overrides, with a display
label), on what (datasets, seeds, split, training fractions), what to report (protocols, metrics)
and which paper cell each row is compared with. ``mlbench reproduce --experiment FILE`` trains it,
``mlbench report --experiment FILE`` writes its report. The schema is documented in
docs/experiments.md; unknown keys are errors that name the closest known key.

Loading is torch-free (the report is read-only); planning with ``quick=True`` reads the method
registry (to lower every ``*epochs`` parameter) and so imports the methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from mlbench.errors import MlbenchError, suggest
from mlbench.runs.spec import RunSpec

EXPERIMENT_KEYS = {
    "name",
    "title",
    "paper",
    "datasets",
    "seeds",
    "split",
    "train_fractions",
    "protocols",
    "metrics",
    "notes",
    "groups",
}
GROUP_KEYS = {
    "title",
    "datasets",
    "seeds",
    "split",
    "train_fractions",
    "protocols",
    "metrics",
    "paper",
    "rows",
    "compare",
    "notes",
}
ROW_KEYS = {"key", "method", "set", "label", "paper"}
CELL_KEYS = {"paper", "table", "method", "dataset", "metrics"}
SPLIT_KEYS = {"strategy", "val_fraction", "ratios"}
COMPARE_KEYS = {"what", "rows"}
#: Settings a group inherits from the experiment when it does not set them.
INHERITED = ("datasets", "seeds", "split", "train_fractions", "protocols", "metrics", "paper")
DEFAULTS = {
    "seeds": [0, 1, 2],
    "split": {"strategy": "iterative"},
    "train_fractions": [1.0],
    "protocols": ["paper", "val"],
    "metrics": ["ex-f1", "mi-f1", "ma-f1", "ha", "p@1"],
    "paper": None,
}


@dataclass(frozen=True)
class SplitSpec:
    """``iterative``/``random`` with ``ratios`` (train, val, test), or ``official`` (the upstream
    train/test files) with ``val_fraction`` of the upstream training part held out for validation
    (0: no validation part; for methods that select nothing on it, e.g. BR, MLkNN)."""

    strategy: str = "iterative"
    val_fraction: float | None = None
    ratios: tuple[float, float, float] | None = None

    def describe(self) -> str:
        if self.strategy == "official":
            if not self.val_fraction:
                return "official (upstream train/test; no validation part)"
            return (
                f"official (upstream train/test; validation = {self.val_fraction:g} of the "
                "upstream training part, iterative stratification, seeded)"
            )
        ratios = self.ratios or (0.8, 0.1, 0.1)
        return f"{self.strategy} {'/'.join(f'{r * 100:g}' for r in ratios)}, one split per seed"


@dataclass(frozen=True)
class PaperCell:
    """The paper cell a row is compared with; ``dataset`` None = the row's own dataset;
    ``metrics``: (our metric id, the paper's) where the paper names a metric differently."""

    paper: str
    method: str
    table: str | None = None
    dataset: str | None = None
    metrics: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Row:
    key: str
    method: str
    overrides: tuple[tuple[str, Any], ...]
    label: str
    paper: PaperCell | None


@dataclass(frozen=True)
class Comparison:
    """Per-metric verdicts of the last row against the best of the others."""

    what: str
    rows: tuple[str, ...]


@dataclass
class Group:
    name: str
    title: str
    datasets: list[str]
    seeds: list[int]
    split: SplitSpec
    train_fractions: list[float]
    protocols: list[str]
    metrics: list[str]
    rows: list[Row]
    comparisons: list[Comparison] = field(default_factory=list)
    notes: str = ""


@dataclass
class Experiment:
    name: str
    title: str
    path: Path
    groups: dict[str, Group]
    notes: str = ""

    def select(self, names: list[str] | None) -> list[Group]:
        if not names:
            return list(self.groups.values())
        for name in names:
            if name not in self.groups:
                raise MlbenchError(f"{self.path}: " + suggest(name, self.groups, "group"))
        return [self.groups[n] for n in names]


# -- loading ---------------------------------------------------------------------------------------


def _check_keys(table: dict, known: set[str], where: str, path: Path) -> None:
    for key in table:
        if key not in known:
            raise MlbenchError(f"{path}: {where}: " + suggest(key, known, "key"))


def _list(value, kind, where: str, path: Path) -> list:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
    ):
        raise MlbenchError(
            f"{path}: {where} must be a non-empty list of {kind.__name__ if isinstance(kind, type) else 'numbers'}, got {value!r}."
        )
    return value


def _split(value, where: str, path: Path) -> SplitSpec:
    from mlbench.data.splits import STRATEGIES

    if not isinstance(value, dict):
        raise MlbenchError(
            f'{path}: {where}.split must be a table, e.g. {{ strategy = "official", val_fraction = 0.2 }}.'
        )
    _check_keys(value, SPLIT_KEYS, f"{where}.split", path)
    strategy = value.get("strategy", "iterative")
    if strategy not in STRATEGIES:
        raise MlbenchError(f"{path}: {where}.split: " + suggest(str(strategy), STRATEGIES, "split strategy"))
    if strategy == "official":
        if "ratios" in value:
            raise MlbenchError(f"{path}: {where}.split: the official split takes val_fraction, not ratios.")
        fraction = float(value.get("val_fraction", 0.2))
        if not 0 <= fraction < 1:
            raise MlbenchError(f"{path}: {where}.split.val_fraction must be in [0, 1), got {fraction}.")
        return SplitSpec("official", val_fraction=fraction)
    if "val_fraction" in value:
        raise MlbenchError(
            f"{path}: {where}.split: val_fraction is for the official split; give ratios for {strategy!r}."
        )
    ratios = value.get("ratios")
    if ratios is not None:
        ratios = tuple(float(r) for r in _list(ratios, (int, float), f"{where}.split.ratios", path))
        if len(ratios) != 3 or abs(sum(ratios) - 1) > 1e-6 or min(ratios) <= 0:
            raise MlbenchError(
                f"{path}: {where}.split.ratios must be three positive numbers summing to 1, got {list(ratios)}."
            )
    return SplitSpec(strategy, ratios=ratios)


def _cell(value, default_paper: str | None, where: str, path: Path) -> PaperCell | None:
    from mlbench.papers.catalog import PAPERS

    if value is False or value is None:
        return None
    if isinstance(value, str):
        value = {"method": value}
    if not isinstance(value, dict):
        raise MlbenchError(
            f"{path}: {where}.paper must be false, a paper method id or a table {{ paper, table, method, dataset }}."
        )
    _check_keys(value, CELL_KEYS, f"{where}.paper", path)
    paper = value.get("paper", default_paper)
    if paper is None:
        raise MlbenchError(f'{path}: {where}.paper names no paper; set paper = "..." on the row, group or experiment.')
    if paper not in PAPERS:
        raise MlbenchError(f"{path}: {where}.paper: " + suggest(str(paper), PAPERS, "paper"))
    if "method" not in value:
        raise MlbenchError(f'{path}: {where}.paper needs the paper\'s method id (method = "...").')
    table = value.get("table")
    renamed = value.get("metrics", {})
    if not isinstance(renamed, dict):
        raise MlbenchError(f'{path}: {where}.paper.metrics must be a table {{ our-id = "paper-id" }}.')
    return PaperCell(
        paper,
        str(value["method"]),
        None if table is None else str(table),
        value.get("dataset"),
        tuple(sorted(renamed.items())),
    )


def _row(value, group: str, i: int, default_paper, path: Path) -> Row:
    where = f"groups.{group}.rows[{i}]"
    if not isinstance(value, dict):
        raise MlbenchError(f"{path}: {where} must be a table.")
    _check_keys(value, ROW_KEYS, where, path)
    if "method" not in value:
        raise MlbenchError(f'{path}: {where} needs a method id (method = "br").')
    overrides = value.get("set", {})
    if not isinstance(overrides, dict):
        raise MlbenchError(f"{path}: {where}.set must be a table of parameter overrides, e.g. {{ epochs = 200 }}.")
    method = str(value["method"])
    label = str(value.get("label", method))
    cell = _cell(value.get("paper", {"method": method} if default_paper else None), default_paper, where, path)
    return Row(str(value.get("key", label)), method, tuple(sorted(overrides.items())), label, cell)


def load_experiment(path: str | Path) -> Experiment:
    """Parse and check an experiment file (see docs/experiments.md)."""
    from mlbench.metrics.protocols import PROTOCOLS

    path = Path(path)
    if not path.is_file():
        raise MlbenchError(f"experiment file {path} does not exist; see docs/experiments.md for the format.")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MlbenchError(f"{path} is not valid TOML: {exc}") from None
    _check_keys(doc, EXPERIMENT_KEYS, "top level", path)
    top = {k: doc.get(k, DEFAULTS.get(k)) for k in INHERITED}
    if not isinstance(doc.get("groups"), dict) or not doc["groups"]:
        raise MlbenchError(f"{path} has no groups; add at least one [groups.NAME] with rows.")
    groups = {}
    for name, raw in doc["groups"].items():
        where = f"groups.{name}"
        if not isinstance(raw, dict):
            raise MlbenchError(f"{path}: {where} must be a table.")
        _check_keys(raw, GROUP_KEYS, where, path)
        s = {k: raw.get(k, top[k]) for k in INHERITED}
        if s["datasets"] is None:
            raise MlbenchError(f"{path}: {where} has no datasets; set datasets on the group or at the top level.")
        datasets = [str(d) for d in _list(s["datasets"], str, f"{where}.datasets", path)]
        seeds = [int(v) for v in _list(s["seeds"], int, f"{where}.seeds", path)]
        fractions = [float(f) for f in _list(s["train_fractions"], (int, float), f"{where}.train_fractions", path)]
        if any(not 0 < f <= 1 for f in fractions):
            raise MlbenchError(f"{path}: {where}.train_fractions must be in (0, 1], got {fractions}.")
        protocols = [str(p) for p in _list(s["protocols"], str, f"{where}.protocols", path)]
        for p in protocols:
            if p not in PROTOCOLS:
                raise MlbenchError(f"{path}: {where}.protocols: " + suggest(p, PROTOCOLS, "protocol"))
        metrics = _metrics(s["metrics"], where, path)
        split = _split(s["split"], where, path)
        if split.strategy == "official" and not split.val_fraction and "val" in protocols:
            raise MlbenchError(
                f"{path}: {where}: the split has no validation part (val_fraction = 0), "
                "so there is no `val` protocol; drop it from protocols."
            )
        rows_raw = raw.get("rows")
        if not isinstance(rows_raw, list) or not rows_raw:
            raise MlbenchError(f"{path}: {where} has no rows; add [[{where}.rows]] with a method.")
        rows = [_row(r, name, i, s["paper"], path) for i, r in enumerate(rows_raw)]
        keys = [r.key for r in rows]
        if len(set(keys)) != len(keys):
            twice = sorted({k for k in keys if keys.count(k) > 1})
            raise MlbenchError(f"{path}: {where}: two rows share the key/label {twice[0]!r}; give each a distinct key.")
        comparisons = []
        for j, c in enumerate(raw.get("compare", [])):
            _check_keys(c, COMPARE_KEYS, f"{where}.compare[{j}]", path)
            members = tuple(str(k) for k in _list(c.get("rows"), str, f"{where}.compare[{j}].rows", path))
            for k in members:
                if k not in keys:
                    raise MlbenchError(f"{path}: {where}.compare[{j}]: " + suggest(k, keys, "row key"))
            if len(members) < 2:
                raise MlbenchError(f"{path}: {where}.compare[{j}] needs two rows or more.")
            comparisons.append(Comparison(str(c.get("what", f"{members[-1]} vs the others")), members))
        groups[name] = Group(
            name,
            str(raw.get("title", name)),
            datasets,
            seeds,
            split,
            fractions,
            protocols,
            metrics,
            rows,
            comparisons,
            str(raw.get("notes", "")).strip(),
        )
    return Experiment(
        str(doc.get("name", path.stem)),
        str(doc.get("title", path.stem)),
        path,
        groups,
        str(doc.get("notes", "")).strip(),
    )


def _metrics(value, where: str, path: Path) -> list[str]:
    from mlbench.metrics import METRICS

    metrics = [str(m) for m in _list(value, str, f"{where}.metrics", path)]
    for m in metrics:
        if m not in METRICS:
            raise MlbenchError(f"{path}: {where}.metrics: " + suggest(m, METRICS, "metric"))
    return metrics


def shipped_experiments() -> dict[str, Path]:
    """Experiment files shipped with mlbench: one per reproduced paper
    (``papers/<paper>/experiment.toml``) and the paper-less ones in ``papers/experiments/``."""
    from mlbench.papers.catalog import PAPERS

    root = Path(__file__).resolve().parent
    found = {p: root / p / "experiment.toml" for p in PAPERS if (root / p / "experiment.toml").is_file()}
    found.update({f.stem: f for f in sorted((root / "experiments").glob("*.toml"))})
    return found


def shipped_experiment(name: str) -> Path:
    """The shipped experiment file called ``name`` (a paper id or e.g. ``baselines``)."""
    have = shipped_experiments()
    if name not in have:
        raise MlbenchError(suggest(name, list(have), "shipped experiment"))
    return have[name]


# -- planning --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedRun:
    group: str
    row: Row
    dataset: str
    seed: int
    train_fraction: float
    spec: RunSpec


@dataclass
class ExperimentPlan:
    experiment: Experiment
    groups: list[Group]
    runs: list[PlannedRun] = field(default_factory=list)  # every (group, row, cell), in file order
    blocked: list[tuple[str, str, str]] = field(default_factory=list)  # (row label, dataset, reason)

    @property
    def specs(self) -> list[RunSpec]:
        """Each run once (groups share runs, e.g. a reference row), first place kept."""
        return list({r.spec.run_id(): r.spec for r in self.runs}.values())


def official_ratios(dataset: str, val_fraction: float, data_dir=None) -> tuple[float, float, float]:
    """Ratios for the ``official`` strategy whose validation share is ``val_fraction`` of the
    upstream training part of the fetched ``dataset`` (see :func:`ratios_for_validation_share`)."""
    import numpy as np

    from mlbench.data import load_dataset
    from mlbench.data.cache import UPSTREAM_TRAIN

    ds = load_dataset(dataset, data_dir)
    n_upstream_train = int(np.sum(ds.upstream_split == UPSTREAM_TRAIN))
    try:
        return ratios_for_validation_share(ds.n_samples, n_upstream_train, val_fraction)
    except ValueError as err:  # pragma: no cover (guards the rounding)
        raise MlbenchError(f"{dataset}: {err}") from None


def ratios_for_validation_share(
    n_samples: int, n_upstream_train: int, val_fraction: float
) -> tuple[float, float, float]:
    """Ratios whose validation part is ``val_fraction`` of ``n_upstream_train`` samples (the
    ``official`` strategy ignores the train/test shares; only the validation size counts).
    Computed as the retired benchmarks/reproduce_mulsupcon.py did, so run ids match its runs.

    >>> ratios_for_validation_share(16105, 12920, 0.125)  # delicious: 1615 validation samples
    (0.449852, 0.100295, 0.449853)
    """
    from mlbench.data.splits import part_sizes

    if val_fraction == 0:
        return (0.5, 0.0, 0.5)
    n_val = int(round(val_fraction * n_upstream_train))
    # Aim between integers so largest-remainder rounding cannot move it: n_val exactly.
    val = round((n_val + 0.25) / n_samples, 6)
    rest = 1.0 - val
    ratios = (round(rest / 2, 6), val, round(1.0 - val - round(rest / 2, 6), 6))
    if int(part_sizes(n_samples, ratios)[1]) != n_val:  # pragma: no cover (guards the rounding above)
        raise ValueError(f"cannot express a validation part of {n_val} samples.")
    return ratios


def row_overrides(row: Row, quick: bool) -> tuple[tuple[str, Any], ...]:
    """The row's overrides; with ``quick``, every ``*epochs`` parameter lowered to the smoke-run
    count as well (never raised)."""
    if not quick:
        return row.overrides
    from mlbench.papers.plan import quick_overrides

    merged = dict(quick_overrides(row.method))
    for key, value in row.overrides:
        merged[key] = min(value, merged[key]) if key in merged and isinstance(value, int) else value
    return tuple(sorted(merged.items()))


def plan_experiment(
    experiment: Experiment,
    groups: list[str] | None = None,
    *,
    quick: bool = False,
    data_dir=None,
    datasets: list[str] | None = None,
    methods: list[str] | None = None,
    seeds: list[int] | None = None,
    ratios_for=official_ratios,
) -> ExperimentPlan:
    """Every run of the selected groups. Cells whose data mlbench cannot reach here (image data,
    unpublished bundles) are ``blocked``; an ``official`` split with a validation fraction needs
    the dataset fetched (its sizes decide the ratios), otherwise the cell is blocked too.
    ``datasets``: only these of each group's datasets; ``methods``: only the rows of these
    method ids (every row of a method: its variants too); ``seeds``: these instead of each
    group's own."""
    from mlbench.papers.plan import dataset_reason

    plan = ExperimentPlan(experiment, experiment.select(groups))
    if methods:
        known = sorted({row.method for group in plan.groups for row in group.rows})
        unknown = [m for m in methods if m not in known]
        if unknown:
            raise MlbenchError(
                f"no row of experiment {experiment.name!r} ({', '.join(g.name for g in plan.groups)}) runs "
                f"{', '.join(unknown)}; its methods: {', '.join(known)}."
            )
    ratios_cache: dict[tuple[str, float], tuple] = {}
    for group in plan.groups:
        for dataset in group.datasets:
            if datasets and dataset not in datasets:
                continue
            reason = dataset_reason(dataset, data_dir=data_dir)
            ratios = group.split.ratios or (0.8, 0.1, 0.1)
            if reason is None and group.split.strategy == "official":
                key = (dataset, group.split.val_fraction)
                try:
                    if key not in ratios_cache:
                        ratios_cache[key] = ratios_for(dataset, group.split.val_fraction, data_dir)
                    ratios = ratios_cache[key]
                except MlbenchError:
                    reason = f"not fetched (`mlbench fetch {dataset}`)"
            for row in group.rows:
                if methods and row.method not in methods:
                    continue
                if reason:
                    plan.blocked.append((row.label, dataset, reason))
                    continue
                overrides = row_overrides(row, quick)
                for fraction in group.train_fractions:
                    for seed in seeds or group.seeds:
                        spec = RunSpec(
                            row.method, dataset, seed, group.split.strategy, overrides, fraction, tuple(ratios)
                        )
                        plan.runs.append(PlannedRun(group.name, row, dataset, seed, fraction, spec))
    return plan
