"""Paper numbers as data: mlbench/papers/<paper>/results.csv + layouts.json against the paper texts."""

from __future__ import annotations

import csv
import math
import re
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

import mlbench.papers as papers
import mlbench.papers.catalog  # noqa: F401  (papers.catalog.__doc__)
from mlbench.errors import MlbenchError
from mlbench.papers import (
    DATASETS,
    METHODS,
    METRICS,
    PAPERS,
    paper_layout,
    paper_results,
    paper_tables,
    paper_value,
)

PAPERS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "papers"
PAPER_FILES = {
    "cgmvae": "000_ff2ba339fa811fc1.txt",
    "mulsupcon": "001_5a1f2daa42b36858.txt",
    "mulsupconld": "002_8ae4d3d2975e3549.txt",
    "mulcon": "003_292d0f892385b8fe.txt",
}

# The project-wide ids the brief fixes; everything else must be documented in the module docstring.
PROJECT_METRICS = {
    "ha",
    "ex-f1",
    "mi-f1",
    "ma-f1",
    "p@1",
    "map",
    "p@3",
    "p@5",
    "subset-acc",
    "ranking-loss",
    "coverage",
    "one-error",
    "macro-auc",
}
PROJECT_METHODS = {
    "br",
    "mlknn",
    "haram",
    "sleec",
    "c2ae",
    "lamp",
    "mpvae",
    "cgmvae",
    "asl",
    "rbcc",
    "mulsupcon",
    "mulsupcon-all",
    "mulsupcon-any",
    "mulsupconld-rld",
    "mulsupconld-cld",
    "mulcon",
    "bce",
    "cgmvae-unigauss",
    "cgmvae-gm-only",
    "cgmvae-contrastive-only",
}
VECTOR_DATASETS = {
    "mirflickr",
    "yeast",
    "scene",
    "bibtex",
    "delicious",
    "ebird",
    "nus-vec",
    "sider",
    "reuters",
    "fish",
    "mediamill",
    "bookmarks",
}
COLUMNS = ["paper", "table", "metric", "method", "dataset", "value", "std", "reproducible", "note"]
DECOR = '-~^"'


def _paper_text(paper: str) -> str:
    path = PAPERS_DIR / PAPER_FILES[paper]
    if not path.is_file():
        pytest.skip(f"paper text {path} not available (expected ../shared/papers beside the repo)")
    return path.read_text(encoding="utf-8")


def _raw_rows() -> list[dict]:
    rows = []
    for paper in PAPERS:
        ref = resources.files("mlbench.papers").joinpath(paper, "results.csv")
        with ref.open("r", encoding="utf-8", newline="") as fh:
            own = list(csv.DictReader(fh))
        assert all(row["paper"] == paper for row in own), f"{paper}/results.csv holds another paper's rows"
        rows += own
    return rows


def _printed(paper: str, raw_value: str) -> str:
    """The number as the paper prints it: fractions verbatim, MulCon's as percentages."""
    if paper == "mulcon":
        return format((Decimal(raw_value) * 100).quantize(Decimal("0.1")), "f")
    return raw_value


