"""Published numbers of the reproduced papers, as data.

``results.csv`` holds every numeric result cell of the papers' result tables in tidy long
format (one row per paper x table x metric x method x dataset) with the columns
``paper,table,metric,method,dataset,value,std,reproducible,note``; ``layouts.json`` records how
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

Methods: see :data:`METHODS`. Protocol variants of MulSupCon: ``mulsupcon`` is pretraining +
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

from mlbench.errors import MlbenchError, suggest

__all__ = [
    "PAPERS",
    "METRICS",
    "METHODS",
    "DATASETS",
    "COLUMNS",
    "paper_results",
    "paper_layout",
    "paper_tables",
    "paper_value",
]

PAPERS: dict[str, str] = {
    "cgmvae": (
        "Junwen Bai, Shufeng Kong, Carla P. Gomes. Gaussian Mixture Variational Autoencoder with "
        "Contrastive Learning for Multi-Label Classification. Proceedings of the 39th International "
        "Conference on Machine Learning (ICML), PMLR 162, pp. 1383-1398, 2022."
    ),
    "mulsupcon": (
        "Pingyue Zhang, Mengyue Wu. Multi-Label Supervised Contrastive Learning. Proceedings of the "
        "AAAI Conference on Artificial Intelligence (AAAI), vol. 38, 2024."
    ),
    "mulsupconld": (
        "Ning Chen, Shen-Huan Lyu, Tian-Shuang Wu, Yanyan Wang, Bin Tang. Improving Multi-Label "
        "Contrastive Learning by Leveraging Label Distribution. arXiv:2501.19145, 2025."
    ),
    "mulcon": (
        "Son D. Dao, Ethan Zhao, Dinh Phung, Jianfei Cai (anonymous in the submission). Contrastively "
        "Enforcing Distinctiveness for Multi-Label Classification. ICLR 2022 submission (under review); "
        "arXiv version: Multi-label Image Classification with Contrastive Learning, arXiv:2107.11626, 2021."
    ),
}

COLUMNS = ["paper", "table", "metric", "method", "dataset", "value", "std", "reproducible", "note"]

_VOC_CLASSES = [
    "aero", "bike", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "table", "dog", "horse", "mbike", "person", "plant", "sheep", "sofa", "train", "tv",
]

#: metric id -> description
METRICS: dict[str, str] = {
    "ha": "Hamming accuracy",
    "ex-f1": "example-based F1 (ebF1)",
    "mi-f1": "micro-averaged F1",
    "ma-f1": "macro-averaged F1",
    "p@1": "precision@1",
    "p@3": "precision@3",
    "p@5": "precision@5",
    "map": "mean average precision",
    "subset-acc": "subset accuracy",
    "ranking-loss": "ranking loss",
    "coverage": "coverage",
    "one-error": "one-error",
    "macro-auc": "macro-averaged ROC AUC",
    "cp": "per-category precision (all scores)",
    "cr": "per-category recall (all scores)",
    "cf1": "per-category F1 (all scores)",
    "op": "overall precision (all scores)",
    "or": "overall recall (all scores)",
    "of1": "overall F1 (all scores)",
    **{f"{m}-top3": f"{desc} on top-3 scores" for m, desc in [
        ("cp", "per-category precision"), ("cr", "per-category recall"), ("cf1", "per-category F1"),
        ("op", "overall precision"), ("or", "overall recall"), ("of1", "overall F1")]},
    **{f"ap-{c}": f"average precision of VOC class '{c}'" for c in _VOC_CLASSES},
    **{f"emb-p@{k}": f"class-embedding retrieval precision@{k}" for k in (3, 5, 10, 15, 20)},
    **{f"emb-r@{k}": f"class-embedding retrieval recall@{k}" for k in (3, 5, 10, 15, 20)},
}

#: method ids used in the papers' tables (project ids first, then paper-specific ones)
METHODS: frozenset[str] = frozenset({
    "br", "mlknn", "haram", "sleec", "c2ae", "lamp", "mpvae", "cgmvae", "asl", "rbcc",
    "mulsupcon", "mulsupcon-all", "mulsupcon-any", "mulsupconld-rld", "mulsupconld-cld", "mulcon",
    "bce", "cgmvae-unigauss", "cgmvae-gm-only", "cgmvae-contrastive-only",
    # MulSupCon protocol variants
    "mulsupcon-linear", "mulsupcon-weighted",
    # MulCon comparisons and ablations
    "mulcon-576", "multi-evidence", "cadm", "ml-gcn", "kssnet", "ms-cma", "mcar", "ssgrl",
    "c-trans", "add-gcn", "fitnet", "attention-transfer", "s-cls", "srn", "bce-scl", "llen-bce",
    "llen-bce-llcl", "rdal", "rarl", "r101", "r101-srn", "q2l",
})

#: dataset ids; the image ones are not runnable by mlbench
DATASETS: frozenset[str] = frozenset({
    "mirflickr", "yeast", "scene", "bibtex", "delicious", "ebird", "nus-vec", "sider", "reuters",
    "fish", "mediamill", "bookmarks",
    # image datasets
    "coco", "voc2007", "nus-wide", "mirflickr-img", "objects365", "vg500",
})


@functools.lru_cache(maxsize=1)
def _load_results() -> pd.DataFrame:
    ref = resources.files(__name__).joinpath("results.csv")
    with ref.open("r", encoding="utf-8") as fh:
        df = pd.read_csv(
            fh,
            dtype={c: str for c in COLUMNS if c not in ("value", "std")},
            keep_default_na=False,
        )
    for col in ("value", "std"):
        df[col] = pd.to_numeric(df[col].replace("", float("nan")), errors="raise").astype(float)
    return df[COLUMNS]


@functools.lru_cache(maxsize=1)
def _load_layouts() -> dict:
    ref = resources.files(__name__).joinpath("layouts.json")
    with ref.open("r", encoding="utf-8") as fh:
        return json.load(fh)


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
    sel = df[(df["paper"] == paper) & (df["metric"] == metric) & (df["method"] == method)
             & (df["dataset"] == dataset)]
    if table is not None:
        sel = sel[sel["table"] == table]
    if sel.empty:
        return None
    order = {t: i for i, t in enumerate(paper_tables(paper))}
    sel = sel.assign(_order=sel["table"].map(order)).sort_values("_order")
    values = sel["value"].dropna()
    return float(values.iloc[0]) if len(values) else None
