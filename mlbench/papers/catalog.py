"""Published numbers of the reproduced papers, as data: one folder per paper.

``<paper>/paper.toml`` holds the citation and what mlbench knows of the paper besides its
tables (methods it does not implement yet, figures that need their own runs);
``<paper>/results.csv`` holds every numeric result cell of the papers' result tables in tidy long
format (one row per paper x table x metric x method x dataset) with the columns
``paper,table,metric,method,dataset,value,std,reproducible,note``; ``<paper>/layouts.json`` records how
each table is laid out in the paper (caption, metric columns, method rows, dataset columns, the
printed labels, training-data fraction), so that a reproduction can be printed next to the
paper's table in the same order.

Papers (ids of :data:`PAPERS`)
------------------------------
* ``cgmvae``: C-GMVAE, ICML 2022. Tables 1-3 (ex-F1/mi-F1, ma-F1/HA, precision@1; 8 methods x
  9 vector datasets; C-GMVAE's std over 3 seeds in the ``std`` column), Table 4 (ablation),
  Table 5 (C-GMVAE trained on 50% of the data vs MPVAE on 100%). Tables 6-7 (dataset statistics,
  hyper-parameters) are not results and are not transcribed; the remaining results are figures.
* ``mulsupcon``: MulSupCon, AAAI 2024. Tables 2-3 (six vector datasets, reproducible), Tables
  4-8 (image datasets, ``reproducible = no``). Table 7 has two sub-tables, stored as tables
  ``7a`` (pretrained on MS-COCO) and ``7b`` (pretrained on NUS-WIDE). Table 1 is dataset
  statistics (not transcribed). "-" cells are absent from the CSV and listed under ``missing``
  in the layout.
* ``mulsupconld``: only a summary of the paper is available; it contains no tables, so there are
  no rows (``paper_tables("mulsupconld") == []``).
* ``mulcon``: MulCon, ICLR 2022 submission. Tables 1-6 (MS-COCO, NUS-WIDE, ablation, VOC 2007,
  VG 500, class-embedding retrieval); all image data, ``reproducible = no``. Table 7 holds no
  numbers. Its text extraction garbled the highlighted cells of Tables 2-4: a cell whose digits
  and decimal point survived is kept (the note shows the raw text); any other garbled cell has an
  **empty value** and a note ``unreadable in text extraction: raw '...'`` (with a plausible
  reading where only the decimal point was lost). Nothing was filled in silently.

Scale
-----
All values are on the 0-1 scale. C-GMVAE and MulSupCon print fractions (``0.654``), which are
kept verbatim; MulCon prints percentages (``84.9``), converted exactly (``0.849``);
``layouts.json`` records ``original_scale`` ("fraction" or "percent") per table.

Ids
---
Metrics: the project-wide ids ``ha`` (Hamming accuracy), ``ex-f1`` (example-based F1, "ebF1"),
``mi-f1``, ``ma-f1``, ``p@1``, ``map``, ``p@3``, ``p@5``, ``subset-acc``, ``ranking-loss``,
``coverage``, ``one-error``, ``macro-auc``, plus these paper-specific ones (MulCon):

* ``cp``, ``cr``, ``cf1``: per-category (macro) precision, recall, F1 over all prediction scores;
* ``op``, ``or``, ``of1``: overall (micro) precision, recall, F1 over all prediction scores;
* ``cp-top3``, ``cr-top3``, ``cf1-top3``, ``op-top3``, ``or-top3``, ``of1-top3``: the same
  computed on the top-3 scores of each image;
* ``ap-aero``, ``ap-bike``, ``ap-bird``, ``ap-boat``, ``ap-bottle``, ``ap-bus``, ``ap-car``,
  ``ap-cat``, ``ap-chair``, ``ap-cow``, ``ap-table``, ``ap-dog``, ``ap-horse``, ``ap-mbike``,
  ``ap-person``, ``ap-plant``, ``ap-sheep``, ``ap-sofa``, ``ap-train``, ``ap-tv``: per-class
  average precision on VOC 2007;
* ``emb-p@3``, ``emb-p@5``, ``emb-p@10``, ``emb-p@15``, ``emb-p@20``, ``emb-r@3``, ``emb-r@5``,
  ``emb-r@10``, ``emb-r@15``, ``emb-r@20``: precision@k / recall@k of class-embedding retrieval
  (MulCon Table 6; not label-ranking precision, hence not ``p@3``).

Methods: see :data:`METHODS` (every method id of the papers' data). Protocol variants of MulSupCon: ``mulsupcon`` is pretraining +
finetuning (its vector-data tables and the "finetune" rows), ``mulsupcon-linear`` a frozen
encoder with a linear probe ("linear"/"Ours" rows of Tables 5, 7, 8), ``mulsupcon-weighted`` the
Eq. 6 loss with the extra 1/|y| weight (Table 8, "Yes"); ``mulsupcon-all``/``mulsupcon-any`` are
the ALL/ANY positive-set variants (linear probe). C-GMVAE ablation rows (Table 4):
``cgmvae-unigauss`` ("uni-Gaussian"), ``cgmvae-gm-only`` ("GM only"),
``cgmvae-contrastive-only`` ("contrastive only"); "GM+contrastive" is ``cgmvae``. MulCon Table 1
has two MulCon rows: ``mulcon`` (448x448) and ``mulcon-576`` (576x576).

Datasets: see :data:`DATASETS`. ``nus-vec`` is the NUS-WIDE vector-feature dataset of the
C-GMVAE/MPVAE line, ``nus-wide`` the image dataset; ``mirflickr`` is the 38-label vector dataset
of C-GMVAE/MulSupCon, ``mirflickr-img`` the 24-label MIRFLICKR image dataset used by
MulSupCon's image tables; ``voc2007`` is PASCAL VOC 2007.

Layout keys: ``caption``, ``metrics``/``metric_labels``, ``methods``/``method_labels`` (rows in
paper order), ``datasets``/``dataset_labels`` (paper order), ``train_fraction`` (fraction of the
training data used by the table's headline method; ``train_fraction_by_method`` where rows
differ), ``pretrained_on`` (transfer tables), ``rows``/``columns`` (how the table is nested),
``std`` (where std is printed, or null), ``missing`` (``[metric, method, dataset]`` cells
printed as "-"), ``original_scale``.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources

import pandas as pd
import tomllib

from mlbench.errors import MlbenchError, suggest

__all__ = [
    "PAPERS",
    "METRICS",
    "METHODS",
    "DATASETS",
    "IMAGE_DATASETS",
    "COLUMNS",
    "paper_info",
    "paper_results",
    "paper_layout",
    "paper_tables",
    "paper_value",
]

COLUMNS = ["paper", "table", "metric", "method", "dataset", "value", "std", "reproducible", "note"]
_ROOT = resources.files("mlbench.papers")


def _read_toml(ref) -> dict:
    with ref.open("rb") as fh:
        return tomllib.load(fh)


@functools.lru_cache(maxsize=1)
def _infos() -> dict[str, dict]:
    """paper id -> its ``paper.toml``; a paper is a folder of this package holding one."""
    infos = {}
    for entry in sorted(_ROOT.iterdir(), key=lambda e: e.name):
        if entry.is_dir() and entry.joinpath("paper.toml").is_file():
            infos[entry.name] = _read_toml(entry.joinpath("paper.toml"))
    return infos


_VOCABULARY = _read_toml(_ROOT.joinpath("vocabulary.toml"))

#: paper id -> citation
PAPERS: dict[str, str] = {paper: info["citation"] for paper, info in _infos().items()}

#: metric id -> description
METRICS: dict[str, str] = {
    **_VOCABULARY["metrics"],
    **{f"ap-{c}": f"average precision of VOC class '{c}'" for c in _VOCABULARY["voc_classes"]},
}

#: image datasets of the papers: out of mlbench's scope
IMAGE_DATASETS: frozenset[str] = frozenset(_VOCABULARY["image_datasets"])


def paper_info(paper: str) -> dict:
    """The paper's ``paper.toml`` (citation, ``unimplemented`` methods, figures); a copy."""
    return copy.deepcopy(_infos()[_check_paper(paper)])