# ----------------------------------------------------------------------------- table regions
# (start anchor, end anchor, separator) of each table in the text extraction; tables are printed
# before their caption. " " tables have multi-word labels matched by prefix, "\t" ones by cell.
REGIONS = {
    ("cgmvae", "1"): ("Metric example-F1 micro-F1", "Table 1: The example-F1", " "),
    ("cgmvae", "2"): ("Metric macro-F1 Hamming Accuracy", "Table 2: The macro-F1", " "),
    ("cgmvae", "3"): ("Dataset eBird mir. nus-vec", "Table 3: The precision@1", " "),
    ("cgmvae", "4"): ("variations eb-F1 mi-F1 ma-F1", "Table 4: Ablation study", " "),
    ("cgmvae", "5"): ("method (data %) HA", "Table 5: Comparisons between MPVAE", " "),
    ("mulsupcon", "2"): ("Metric\texample-F1", "Table 2: Comparison with existing", "\t"),
    ("mulsupcon", "3"): ("Metric\tmacro-F1", "Table 3: An extension to Table 2", "\t"),
    ("mulsupcon", "4"): ("Dataset\tMethod\tHA", "Table 4: Comparison of results on embeddings", "\t"),
    ("mulsupcon", "5"): ("Method\tmAP\tHamming Accuracy", "Table 5: Linear probe results", "\t"),
    ("mulsupcon", "6"): ("Dataset\tMethod\tmAP", "Table 6: Comparison of linear probing", "\t"),
    ("mulsupcon", "7a"): ("(a) Model pretrained on MS-COCO", "(b) Model pretrained on NUS-WIDE", "\t"),
    ("mulsupcon", "7b"): ("(b) Model pretrained on NUS-WIDE", "Table 7: Transfer to PASCAL", "\t"),
    ("mulsupcon", "8"): ("Dataset\tWeight", "Table 8: Ablation study results", "\t"),
    ("mulcon", "1"): ("Method\tResolution\tmAP", "Table 1: Results on the COCO dataset", "\t"),
    ("mulcon", "2"): ("Method\tmAP\tCF1\tOF1", "Table 2: Results on NUS-WIDE", "\t"),
    ("mulcon", "3"): ("MethOd", "Table 3: Ablation study of different variants", "\t"),
    ("mulcon", "4"): ("Method\taero\tbike", "Table 4: Results on VOC07", "\t"),
    ("mulcon", "5"): ("Method\tmAP\n", "Table 5: Results on VG 500", "\t"),
    ("mulcon", "6"): ("Method\tP@3", "Table 6: Quanntitative results", "\t"),
}


def _region(paper: str, table: str) -> tuple[list[str], str]:
    text = _paper_text(paper)
    start, end, sep = REGIONS[(paper, table)]
    i = text.index(start)
    j = text.index(end, i)
    return text[i:j].splitlines(), sep


def _clean(cell: str) -> str:
    return re.sub(r"</?b>|<sup>†</sup>", "", cell).strip()


def _row_cells(paper: str, table: str, row: tuple[str, ...], group: str | None = None) -> list[str]:
    """Value cells of the row whose leading cells are ``row`` (inside ``group`` if given)."""
    lines, sep = _region(paper, table)
    k = 0
    if group is not None:
        k = next(n for n, line in enumerate(lines) if line.strip() == group or line.startswith(group + sep))
    for n, line in enumerate(lines[k:]):
        if group is not None and n > 0 and sep == "\t" and line.split("\t")[0] not in ("", group):
            break  # left the group
        if sep == " ":
            body = line.strip()
            if group is not None and body.startswith(group + " "):
                body = body[len(group) + 1 :]
            label = row[0]
            if body.startswith(label + " ") and re.fullmatch(r"[\d. ]+", body[len(label) :].strip()):
                return body[len(label) :].split()
        else:
            cells = line.split("\t")
            if group is not None:
                cells = cells[1:]
            if tuple(c.strip() for c in cells[: len(row)]) == row:
                rest = [_clean(c) for c in cells[len(row) :]]
                while rest and rest[-1] == "":
                    rest.pop()
                return rest
    raise AssertionError(f"row {row} (group {group}) not found in {paper} table {table}")


