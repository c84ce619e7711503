"""Paper tables in the paper's layout (mlbench.results.paper_tables) and the plain tables' formats,
rendered from a small synthetic results store and compared with golden files.

Regenerate the golden files after a deliberate change with ``MLBENCH_UPDATE_GOLDEN=1 pytest
tests/test_paper_tables.py`` and review the diff.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from mlbench.errors import MlbenchError
from mlbench.papers.plan import (
    Cell,
    cell_reason,
    choose_table,
    render_metrics,
    runnable_cells,
    table_cells,
)
from mlbench.results.paper_tables import render_paper_table
from mlbench.results.tables import FORMATS, render
from mlbench.runs.store import COLUMNS as REQUIRED_COLUMNS
from mlbench.runs.store import HASH_COLUMNS, STORE_NAME

COLUMNS = REQUIRED_COLUMNS + HASH_COLUMNS  # every column a run writes

GOLDEN = Path(__file__).parent / "golden"
EXTENSIONS = {"rich": "txt", "markdown": "md", "latex": "tex", "csv": "csv", "html": "html", "json": "json"}
# Fixed, so that goldens do not change when colleagues register new methods.
AVAILABLE = {"br", "mlknn", "haram", "bce"}
METRICS = ("ex-f1", "mi-f1", "ma-f1", "ha", "p@1")


def _value(method: str, dataset: str, seed: int, metric_index: int) -> float:
    mi, di = sum(map(ord, method)) % 7, sum(map(ord, dataset)) % 5
    return round(0.55 + 0.031 * mi - 0.017 * di + 0.006 * seed * (mi % 3 + 1) + 0.01 * metric_index, 4)


def _display_name(method: str) -> str:
    from mlbench.errors import MlbenchError
    from mlbench.methods import get_method_class

    try:
        return get_method_class(method).display_name or method
    except MlbenchError:
        return method


def synthetic_rows(runs, protocols=("fixed", "val", "paper")) -> list[dict]:
    """runs: (method, dataset, variant, train_fraction, seeds) -> tidy store rows."""
    rows = []
    for method, dataset, variant, fraction, seeds in runs:
        for seed in seeds:
            run_id = f"{dataset}/{method}/{variant}/iterative-seed{seed}" + (
                "" if fraction == 1 else f"-frac{fraction:g}"
            )
            for pi, protocol in enumerate(protocols):
                for xi, metric in enumerate(METRICS):
                    rows.append(
                        {
                            "dataset": dataset,
                            "method": method,
                            "variant": variant,
                            "seed": seed,
                            "split": "iterative",
                            "split_id": f"s{seed}",
                            "train_fraction": fraction,
                            "protocol": protocol,
                            "metric": metric,
                            "value": _value(method, dataset, seed, xi) + 0.002 * pi,
                            "run_id": run_id,
                            "finished_at": "2026-01-01T00:00:00Z",
                            "method_name": _display_name(method),  # as the runner records it
                        }
                    )
    return rows


STANDARD_RUNS = [
    ("br", "yeast", "default", 1.0, (0, 1, 2)),
    ("mlknn", "yeast", "default", 1.0, (0, 1, 2)),
    ("haram", "yeast", "default", 1.0, (0, 1, 2)),
    ("br", "scene", "default", 1.0, (0, 1, 2)),
    ("mlknn", "scene", "default", 1.0, (0, 1, 2)),
]


@pytest.fixture
def store() -> pd.DataFrame:
    return pd.DataFrame(synthetic_rows(STANDARD_RUNS), columns=COLUMNS)


def rich_text(renderable, width: int = 240) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, highlight=False).print(renderable)
    return buffer.getvalue()


def as_text(out, fmt: str) -> str:
    return rich_text(out) if fmt == "rich" else out


def assert_golden(name: str, text: str) -> None:
    if name.endswith(".html"):
        assert text.startswith("<table>"), (
            "not HTML: mlbench.results.tables.render_grid must ask tabulate for 'unsafehtml' "
            "(tabulate 0.10 has no 'unsafe_html' and falls back to plain text)"
        )
    path = GOLDEN / name
    if os.environ.get("MLBENCH_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"golden file {path} missing; create it with MLBENCH_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"output differs from {path}"


# -- golden outputs --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_paper_table_golden(store, tmp_path, fmt):
    out = render_paper_table(store, "cgmvae", "ex-f1", "fixed", fmt, data_dir=tmp_path, available_methods=AVAILABLE)
    assert_golden(f"paper-cgmvae-t1-ex-f1.{EXTENSIONS[fmt]}", as_text(out, fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_plain_table_golden(store, fmt):
    out = render(store, "ex-f1", "fixed", fmt, datasets=["yeast", "scene"], methods=["br", "mlknn", "haram"])
    assert_golden(f"plain-ex-f1.{EXTENSIONS[fmt]}", as_text(out, fmt))


def test_rows_by_metrics_layout_golden(tmp_path):
    # C-GMVAE Table 4: rows are (dataset, method), columns the table's metrics.
    runs = [("cgmvae", "ebird", "default", 1.0, (0, 1)), ("cgmvae-gm-only", "ebird", "default", 1.0, (0, 1))]
    store = pd.DataFrame(synthetic_rows(runs), columns=COLUMNS)
    out = render_paper_table(
        store,
        "cgmvae",
        "mi-f1",
        "fixed",
        "markdown",
        table="4",
        data_dir=tmp_path,
        available_methods=AVAILABLE | {"cgmvae", "cgmvae-gm-only"},
    )
    assert_golden("paper-cgmvae-t4.md", out)


# -- content ---------------------------------------------------------------------------------------


def test_cells_hold_ours_paper_and_difference(store, tmp_path):
    out = render_paper_table(
        store, "cgmvae", "ex-f1", "fixed", "markdown", data_dir=tmp_path, available_methods=AVAILABLE
    )
    ours = pd.DataFrame(synthetic_rows(STANDARD_RUNS))
    mean = ours[
        (ours.method == "br") & (ours.dataset == "yeast") & (ours.metric == "ex-f1") & (ours.protocol == "fixed")
    ]["value"].mean()
    row = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    delta = round(mean - 0.630, 3) + 0.0
    # C-GMVAE Table 1: BR on yeast, ex-F1 0.630
    assert f"{mean:.3f} ± " in row["BR"] and f"\\| 0.630 \\| {delta:+.3f}" in row["BR"]
    assert "**" in row["MLKNN"] and "**" not in row["BR"]  # best of ours marked
    assert list(row)[:2] == ["Method", "BR"] and "eBird (data not public)" in row["Method"]
    assert list(row)[1:] == [
        "BR",
        "MLKNN",
        "HARAM",
        "SLEEC (not implemented in mlbench)",
        "C2AE (not implemented in mlbench)",
        "LaMP (not implemented in mlbench)",
        "MPVAE (not implemented in mlbench)",
        "C-GMVAE (not implemented in mlbench)",
    ]
    assert "– \\| 0.216 \\| not run" in row["HARAM"]


def test_paper_records_are_plain_numbers(store, tmp_path):
    out = render_paper_table(store, "cgmvae", "ex-f1", "fixed", "csv", data_dir=tmp_path, available_methods=AVAILABLE)
    frame = pd.read_csv(io.StringIO(out)).set_index(["method", "dataset"])
    ours = pd.DataFrame(synthetic_rows(STANDARD_RUNS))
    cell = ours[
        (ours.method == "br") & (ours.dataset == "yeast") & (ours.metric == "ex-f1") & (ours.protocol == "fixed")
    ]["value"]
    br = frame.loc[("br", "yeast")]
    assert (br["mean"], br["std"], br["n"]) == pytest.approx((cell.mean(), cell.std(ddof=1), 3))
    assert br["paper"] == 0.630 and br["delta"] == pytest.approx(cell.mean() - 0.630)
    assert br["method_name"] == "BR" and br["variant"] == "default" and str(br["paper_table"]) == "1"
    haram = frame.loc[("haram", "bookmarks")]  # a cell we did not run: the paper's value and why
    assert pd.isna(haram["mean"]) and pd.isna(haram["delta"]) and haram["paper"] == 0.216
    assert haram["note"] == "not run" and frame.loc[("br", "ebird"), "note"] == "data not public"
    assert pd.isna(frame.loc[("br", "yeast"), "note"])
    assert set(frame["metric"]) == {"ex-f1"} and set(frame["protocol"]) == {"fixed"}
    assert not out.startswith("#") and "±" not in out and "*" not in out


def test_datasets_and_methods_select_columns_and_rows_of_the_layout(store, tmp_path):
    kw = dict(data_dir=tmp_path, available_methods=AVAILABLE)
    full = pd.read_csv(io.StringIO(render_paper_table(store, "cgmvae", "ex-f1", "fixed", "csv", **kw)))
    out = render_paper_table(
        store, "cgmvae", "ex-f1", "fixed", "csv", datasets=["scene", "yeast"], methods=["mlknn", "br"], **kw
    )
    part = pd.read_csv(io.StringIO(out))
    # the layout's order (yeast before scene, BR before MLkNN), the same cells as the full table
    assert list(dict.fromkeys(part["dataset"])) == ["yeast", "scene"]
    assert list(dict.fromkeys(part["method"])) == ["br", "mlknn"]
    key = ["method", "dataset"]
    pd.testing.assert_frame_equal(
        part.set_index(key), full.set_index(key).loc[part.set_index(key).index], check_like=True, check_dtype=False
    )
    text = rich_text(render_paper_table(store, "cgmvae", "ex-f1", "fixed", "rich", datasets=["yeast"], **kw))
    assert "yeast" in text and "scene" not in text and "eBird" not in text
    with pytest.raises(MlbenchError, match="no dataset 'yaest'; its datasets: ebird"):
        render_paper_table(store, "cgmvae", "ex-f1", "fixed", "csv", datasets=["yaest"], **kw)


def test_caption_states_protocol_seeds_and_oracle(store, tmp_path):
    for protocol in ("fixed", "val", "paper"):
        out = render_paper_table(
            store, "cgmvae", "p@1", protocol, "markdown", data_dir=tmp_path, available_methods=AVAILABLE
        )
        assert f"protocol '{protocol}'" in out and "over 3 seeds" in out and "oracle threshold" in out
    assert "TEST part" in render_paper_table(store, "cgmvae", "p@1", "paper", "markdown", data_dir=tmp_path)


def test_caption_counts_the_seeds_of_the_shown_cells_only(tmp_path):
    # a one-seed run of a method (or dataset) the table does not show must not make it "1-3 seeds"
    extra = [("rf", "yeast", "default", 1.0, (0,)), ("br", "delicious", "default", 1.0, (0,))]
    store = pd.DataFrame(synthetic_rows(STANDARD_RUNS + extra), columns=COLUMNS)
    kw = {"data_dir": tmp_path, "available_methods": AVAILABLE}
    out = render_paper_table(store, "cgmvae", "ex-f1", "fixed", "markdown", datasets=["yeast", "scene"], **kw)
    assert "mean ± std over 3 seeds" in out
    out = render_paper_table(store, "cgmvae", "ex-f1", "fixed", "markdown", **kw)
    assert "mean ± std over 1-3 seeds" in out  # delicious is shown now, with its one BR seed


def test_protocol_selects_numbers(store, tmp_path):
    fixed = pd.read_csv(io.StringIO(render_paper_table(store, "cgmvae", "ex-f1", "fixed", "csv", data_dir=tmp_path)))
    paper = pd.read_csv(io.StringIO(render_paper_table(store, "cgmvae", "ex-f1", "paper", "csv", data_dir=tmp_path)))
    assert (paper["mean"] - fixed["mean"]).dropna().round(6).unique().tolist() == [0.004]  # as the synthetic store


def test_separator_is_escaped_per_format(store, tmp_path):
    md = render_paper_table(store, "cgmvae", "ex-f1", "fixed", "markdown", data_dir=tmp_path)
    tex = render_paper_table(store, "cgmvae", "ex-f1", "fixed", "latex", data_dir=tmp_path)
    assert "\\|" in md and "\\textbar{}" in tex and "\\toprule" in tex and "$\\pm$" in tex


def test_train_fraction_per_method(tmp_path):
    # Table 5: MPVAE on 100% of the data, C-GMVAE on 50%; a C-GMVAE run on 100% must not be used.
    runs = [
        ("mpvae", "ebird", "default", 1.0, (0,)),
        ("cgmvae", "ebird", "default", 0.5, (0,)),
        ("cgmvae", "ebird", "default", 1.0, (0,)),
    ]
    rows = synthetic_rows(runs)
    for row in rows:
        if row["method"] == "cgmvae" and row["train_fraction"] == 1.0:
            row["value"] = 0.999
    store = pd.DataFrame(rows, columns=COLUMNS)
    out = render_paper_table(
        store, "cgmvae", "ha", "fixed", "markdown", table=5, data_dir=tmp_path, available_methods={"mpvae", "cgmvae"}
    )
    assert "0.999" not in out
    assert "ebird: C-GMVAE (50%)" in out and "Training fractions" in out


def test_non_default_variant_is_used_and_named(tmp_path):
    runs = [("br", "yeast", "C=2.0", 1.0, (0, 1))]
    store = pd.DataFrame(synthetic_rows(runs), columns=COLUMNS)
    out = render_paper_table(store, "cgmvae", "ex-f1", "fixed", "markdown", data_dir=tmp_path)
    assert "Non-default variants shown: br [C=2.0]" in out
    both = pd.DataFrame(synthetic_rows(runs + [("br", "yeast", "default", 1.0, (0,))]), columns=COLUMNS)
    out = render_paper_table(both, "cgmvae", "ex-f1", "fixed", "markdown", data_dir=tmp_path)
    assert "Non-default" not in out and "over 1 seed)" in out


def test_paper_dash_cells(tmp_path):
    # MulSupCon Table 2 prints "-" for RBCC on mediamill: no paper value, no difference.
    out = render_paper_table(
        pd.DataFrame(columns=COLUMNS),
        "mulsupcon",
        "ex-f1",
        "fixed",
        "markdown",
        data_dir=tmp_path,
        available_methods=AVAILABLE,
    )
    row = next(line for line in out.splitlines() if line.startswith("| RBCC"))
    assert row.split("|")[1].strip() == "RBCC (not implemented in mlbench)"
    assert "no runs yet" in out
    records = pd.read_csv(
        io.StringIO(
            render_paper_table(
                pd.DataFrame(columns=COLUMNS),
                "mulsupcon",
                "ex-f1",
                "fixed",
                "csv",
                data_dir=tmp_path,
                available_methods=AVAILABLE,
            )
        )
    ).set_index(["method", "dataset"])
    assert pd.isna(records.loc[("rbcc", "mediamill"), "paper"])  # "-" in the paper: no value
    assert records.loc[("mulsupcon", "mediamill"), "paper"] == 0.627


# -- lookups ---------------------------------------------------------------------------------------


def test_choose_table():
    assert choose_table("cgmvae", "ex-f1") == "1"
    assert choose_table("cgmvae", "ma-f1") == "2"
    assert choose_table("cgmvae", "p@1") == "3"
    assert choose_table("mulsupcon", "ha") == "3"
    assert choose_table("cgmvae", "ma-f1", table=4) == "4"
    with pytest.raises(MlbenchError, match="does not report 'p@1'"):
        choose_table("cgmvae", "p@1", table=4)
    with pytest.raises(MlbenchError, match="no table of 'cgmvae' reports 'map'"):
        choose_table("cgmvae", "map")
    with pytest.raises(MlbenchError, match="unknown paper"):
        render_paper_table(pd.DataFrame(columns=COLUMNS), "cgmvea", "ex-f1")
    with pytest.raises(MlbenchError, match="unknown format"):
        render_paper_table(pd.DataFrame(columns=COLUMNS), "cgmvae", "ex-f1", fmt="pdf")


def test_render_metrics():
    assert render_metrics("cgmvae", "1") == ["ex-f1", "mi-f1"]
    assert render_metrics("cgmvae", "4") == ["ex-f1"]  # one rendering holds all its metrics


def test_cell_reasons(tmp_path):
    reason = lambda m, d: cell_reason(m, d, data_dir=tmp_path, available_methods=AVAILABLE)  # noqa: E731
    assert reason("br", "yeast") is None
    assert reason("br", "delicious") is None  # fetchable: reproduce downloads it
    assert reason("br", "ebird") == "data not public"
    assert reason("mulsupcon", "coco") == "image data"
    assert reason("lamp", "yeast") == "not implemented in mlbench"  # not in AVAILABLE
    assert reason("c2ae", "yeast") == "not implemented in mlbench"


def test_imported_bundle_becomes_runnable(tmp_path):
    (tmp_path / "sider").mkdir()
    for name in ("meta.json", "dataset.npz"):
        (tmp_path / "sider" / name).write_text("{}")
    assert cell_reason("br", "sider", data_dir=tmp_path, available_methods=AVAILABLE) is None


def test_registry_decides_by_default():
    assert cell_reason("br", "yeast") is None  # br is registered


def test_table_and_runnable_cells(tmp_path):
    cells = table_cells("cgmvae", "5")
    assert Cell("cgmvae", "ebird", 0.5) in cells and Cell("mpvae", "ebird", 1.0) in cells
    runnable = runnable_cells("cgmvae", "1", data_dir=tmp_path, available_methods={"br", "mlknn"})
    assert {(c.method, c.dataset) for c in runnable} == {
        (m, d) for m in ("br", "mlknn") for d in ("yeast", "scene", "bookmarks", "delicious")
    }
    assert runnable_cells("mulsupcon", "6", data_dir=tmp_path) == []  # image data only


# -- the CLI ---------------------------------------------------------------------------------------


def test_cli_table_paper(store, tmp_path, capsys):
    from mlbench.cli import main

    (tmp_path / STORE_NAME).write_text(store.to_csv(index=False))
    with pytest.raises(SystemExit) as exit_info:
        main(["table", "--paper", "cgmvae", "--metric", "ma-f1", "--format", "markdown", "--runs-dir", str(tmp_path)])
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "cgmvae Table 2" in out and "\\| 0.373 \\|" in out  # BR on yeast, ma-F1, C-GMVAE Table 2


def test_unimplemented_lists_match_the_registry():
    """Paper tables learn which methods are missing from the papers' data, without importing the
    methods; this keeps that data in step with the registry."""
    from mlbench.methods import method_ids
    from mlbench.papers import IMAGE_DATASETS, PAPERS, paper_layout, paper_tables
    from mlbench.papers.plan import unimplemented_methods

    registered, missing = set(method_ids()), unimplemented_methods()
    assert not set(missing) & registered, "registered methods still listed as unimplemented"
    unknown = {
        (paper, table, method)
        for paper in PAPERS
        for table in paper_tables(paper)
        for method in paper_layout(paper, table)["methods"]
        if not set(paper_layout(paper, table)["datasets"]) <= IMAGE_DATASETS
        and method not in registered
        and method not in missing
    }
    assert not unknown, f"methods on vector data neither registered nor listed unimplemented: {unknown}"


# -- which runs fill a cell ------------------------------------------------------------------------
def _cells(store, paper, **kw) -> dict:
    from mlbench.results.paper_tables import paper_table_records

    return {(r["method"], r["dataset"]): r for r in paper_table_records(store, paper, "ex-f1", "paper", **kw)}


def _mean(frame, method) -> float:
    rows = frame[(frame["method"] == method) & (frame["metric"] == "ex-f1") & (frame["protocol"] == "paper")]
    return rows["value"].mean()


def test_a_cell_never_mixes_split_strategies_and_prefers_the_papers():
    iterative = pd.DataFrame(
        synthetic_rows([("rbcc", "yeast", "default", 1.0, (0, 1, 2)), ("mpvae", "yeast", "default", 1.0, (0, 1, 2))]),
        columns=COLUMNS,
    )
    official = iterative[iterative["method"] == "rbcc"].assign(
        split="official",
        value=lambda d: d["value"] + 0.1,
        run_id=lambda d: d["run_id"].str.replace("iterative", "official"),
    )
    store = pd.concat([iterative, official], ignore_index=True)
    # MulSupCon's paper.toml names the official split: RBCC has runs on both, MPVAE on iterative only.
    cells = _cells(store, "mulsupcon", datasets=["yeast"])
    assert cells[("rbcc", "yeast")]["mean"] == pytest.approx(_mean(official, "rbcc"))
    assert cells[("rbcc", "yeast")]["n"] == 3  # not the 6 runs of both strategies
    assert cells[("mpvae", "yeast")]["mean"] == pytest.approx(_mean(iterative, "mpvae"))
    caption = render_paper_table(store, "mulsupcon", "ex-f1", "paper", "markdown", datasets=["yeast"])
    assert "Split strategies (one per cell, never mixed): iterative (MPVAE); official (RBCC)." in caption
    # --split-strategy keeps that strategy only
    cells = _cells(store, "mulsupcon", datasets=["yeast"], split="iterative")
    assert cells[("rbcc", "yeast")]["mean"] == pytest.approx(_mean(iterative, "rbcc"))


def test_the_papers_row_variant_fills_a_row_without_default_runs():
    # The experiment sets C-GMVAE's default preset explicitly; a variant with more seeds and a
    # name that sorts first must not take the row (cgmvae/paper.toml [row_variants]).
    store = pd.DataFrame(
        synthetic_rows(
            [
                ("cgmvae", "yeast", "decoder_input=xz,preset=paper", 1.0, (0, 1, 2)),
                ("cgmvae", "yeast", "preset=official", 1.0, (0, 1)),
            ]
        ),
        columns=COLUMNS,
    )
    assert _cells(store, "cgmvae", datasets=["yeast"])[("cgmvae", "yeast")]["variant"] == "preset=official"
    with_default = pd.concat(
        [store, pd.DataFrame(synthetic_rows([("cgmvae", "yeast", "default", 1.0, (0,))]), columns=COLUMNS)]
    )
    assert _cells(with_default, "cgmvae", datasets=["yeast"])[("cgmvae", "yeast")]["variant"] == "default"


def test_a_k_fold_cell_averages_all_its_folds():
    store = pd.DataFrame(synthetic_rows([("rbcc", "yeast", "default", 1.0, (0, 1, 2))]), columns=COLUMNS)
    store = store.assign(split=lambda d: "kfold3-fold" + d["seed"].astype(str))
    cell = _cells(store, "mulsupcon", datasets=["yeast"])[("rbcc", "yeast")]
    assert cell["n"] == 3 and cell["mean"] == pytest.approx(_mean(store, "rbcc"))
    assert "Split strategy: kfold3." in render_paper_table(
        store, "mulsupcon", "ex-f1", "paper", "markdown", datasets=["yeast"]
    )


def test_the_caption_names_only_the_variants_of_the_tables_rows():
    runs = [
        ("cgmvae", "yeast", "preset=official", 1.0, (0,)),
        ("cgmvae-gm-only", "yeast", "preset=official", 1.0, (0,)),
    ]
    store = pd.DataFrame(synthetic_rows(runs), columns=COLUMNS)
    caption = render_paper_table(store, "cgmvae", "ex-f1", "paper", "markdown", table="1", datasets=["yeast"])
    assert "Non-default variants shown: cgmvae [preset=official]." in caption and "gm-only" not in caption