@functools.lru_cache(maxsize=1)
def _load_results() -> pd.DataFrame:
    frames = []
    for paper in PAPERS:
        ref = _ROOT.joinpath(paper, "results.csv")
        if not ref.is_file():
            continue
        with ref.open("r", encoding="utf-8") as fh:
            frames.append(
                pd.read_csv(
                    fh,
                    dtype={c: str for c in COLUMNS if c not in ("value", "std")},
                    keep_default_na=False,
                )
            )
    df = pd.concat(frames, ignore_index=True)
    for col in ("value", "std"):
        df[col] = pd.to_numeric(df[col].replace("", float("nan")), errors="raise").astype(float)
    return df[COLUMNS]


@functools.lru_cache(maxsize=1)
def _load_layouts() -> dict:
    layouts = {}
    for paper in PAPERS:
        ref = _ROOT.joinpath(paper, "layouts.json")
        if ref.is_file():
            with ref.open("r", encoding="utf-8") as fh:
                layouts[paper] = json.load(fh)
        else:
            layouts[paper] = {}
    return layouts


def _method_ids() -> frozenset[str]:
    ids = set(_load_results()["method"])
    for paper, tables in _load_layouts().items():
        ids.update(m for layout in tables.values() for m in layout["methods"])
        ids.update(_infos()[paper].get("methods", []))
    return frozenset(ids)