# (paper, table, metric, method, dataset, row label cells, group, column index, printed value)
SAMPLES = [
    ("cgmvae", "1", "ex-f1", "cgmvae", "ebird", ("C-GMVAE",), None, 0, "0.576"),
    ("cgmvae", "1", "mi-f1", "sleec", "delicious", ("SLEEC",), None, 17, "0.333"),
    ("cgmvae", "1", "mi-f1", "mpvae", "reuters", ("MPVAE",), None, 15, "0.881"),
    ("cgmvae", "2", "ma-f1", "br", "reuters", ("BR",), None, 6, "0.137"),
    ("cgmvae", "2", "ha", "haram", "mirflickr", ("HARAM",), None, 10, "0.634"),
    ("cgmvae", "2", "ha", "cgmvae", "sider", ("C-GMVAE",), None, 14, "0.767"),
    ("cgmvae", "3", "p@1", "haram", "sider", ("MLARAM",), None, 5, "0.930"),
    ("cgmvae", "3", "p@1", "cgmvae", "bookmarks", ("C-GMVAE",), None, 7, "0.465"),
    ("cgmvae", "4", "ma-f1", "cgmvae-contrastive-only", "ebird", ("contrastive only",), "ebird", 2, "0.515"),
    ("cgmvae", "4", "mi-f1", "cgmvae-gm-only", "nus-vec", ("GM only",), "nus-vec", 1, "0.505"),
    ("cgmvae", "4", "ex-f1", "cgmvae-unigauss", "mirflickr", ("uni-Gaussian",), "mirflickr", 0, "0.510"),
    ("cgmvae", "5", "ha", "cgmvae", "nus-vec", ("C-GMVAE (50%)",), "nus-vec", 0, "0.975"),
    ("cgmvae", "5", "ma-f1", "mpvae", "mirflickr", ("MPVAE (100%)",), "mirflickr", 3, "0.422"),
    ("mulsupcon", "2", "ex-f1", "cgmvae", "mediamill", ("C-GMVAE",), None, 0, "0.623"),
    ("mulsupcon", "2", "mi-f1", "mulsupcon", "delicious", ("Ours",), None, 10, "0.399"),
    ("mulsupcon", "3", "ha", "cgmvae", "nus-vec", ("C-GMVAE",), None, 11, "0.986"),
    ("mulsupcon", "3", "ma-f1", "rbcc", "scene", ("RBCC",), None, 2, "0.753"),
    ("mulsupcon", "4", "p@1", "mulsupcon", "voc2007", ("Ours",), "PASCAL", 4, "0.913"),
    ("mulsupcon", "5", "map", "mulsupcon-any", "coco", ("ANY",), None, 0, "0.564"),
    ("mulsupcon", "6", "ex-f1", "bce", "objects365", ("BCE",), "Objects365", 2, "0.361"),
    ("mulsupcon", "6", "ha", "mulsupcon", "nus-wide", ("finetune",), "NUS-WIDE", 1, "0.984"),
    ("mulsupcon", "7a", "map", "mulsupcon-linear", "mirflickr-img", ("Ours",), "MIRFLICKR", 0, "0.722"),
    ("mulsupcon", "7b", "p@1", "bce", "voc2007", ("BCE",), "PASCAL", 5, "0.801"),
    ("mulsupcon", "8", "mi-f1", "mulsupcon-weighted", "coco", ("Yes",), "MS-COCO", 4, "0.683"),
    ("mulcon", "1", "map", "mulcon", "coco", ("MulCon (Ours)", "448 X 448"), None, 0, "84.9"),
    ("mulcon", "1", "of1-top3", "mulcon-576", "coco", ("MulCon (Ours)", "576 X 576"), None, 12, "78.4"),
    ("mulcon", "1", "cr", "cadm", "coco", ("CADM", "448 X 448"), None, 2, "72.2"),
    ("mulcon", "2", "map", "srn", "nus-wide", ("SRN",), None, 0, "62.0"),
    ("mulcon", "2", "cf1", "mulcon", "nus-wide", ("MulCon (O⅞s)~",), None, 1, "61.8"),
    ("mulcon", "3", "of1", "llen-bce-llcl", "coco", ("LLEN + BCE + LLCL",), None, 2, "81.1"),
    ("mulcon", "4", "map", "asl", "voc2007", ("ASL-",), None, 20, "95.8"),
    ("mulcon", "4", "ap-person", "mulcon", "voc2007", ("MulCon",), None, 14, "98.8"),
    ("mulcon", "4", "ap-boat", "rarl", "voc2007", ("RARL",), None, 3, "95.5"),
    ("mulcon", "5", "map", "r101-srn", "vg500", ("R101-SRN",), None, 0, "33.5"),
    ("mulcon", "6", "emb-r@20", "q2l", "coco", ("Q2L",), None, 9, "64.1"),
]


@pytest.mark.parametrize(
    "paper,table,metric,method,dataset,row,group,col,printed",
    SAMPLES,
    ids=[f"{s[0]}-T{s[1]}-{s[2]}-{s[3]}-{s[4]}" for s in SAMPLES],
)
def test_sampled_cell_matches_paper_text(paper, table, metric, method, dataset, row, group, col, printed):
    cells = _row_cells(paper, table, row, group)
    assert cells[col].strip(DECOR) == printed, cells
    expected = Decimal(printed) / (100 if paper == "mulcon" else 1)
    got = paper_value(paper, metric, method, dataset, table=table)
    assert got is not None and math.isclose(got, float(expected), abs_tol=1e-12)


