"""The regression gate: expected metric values, checked against one run (``eval --expect``) or
against the means of a whole results store (``check``)."""

from __future__ import annotations

import json
from pathlib import Path

from mlbench.errors import MlbenchError


def check_expectations(metrics: dict, expected: dict, tolerance: float) -> list[str]:
    """One line per metric that is worse than expected beyond ``tolerance``."""
    from mlbench.metrics import get_metric

    failures = []
    for key, want in expected.items():
        spec = get_metric(key)
        if key not in metrics:
            failures.append(f"{key}: not computed")
            continue
        got = metrics[key]
        worse = got < want - tolerance if spec.higher_is_better else got > want + tolerance
        if worse or got != got:  # NaN is a regression too
            failures.append(f"{key} = {got:.4f}, expected {want:.4f} ± {tolerance}")
    return failures


def read_expected_metrics(path: Path) -> dict:
    """A JSON object of metric id -> expected value (``eval --expect``)."""
    try:
        expected = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise MlbenchError(f"expectation file {path} not found.") from None
    except json.JSONDecodeError as exc:
        raise MlbenchError(f"{path} is not valid JSON: {exc}.") from None
    if not isinstance(expected, dict) or not all(isinstance(v, (int, float)) for v in expected.values()):
        raise MlbenchError(f"{path} must be a JSON object of metric id -> number.")
    return expected


def _check_protocol(protocol: str) -> None:
    from mlbench.metrics.protocols import PROTOCOLS

    if protocol not in PROTOCOLS:
        raise MlbenchError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}.")


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
        raise MlbenchError(
            f"cannot read {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}."
        ) from None
    except pd.errors.EmptyDataError:
        raise MlbenchError(f"{path} is empty; it needs the columns {', '.join(EXPECTED_COLUMNS)}.") from None
    missing = [c for c in EXPECTED_COLUMNS if c not in frame.columns]
    if missing or frame.empty:
        raise MlbenchError(
            f"{path} needs the columns {', '.join(EXPECTED_COLUMNS)} (missing: {', '.join(missing) or 'rows'})."
        )
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
        raise MlbenchError(
            f"{path} is not a text (CSV) file; rewrite it, e.g. with `mlbench check {path} --write`."
        ) from None
    width = None
    for number, fields in enumerate(rows, start=1):
        if not fields or fields[0].lstrip().startswith("#"):
            continue
        if width is None:
            width = len(fields)
        elif len(fields) != width:
            raise MlbenchError(
                f"{path}: line {number} has {len(fields)} fields, the header "
                f"{width} (cut off?); fix or rewrite it with `mlbench check {path} --write`."
            )


def _json_records(data) -> list[dict]:
    """A list of records, or the nested form {dataset: {method: {metric: value}}}."""
    if isinstance(data, dict):
        try:
            return [
                {"dataset": d, "method": m, "metric": k, "value": v}
                for d, methods in data.items()
                for m, metrics in methods.items()
                for k, v in metrics.items()
            ]
        except AttributeError:
            raise MlbenchError("a JSON expectation object must be {dataset: {method: {metric: value}}}.") from None
    return data


def _is_blank(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value == ""


def check_store(store, expected: list[dict], tolerance: float, split: str | None = None) -> tuple[list[str], int]:
    """(one line per failing cell, number of cells checked): a cell fails when the store's mean
    over seeds is worse than expected beyond the tolerance, or has no runs."""
    records = check_records(store, expected, tolerance, split)
    return [r["message"] for r in records if r["status"] == "fail"], len(records)


def check_records(store, expected: list[dict], tolerance: float, split: str | None = None) -> list[dict]:
    """One record per expected cell: dataset, method, variant, metric, protocol, train_fraction,
    value (the store's mean over seeds; None without runs), expected, tolerance, n (runs),
    status ("pass" or "fail") and message (why it failed; empty for a pass)."""
    from mlbench.results.tables import summarize

    records, summaries = [], {}
    for row in expected:
        key = (row["metric"], row["protocol"], row["train_fraction"])
        if key not in summaries:
            summaries[key] = summarize(
                store, row["metric"], row["protocol"], train_fraction=row["train_fraction"], split=split
            )
        summary = summaries[key]
        hit = summary[
            (summary["method"] == row["method"])
            & (summary["dataset"] == row["dataset"])
            & (summary["variant"] == str(row["variant"]))
        ]
        where = (
            f"{row['dataset']}/{row['method']}"
            + (f" [{row['variant']}]" if row["variant"] != "default" else "")
            + f" ({row['protocol']})"
        )
        tol = tolerance if row["tolerance"] is None else float(row["tolerance"])
        record = {
            "dataset": row["dataset"],
            "method": row["method"],
            "variant": str(row["variant"]),
            "metric": row["metric"],
            "protocol": row["protocol"],
            "train_fraction": row["train_fraction"],
            "value": None,
            "expected": row["value"],
            "tolerance": tol,
            "n": 0,
            "status": "pass",
            "message": "",
        }
        records.append(record)
        if hit.empty:
            record.update(status="fail", message=f"{where}: {row['metric']}: no finished runs in the store")
            continue
        record.update(value=float(hit["mean"].iloc[0]), n=int(hit["n"].iloc[0]))
        lines = check_expectations({row["metric"]: record["value"]}, {row["metric"]: row["value"]}, tol)
        if lines:
            record.update(status="fail", message=f"{where}: {lines[0]} (mean over {record['n']} seed(s))")
        if record["value"] != record["value"]:  # NaN: null in JSON
            record["value"] = None
    return records


def snapshot_expected(store, protocol: str, split: str | None = None):
    """The store's means as an expectation table (a baseline for `check`)."""
    df = store[store["protocol"] == protocol]
    if split:
        from mlbench.data.splits import split_matches

        df = df[split_matches(df["split"], split)]
    if df.empty:
        raise MlbenchError(f"no finished runs under protocol {protocol!r} to snapshot.")
    grouped = df.groupby(["dataset", "method", "variant", "train_fraction", "metric"], sort=True)["value"].mean()
    out = grouped.reset_index().assign(protocol=protocol)
    out["value"] = out["value"].round(6)
    return out[["dataset", "method", "metric", "value", "protocol", "variant", "train_fraction"]]