#: method ids used in the papers' data (their tables, and methods a paper names without tables)
METHODS: frozenset[str] = _method_ids()

#: dataset ids of the papers' tables, plus the other vector datasets the papers name
DATASETS: frozenset[str] = frozenset(
    set(_load_results()["dataset"]) | set(_VOCABULARY["vector_datasets"]) | IMAGE_DATASETS
)


def _check_paper(paper: str) -> str:
    if paper not in PAPERS:
        raise MlbenchError(suggest(str(paper), PAPERS, "paper"))
    return paper


def _check_table(paper: str | None, table) -> str:
    table = str(table)
    layouts = _load_layouts()
    if paper is not None:
        known = list(layouts.get(paper, {}))
        if table not in known:
            if not known:
                raise MlbenchError(f"paper {paper!r} has no transcribed tables.")
            raise MlbenchError(f"paper {paper!r}: " + suggest(table, known, "table"))
    else:
        known = sorted({t for tables in layouts.values() for t in tables})
        if table not in known:
            raise MlbenchError(suggest(table, known, "table"))
    return table


def _check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise MlbenchError(suggest(str(metric), METRICS, "metric"))
    return metric


def paper_tables(paper: str) -> list[str]:
    """Transcribed table ids of ``paper`` in paper order (e.g. ``['1', '2', ..., '7a', '7b', '8']``)."""
    _check_paper(paper)
    return list(_load_layouts().get(paper, {}))


def paper_layout(paper: str, table) -> dict:
    """How ``table`` of ``paper`` is laid out (caption, metrics, methods, datasets, ...); a copy."""
    _check_paper(paper)
    table = _check_table(paper, table)
    return copy.deepcopy(_load_layouts()[paper][table])


def paper_results(paper: str | None = None, table=None, metric: str | None = None) -> pd.DataFrame:
    """The transcribed cells, optionally filtered by paper, table and metric.

    ``value``/``std`` are floats (NaN where the paper gives no std, or where the cell was
    unreadable in the text extraction; see ``note``); the other columns are strings.
    """
    df = _load_results()
    mask = pd.Series(True, index=df.index)
    if paper is not None:
        _check_paper(paper)
        mask &= df["paper"] == paper
    if table is not None:
        table = _check_table(paper, table)
        mask &= df["table"] == table
    if metric is not None:
        _check_metric(metric)
        mask &= df["metric"] == metric
    return df[mask].reset_index(drop=True).copy()


def paper_value(paper: str, metric: str, method: str, dataset: str, table=None) -> float | None:
    """The value ``paper`` reports for ``method`` on ``dataset`` under ``metric``.

    Without ``table``, the first table (in paper order) that reports a readable value for the cell
    is used, i.e. the main full-data results come before ablations and reduced-data tables. Returns ``None`` where
    the paper does not report the cell or the printed value was unreadable. Unknown paper, table,
    metric, method or dataset ids raise :class:`~mlbench.errors.MlbenchError`.
    """
    _check_paper(paper)
    _check_metric(metric)
    if method not in METHODS:
        raise MlbenchError(suggest(str(method), METHODS, "method"))
    if dataset not in DATASETS:
        raise MlbenchError(suggest(str(dataset), DATASETS, "dataset"))
    if table is not None:
        table = _check_table(paper, table)
    df = _load_results()
    sel = df[(df["paper"] == paper) & (df["metric"] == metric) & (df["method"] == method) & (df["dataset"] == dataset)]
    if table is not None:
        sel = sel[sel["table"] == table]
    if sel.empty:
        return None
    order = {t: i for i, t in enumerate(paper_tables(paper))}
    sel = sel.assign(_order=sel["table"].map(order)).sort_values("_order")
    values = sel["value"].dropna()
    return float(values.iloc[0]) if len(values) else None