def test_samples_cover_every_table():
    sampled = {(s[0], s[1]) for s in SAMPLES}
    for paper in PAPERS:
        for table in paper_tables(paper):
            assert (paper, table) in sampled, (paper, table)


def test_cgmvae_std_row():
    lines, _ = _region("cgmvae", "1")
    std = next(line for line in lines if line.startswith("std (±)")).split()[2:]
    assert std[0] == "0.001" and std[17] == "0.002"
    df = paper_results("cgmvae", 1)
    cg = df[df["method"] == "cgmvae"].set_index(["metric", "dataset"])
    assert cg.loc[("ex-f1", "ebird"), "std"] == pytest.approx(0.001)
    assert cg.loc[("mi-f1", "delicious"), "std"] == pytest.approx(0.002)
    assert df[df["method"] != "cgmvae"]["std"].isna().all()
    t2 = paper_results("cgmvae", 2).set_index(["metric", "method", "dataset"])
    assert t2.loc[("ha", "cgmvae", "sider"), "std"] == pytest.approx(0.003)


def test_every_value_string_occurs_in_paper_text():
    texts = {}
    for r in _raw_rows():
        paper = r["paper"]
        if paper not in texts:
            texts[paper] = _paper_text(paper)
        if r["value"]:
            assert _printed(paper, r["value"]) in texts[paper], r
        if r["std"]:
            assert r["std"] in texts[paper], r


def test_empty_values_are_documented_garbled_cells():
    texts = {}
    empty = [r for r in _raw_rows() if not r["value"]]
    assert empty
    for r in empty:
        assert r["paper"] == "mulcon", r
        assert "value left empty" in r["note"], r
        m = re.search(r"raw '(.+?)'(;|$)", r["note"])
        if m:  # the garbled string really is what the extraction shows
            texts.setdefault(r["paper"], _paper_text(r["paper"]))
            assert m.group(1).replace("\\'", "'") in texts[r["paper"]], r


def test_mulcon_percent_conversion_exact():
    rows = [r for r in _raw_rows() if r["paper"] == "mulcon" and r["value"]]
    assert rows
    for r in rows:
        assert re.fullmatch(r"[01]\.\d{3}", r["value"]), r


def test_csv_columns_and_types():
    assert list(_raw_rows()[0]) == COLUMNS
    df = paper_results()
    assert list(df.columns) == COLUMNS
    assert not df.duplicated(["paper", "table", "metric", "method", "dataset"]).any()
    vals = df["value"].dropna()
    assert ((vals >= 0) & (vals <= 1)).all()
    stds = df["std"].dropna()
    assert ((stds >= 0) & (stds <= 1)).all()
    assert set(df["reproducible"]) <= {"yes", "no"}
    assert df["value"].isna().sum() < 60  # only MulCon's garbled cells


def test_ids_are_from_allowed_sets():
    df = paper_results()
    assert set(df["paper"]) <= set(PAPERS)
    assert PROJECT_METRICS <= set(METRICS)
    assert PROJECT_METHODS <= METHODS
    assert VECTOR_DATASETS <= DATASETS
    assert set(df["metric"]) <= set(METRICS)
    assert set(df["method"]) <= METHODS
    assert set(df["dataset"]) <= DATASETS
    for ids in (df["metric"], df["method"], df["dataset"]):
        assert all(re.fullmatch(r"[a-z0-9@.\-]+", i) for i in ids)
    doc = papers.catalog.__doc__
    for metric in set(df["metric"]) - PROJECT_METRICS:
        assert f"``{metric}``" in doc, f"metric id {metric!r} not documented in the module docstring"
    for paper, table in df[["paper", "table"]].drop_duplicates().itertuples(index=False):
        assert table in paper_tables(paper)


def test_reproducible_flag_follows_vector_data():
    df = paper_results()
    assert (df["reproducible"] == df["dataset"].isin(VECTOR_DATASETS).map({True: "yes", False: "no"})).all()
    assert (paper_results("mulcon")["reproducible"] == "no").all()
    assert (paper_results("cgmvae")["reproducible"] == "yes").all()


