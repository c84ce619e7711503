"""``mlbench verify``: re-hash everything mlbench trusts on disk and say what no longer matches.

Checks, each problem one line naming the file and the command that repairs it:

- data: every cached dataset (the npz's sha256 and the arrays' content hash against meta.json,
  the raw files against their recorded sha256) and every saved split (its split id recomputed
  from the indices, and whether it was made from the data cached now);
- runs: every run directory's status.json, and for complete runs config.json, metrics.json and
  scores.npz;
- store: results.csv parses line by line, and its rows came from the data cached now.

``repair`` rewrites a store whose lines do not all parse without those lines (the old file is
kept as results.csv.bak).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlbench.errors import MlbenchError
from mlbench.integrity import (
    CorruptFileError,
    load_npz_checked,
    read_json_checked,
    read_results_csv,
    sha256_file,
)


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)  # something is broken: exit non-zero
    warnings: list[str] = field(default_factory=list)  # e.g. results from older data
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


def verify_dataset(data_dir: Path, name: str, report: Report) -> None:
    from mlbench.data.cache import dataset_dir, load_cached, refetch_command

    report.count("datasets")
    try:
        dataset = load_cached(data_dir, name, verify=True)
    except MlbenchError as exc:
        report.problems.append(str(exc))
        return
    for entry in dataset.meta.get("files", []):
        path = Path(entry.get("path", ""))
        if entry.get("sha256") and path.is_file() and sha256_file(path) != entry["sha256"]:
            report.problems.append(
                f"the raw file {path} of {name} no longer matches its sha256; refetch with {refetch_command(name)}."
            )
    for json_path in sorted((dataset_dir(data_dir, name) / "splits").glob("*.json")):
        verify_split(dataset, json_path, report)


def verify_split(dataset, json_path: Path, report: Report) -> None:
    from mlbench.data.splits import PARTS, SPLIT_SCHEMA, split_id

    report.count("splits")
    fix = f"recompute it with `mlbench split {dataset.name} ... --force` (or delete {json_path})"
    try:
        info = read_json_checked(json_path, what="the split file", fix=fix, schema=SPLIT_SCHEMA)
        if info["dataset_content_sha256"] != dataset.content_hash:
            report.warnings.append(
                f"the split {json_path} was made from other data than the cached {dataset.name} "
                "(it is recomputed when next used)."
            )
            return
        indices = load_npz_checked(json_path.with_suffix(".npz"), what="the split file", fix=fix, keys=PARTS)
        if split_id(dataset, indices) != info["split_id"]:
            raise CorruptFileError(
                f"the cached split {json_path.with_suffix('.npz')} was "
                f"modified (its indices no longer match split id "
                f"{info['split_id']}); {fix}."
            )
    except MlbenchError as exc:
        report.problems.append(str(exc))


def verify_runs(runs_dir: Path, report: Report) -> None:
    from mlbench.runs.runner import load_scores, run_state

    for status in sorted(runs_dir.rglob("status.json")):
        run_dir = status.parent
        report.count("runs")
        fix = f"redo the run with `mlbench train ... --force` (or delete {run_dir})"
        try:
            if run_state(run_dir) != "complete":
                continue
            read_json_checked(
                run_dir / "config.json",
                what="the run config",
                fix=fix,
                schema={"run_id": str, "method": str, "params": dict, "split": dict},
            )
            metrics = read_json_checked(
                run_dir / "metrics.json", what="the run metrics", fix=fix, schema={"fixed": dict}
            )
            if not isinstance(metrics["fixed"].get("metrics"), dict):
                raise CorruptFileError(
                    f"the run metrics {run_dir / 'metrics.json'} lack the fixed protocol's metrics; {fix}."
                )
            load_scores(run_dir)
        except MlbenchError as exc:
            report.problems.append(str(exc))


def verify_store(runs_dir: Path, data_dir: Path, report: Report, repair: bool = False) -> None:
    from mlbench.runs.store import COLUMNS, HASH_COLUMNS, store_path

    path = store_path(runs_dir)
    if not path.is_file():
        return
    report.count("stores")
    bad: list[int] = []
    try:
        store = read_results_csv(path, COLUMNS, HASH_COLUMNS, notify=lambda m: None, bad_lines=bad)
    except MlbenchError as exc:
        report.problems.append(str(exc))
        return
    if bad and repair:
        repair_store(runs_dir)
        report.warnings.append(
            f"rewrote {path} without its line(s) {', '.join(map(str, bad))}; the previous store is {path}.bak."
        )
    elif bad:
        report.problems.append(
            f"the results store {path}: line(s) {', '.join(map(str, bad[:10]))} are cut off or "
            "do not parse; `mlbench verify --repair` rewrites the store without them."
        )
    for dataset, n in stale_datasets(store, data_dir).items():
        report.warnings.append(stale_message(dataset, n))


def repair_store(runs_dir: Path) -> list[int]:
    """Rewrite the store without its lines that do not parse (the old file becomes the .bak);
    returns their line numbers."""
    from mlbench.io import file_lock
    from mlbench.runs.store import read_store, write_store

    bad: list[int] = []
    with file_lock(Path(runs_dir) / ".results.lock"):
        current = read_store(runs_dir, notify=lambda m: None, bad_lines=bad)
        if bad:
            write_store(runs_dir, current)
    return bad


def stale_datasets(store, data_dir: Path) -> dict[str, int]:
    """{dataset: number of runs} whose rows came from other data than the dataset cached now.
    Rows stored before data_sha256 existed, and datasets not cached here, are not judged."""
    from mlbench.data.cache import read_meta

    out: dict[str, int] = {}
    if "data_sha256" not in store.columns:
        return out
    runs = store[store["data_sha256"].astype(str) != ""].drop_duplicates("run_id")
    for dataset, group in runs.groupby("dataset"):
        try:
            meta = read_meta(Path(data_dir), str(dataset))
        except MlbenchError:
            continue  # reported by whatever loads the dataset
        if meta is not None:
            n = int((group["data_sha256"] != meta["content_sha256"]).sum())
            if n:
                out[str(dataset)] = n
    return out


def stale_message(dataset: str, n: int) -> str:
    return (
        f"{n} run(s) of {dataset} in the store came from data that no longer matches the "
        f"cached {dataset}; redo them with `mlbench train -d {dataset} ... --force`."
    )


def verify_all(data_dir: Path, runs_dir: Path, datasets: list[str] | None = None, repair: bool = False) -> Report:
    report = Report()
    if datasets is None:
        datasets = sorted(p.parent.name for p in Path(data_dir).glob("*/meta.json"))
    for name in datasets:
        verify_dataset(Path(data_dir), name, report)
    if Path(runs_dir).is_dir():
        verify_runs(Path(runs_dir), report)
        verify_store(Path(runs_dir), Path(data_dir), report, repair=repair)
    return report