def test_layout_cells_exist_in_csv_and_nothing_else():
    df = paper_results()
    keys = set(df[["paper", "table", "metric", "method", "dataset"]].itertuples(index=False, name=None))
    expected = set()
    for paper in PAPERS:
        for table in paper_tables(paper):
            lay = paper_layout(paper, table)
            for key in ("caption", "metrics", "methods", "datasets", "train_fraction"):
                assert key in lay, (paper, table, key)
            assert len(lay["metrics"]) == len(lay["metric_labels"])
            assert len(lay["methods"]) == len(lay["method_labels"]) == len(set(lay["methods"]))
            assert len(lay["datasets"]) == len(lay["dataset_labels"])
            assert 0 < lay["train_fraction"] <= 1
            missing = {tuple(m) for m in lay["missing"]}
            for metric in lay["metrics"]:
                for method in lay["methods"]:
                    for dataset in lay["datasets"]:
                        if (metric, method, dataset) not in missing:
                            expected.add((paper, table, metric, method, dataset))
    assert expected == keys


def test_layout_shapes_of_main_tables():
    t1 = paper_layout("cgmvae", "1")
    assert t1["metrics"] == ["ex-f1", "mi-f1"]
    assert t1["methods"] == ["br", "mlknn", "haram", "sleec", "c2ae", "lamp", "mpvae", "cgmvae"]
    assert t1["datasets"] == [
        "ebird",
        "mirflickr",
        "nus-vec",
        "yeast",
        "scene",
        "sider",
        "reuters",
        "bookmarks",
        "delicious",
    ]
    assert paper_layout("cgmvae", "2")["metrics"] == ["ma-f1", "ha"]
    assert paper_layout("cgmvae", "3")["metrics"] == ["p@1"]
    t5 = paper_layout("cgmvae", "5")
    assert t5["train_fraction"] == 0.5 and t5["train_fraction_by_method"] == {"mpvae": 1.0, "cgmvae": 0.5}
    assert all("50%" in n for n in paper_results("cgmvae", 5).query("method == 'cgmvae'")["note"])
    ms2 = paper_layout("mulsupcon", "2")
    assert ms2["methods"] == ["lamp", "mpvae", "asl", "rbcc", "cgmvae", "mulsupcon"]
    assert ms2["datasets"] == ["mediamill", "yeast", "scene", "bookmarks", "delicious", "nus-vec"]
    assert ["ex-f1", "rbcc", "bookmarks"] in ms2["missing"]
    assert len(ms2["missing"]) == 12
    assert paper_tables("cgmvae") == ["1", "2", "3", "4", "5"]
    assert paper_tables("mulsupcon") == ["2", "3", "4", "5", "6", "7a", "7b", "8"]
    assert paper_tables("mulcon") == ["1", "2", "3", "4", "5", "6"]
    assert paper_tables("mulsupconld") == []


def test_cell_counts():
    counts = paper_results().groupby(["paper", "table"]).size().to_dict()
    assert counts[("cgmvae", "1")] == 144 and counts[("cgmvae", "2")] == 144
    assert counts[("cgmvae", "3")] == 72 and counts[("cgmvae", "4")] == 36 and counts[("cgmvae", "5")] == 24
    assert counts[("mulsupcon", "2")] == 60 and counts[("mulsupcon", "3")] == 60
    assert counts[("mulsupcon", "8")] == 36
    assert counts[("mulcon", "4")] == 6 * 21


def test_mulsupcon_quotes_match_cgmvae_paper():
    """LaMP/MPVAE/C-GMVAE numbers MulSupCon quotes from C-GMVAE agree, except the noted cell."""
    rows = paper_results("mulsupcon")
    quoted = rows[rows["note"].str.contains("quoted from the C-GMVAE paper")]
    assert len(quoted) > 40
    mismatches = []
    for r in quoted.itertuples(index=False):
        ref = paper_value("cgmvae", r.metric, r.method, r.dataset)
        if ref != r.value:
            mismatches.append((r.metric, r.method, r.dataset, r.value, ref))
            assert "prints" in r.note
    assert mismatches == [("ha", "cgmvae", "nus-vec", 0.986, 0.984)]


def test_paper_results_filters():
    df = paper_results("cgmvae", table="3", metric="p@1")
    assert len(df) == 72 and set(df["table"]) == {"3"}
    assert len(paper_results(table="7a")) == 24
    assert set(paper_results(metric="p@1")["paper"]) == {"cgmvae", "mulsupcon"}
    assert paper_results("mulsupconld").empty
    # a copy: mutating it does not affect later calls
    df["value"] = -1.0
    assert (paper_results("cgmvae", 3)["value"] >= 0).all()


def test_paper_value():
    assert paper_value("cgmvae", "ha", "cgmvae", "ebird") == 0.847  # main table first
    assert paper_value("cgmvae", "ha", "cgmvae", "ebird", table="5") == 0.842  # 50% data
    assert paper_value("cgmvae", "ex-f1", "cgmvae-unigauss", "ebird") == 0.545
    assert paper_value("cgmvae", "p@1", "cgmvae", "yeast", table=3) == 0.751
    assert paper_value("mulcon", "map", "mulcon-576", "coco") == 0.863
    assert paper_value("mulcon", "cf1", "mulcon", "coco", table="3") is None  # garbled cell
    assert paper_value("mulcon", "cf1", "mulcon", "coco") == 0.792  # Table 1 is readable
    assert paper_value("mulsupcon", "ex-f1", "lamp", "mediamill") is None  # printed as "-"
    assert paper_value("cgmvae", "map", "cgmvae", "yeast") is None  # not reported
    assert paper_value("mulsupconld", "map", "mulsupconld-cld", "scene") is None


def test_api_errors():
    with pytest.raises(MlbenchError, match="Did you mean 'cgmvae'"):
        paper_results("cgmvea")
    with pytest.raises(MlbenchError, match="unknown paper"):
        paper_tables("nope")
    with pytest.raises(MlbenchError, match="unknown table '9'"):
        paper_layout("cgmvae", "9")
    with pytest.raises(MlbenchError, match="no transcribed tables"):
        paper_layout("mulsupconld", "1")
    with pytest.raises(MlbenchError, match="unknown table"):
        paper_results(table="99")
    with pytest.raises(MlbenchError, match="Did you mean 'ex-f1'"):
        paper_results(metric="ex_f1")
    with pytest.raises(MlbenchError, match="unknown method"):
        paper_value("cgmvae", "ha", "cgmvea", "ebird")
    with pytest.raises(MlbenchError, match="unknown dataset"):
        paper_value("cgmvae", "ha", "cgmvae", "e-bird")
    with pytest.raises(MlbenchError, match="unknown table"):
        paper_value("cgmvae", "ha", "cgmvae", "ebird", table="8")


def test_citations_and_layout_copy():
    assert set(PAPERS) == {"cgmvae", "mulsupcon", "mulsupconld", "mulcon"}
    assert "Gaussian Mixture Variational Autoencoder" in PAPERS["cgmvae"] and "2022" in PAPERS["cgmvae"]
    assert "Multi-Label Supervised Contrastive Learning" in PAPERS["mulsupcon"] and "AAAI" in PAPERS["mulsupcon"]
    assert "2501.19145" in PAPERS["mulsupconld"]
    assert "ICLR 2022" in PAPERS["mulcon"]
    lay = paper_layout("cgmvae", "1")
    lay["methods"].clear()
    assert paper_layout("cgmvae", "1")["methods"]


def test_package_data_declared():
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("pyproject.toml not found")
    assert '"papers/*/*.json"' in pyproject.read_text() and '"papers/*/*.csv"' in pyproject.read_text()


def test_layout_labels_match_paper_headers():
    text = _paper_text("cgmvae")
    header = "Dataset " + " ".join(paper_layout("cgmvae", "1")["dataset_labels"] * 2)
    assert header in text
    lines, _ = _region("mulsupcon", "2")
    assert [c for c in lines[1].split("\t") if c] == paper_layout("mulsupcon", "2")["dataset_labels"] * 2
    lines, _ = _region("mulcon", "4")
    assert lines[0].split("\t")[1:] == paper_layout("mulcon", "4")["metric_labels"]
    assert isinstance(paper_results(), pd.DataFrame)
