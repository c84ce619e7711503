"""Tests for mlbench.metrics: hand-computed values, scikit-learn agreement, paper definitions, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from mlbench import metrics as M
from mlbench.errors import MlbenchError

# ------------------------------------------------------------------------------------------------
# Tiny hand-computed case for threshold metrics (3 samples x 4 labels)
#
#   y_true          y_pred
#   [1 0 1 0]       [1 1 0 0]     sample 0: tp=1 (label 0), fp=1 (label 1), fn=1 (label 2)
#   [0 1 0 0]       [0 1 0 0]     sample 1: perfect
#   [0 0 0 0]       [0 0 0 0]     sample 2: no true and no predicted label
#
# per label: l0 tp=1 fp=0 fn=0 | l1 tp=1 fp=1 fn=0 | l2 tp=0 fp=0 fn=1 | l3 all zero (no positives,
# nothing predicted)
# ------------------------------------------------------------------------------------------------
Y_T = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
Y_P = np.array([[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]])


def test_hamming_accuracy_hand():
    # 2 wrong cells (sample 0, labels 1 and 2) out of 3*4 = 12 -> 1 - 2/12
    assert M.hamming_accuracy(Y_T, Y_P) == pytest.approx(1 - 2 / 12)
    assert M.paper_hamming_accuracy(Y_T, Y_P) == pytest.approx(1 - 2 / 12)


def test_subset_accuracy_hand():
    # samples 1 and 2 match exactly -> 2/3
    assert M.subset_accuracy(Y_T, Y_P) == pytest.approx(2 / 3)
    assert M.paper_subset_accuracy(Y_T, Y_P) == pytest.approx(2 / 3)


def test_example_f1_hand():
    # sample 0: 2*1/(2+2) = 0.5; sample 1: 2*1/(1+1) = 1; sample 2: empty/empty -> zero_division
    # honest, default zero_division=0: (0.5 + 1 + 0)/3; with zero_division=1: (0.5 + 1 + 1)/3
    assert M.example_f1(Y_T, Y_P) == pytest.approx(1.5 / 3)
    assert M.example_f1(Y_T, Y_P, zero_division=1) == pytest.approx(2.5 / 3)


def test_paper_example_f1_deletes_empty_samples():
    # sample 2 has |y| + |yhat| = 0 and is deleted: (0.5 + 1)/2 = 0.75
    assert M.paper_example_f1(Y_T, Y_P) == pytest.approx(0.75)
    # all samples empty -> every sample deleted -> nan (no warning)
    z = np.zeros((2, 3), dtype=int)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(M.paper_example_f1(z, z))
    assert M.example_f1(z, z) == 0.0
    assert M.example_f1(z, z, zero_division=1) == 1.0


def test_micro_f1_hand():
    # Σtp = 2, Σfp = 1, Σfn = 1 -> 2*2 / (2*2 + 1 + 1) = 4/6
    assert M.micro_f1(Y_T, Y_P) == pytest.approx(4 / 6)
    assert M.paper_micro_f1(Y_T, Y_P) == pytest.approx(4 / 6)
    z = np.zeros((2, 3), dtype=int)
    assert M.micro_f1(z, z) == 0.0  # nothing true, nothing predicted: zero_division (default 0)
    assert M.micro_f1(z, z, zero_division=1) == 1.0
    assert np.isnan(M.paper_micro_f1(z, z))  # official 0/0


def test_macro_f1_hand():
    # per label F1: l0 2/(2+0+0) = 1; l1 2/(2+1+0) = 2/3; l2 0/(0+0+1) = 0; l3 0/0 -> zero_division
    # honest, default 0: (1 + 2/3 + 0 + 0)/4; with zero_division=1: (1 + 2/3 + 0 + 1)/4 = 2/3
    assert M.macro_f1(Y_T, Y_P) == pytest.approx((1 + 2 / 3 + 0 + 0) / 4)
    assert M.macro_f1(Y_T, Y_P, zero_division=1) == pytest.approx((1 + 2 / 3 + 0 + 1) / 4)


def test_paper_macro_f1_eps_and_empty_labels():
    # paper: 2tp/(2tp+fp+fn+1e-6): l0 2/(2+1e-6), l1 2/(3+1e-6), l2 0, l3 0/(0+1e-6) = 0
    expected = (2 / (2 + 1e-6) + 2 / (3 + 1e-6) + 0 + 0) / 4
    got = M.paper_macro_f1(Y_T, Y_P)
    assert got == pytest.approx(expected, abs=1e-12)
    # the 1e-6 is visible: a perfect prediction does not reach 1
    y = np.array([[1, 0], [0, 1]])
    assert M.paper_macro_f1(y, y) == pytest.approx(2 / (2 + 1e-6), abs=1e-12)
    assert M.paper_macro_f1(y, y) < 1.0
    assert M.macro_f1(y, y) == 1.0


def test_macro_f1_label_without_positives_but_predicted_is_zero():
    y = np.array([[1, 0], [1, 0]])
    p = np.array([[1, 1], [1, 0]])  # label 1: no positives, one false positive -> F1 0
    # label 0: 1; label 1: 0 -> mean 0.5, whatever zero_division (not a 0/0 label)
    for z in (0, 1):
        assert M.macro_f1(y, p, zero_division=z) == pytest.approx(0.5)
        assert skm.f1_score(y, p, average="macro", zero_division=z) == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------------
# Tiny hand-computed case for ranking metrics (3 samples x 4 labels)
#
#   y_true          scores
#   [1 0 1 0]       [0.9 0.8 0.3 0.1]
#   [0 1 0 0]       [0.5 0.5 0.2 0.1]   <- tie between labels 0 and 1 at the top
#   [0 0 0 0]       [0.4 0.3 0.2 0.1]   <- no true label
# ------------------------------------------------------------------------------------------------
R_T = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
R_S = np.array([[0.9, 0.8, 0.3, 0.1], [0.5, 0.5, 0.2, 0.1], [0.4, 0.3, 0.2, 0.1]])


def test_precision_at_k_hand():
    # p@1: s0 top = label 0 (relevant) -> 1; s1 tie 0.5/0.5, lower index first -> label 0 (not
    # relevant) -> 0; s2 skipped (no labels). mean over 2 samples = 0.5
    assert M.precision_at_k(R_T, R_S, 1) == pytest.approx(0.5)
    # p@3: s0 top3 = {0,1,2} -> 2 relevant -> 2/3; s1 top3 = {0,1,2} -> 1/3; mean = 0.5
    assert M.precision_at_k(R_T, R_S, 3) == pytest.approx(0.5)
    # p@5 with L = 4: denominator stays 5: s0 2/5, s1 1/5 -> 0.3
    assert M.precision_at_k(R_T, R_S, 5) == pytest.approx(0.3)


def test_precision_at_k_tie_break_lower_index_first():
    y = np.array([[0, 1, 0], [1, 0, 0]])
    s = np.array([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]])
    # all tied: label 0 ranks first -> s0 miss, s1 hit
    assert M.precision_at_k(y, s, 1) == pytest.approx(0.5)
    # top-2 = labels {0,1}: s0 1/2, s1 1/2
    assert M.precision_at_k(y, s, 2) == pytest.approx(0.5)


def test_paper_precision_at_k_counts_labelless_samples_as_zero():
    # no ties in this case: s0 top = label 0 (hit), s1 top = label 0 (miss), s2 no labels -> 0
    s = np.array([[0.9, 0.8, 0.3, 0.1], [0.6, 0.5, 0.2, 0.1], [0.4, 0.3, 0.2, 0.1]])
    # honest: (1 + 0)/2 = 0.5 ; paper: (1 + 0 + 0)/3
    assert M.precision_at_k(R_T, s, 1) == pytest.approx(0.5)
    assert M.paper_precision_at_k(R_T, s, 1) == pytest.approx(1 / 3)
    # paper p@3: s0 2/3, s1 1/3, s2 0 -> 1/3
    assert M.paper_precision_at_k(R_T, s, 3) == pytest.approx(1 / 3)


def test_paper_precision_at_k_ties_follow_reversed_argsort():
    rng = np.random.default_rng(3)
    y = (rng.random((50, 7)) < 0.3).astype(int)
    s = np.round(rng.random((50, 7)), 1)  # many ties
    order = np.argsort(s, axis=1)[:, ::-1]
    for k in (1, 3, 5):
        expected = np.mean([y[i, order[i, :k]].sum() / k for i in range(50)])
        assert M.paper_precision_at_k(y, s, k) == pytest.approx(expected)


def test_one_error_hand():
    # s0 top label 0 relevant -> 0; s1 top (tie, lower index) label 0 not relevant -> 1; s2 skipped
    assert M.one_error(R_T, R_S) == pytest.approx(0.5)


def test_ranking_loss_hand():
    # s0: Y={0,2}, Ybar={1,3}: pairs (0,1) ok, (0,3) ok, (2,1) 0.3<=0.8 bad, (2,3) ok -> 1/4
    # s1: Y={1}, Ybar={0,2,3}: (1,0) 0.5<=0.5 tie counts bad, others ok -> 1/3
    # s2: skipped (no labels) -> (1/4 + 1/3)/2 = 7/24
    assert M.ranking_loss(R_T, R_S) == pytest.approx(7 / 24)


def test_coverage_hand():
    # s0: lowest relevant score 0.3; labels with score >= 0.3: 3 -> 3
    # s1: lowest relevant score 0.5; labels with score >= 0.5: 2 (tie counted) -> 2
    # s2 skipped -> 2.5 (1-based, = sklearn coverage_error on samples with labels)
    assert M.coverage(R_T, R_S) == pytest.approx(2.5)


def test_map_hand():
    # per label (columns): l0 y=[1,0,0] s=[.9,.5,.4] -> positive ranked 1st -> AP 1
    # l1 y=[0,1,0] s=[.8,.5,.3] -> positive 2nd: precision 1/2 -> AP 0.5
    # l2 y=[1,0,0] s=[.3,.2,.2] -> AP 1 ; l3 no positives
    # honest: l3 skipped -> (1 + 0.5 + 1)/3 ; paper: l3 counts AP 0 -> (1 + 0.5 + 1 + 0)/4
    assert M.mean_average_precision(R_T, R_S) == pytest.approx(2.5 / 3)
    assert M.paper_mean_average_precision(R_T, R_S) == pytest.approx(2.5 / 4)


def test_average_precision_with_ties_hand():
    # one label: y=[1,0,1,0], s=[.8,.8,.5,.1]
    # threshold .8: tp=1 fp=1 -> P=1/2, R=1/2 ; threshold .5: tp=2 fp=1 -> P=2/3, R=1
    # AP = (1/2 - 0)*1/2 + (1 - 1/2)*2/3 = 1/4 + 1/3 = 7/12
    y = np.array([[1], [0], [1], [0]])
    s = np.array([[0.8], [0.8], [0.5], [0.1]])
    assert M.mean_average_precision(y, s) == pytest.approx(7 / 12)
    assert skm.average_precision_score(y[:, 0], s[:, 0]) == pytest.approx(7 / 12)


def test_macro_auc_hand():
    # l0: pos .9 vs negs .5,.4 -> 1 ; l1: pos .5 vs negs .8,.3 -> 1/2 ; l2: pos .3 vs .2,.2 -> 1
    # l3: single class -> skipped -> (1 + .5 + 1)/3
    assert M.macro_auc(R_T, R_S) == pytest.approx(2.5 / 3)
    # ties count 1/2: y=[1,0,1,0], s=[.8,.8,.5,.1]: pos .8 -> (0.5 + 1); pos .5 -> (0 + 1)
    # AUC = 2.5/4
    y = np.array([[1], [0], [1], [0]])
    s = np.array([[0.8], [0.8], [0.5], [0.1]])
    assert M.macro_auc(y, s) == pytest.approx(0.625)


def test_undefined_ranking_metrics_are_nan():
    y = np.zeros((3, 2), dtype=int)
    s = np.full((3, 2), 0.3)
    for fn in (M.mean_average_precision, M.macro_auc, M.ranking_loss, M.coverage, M.one_error):
        assert np.isnan(fn(y, s))
    assert np.isnan(M.precision_at_k(y, s, 1))
    # paper definitions stay defined: p@1 = 0, mAP = 0
    assert M.paper_precision_at_k(y, s, 1) == 0.0
    assert M.paper_mean_average_precision(y, s) == 0.0
    # every label true: ranking-loss skips the sample; macro-auc has no single label with 2 classes
    ones = np.ones((3, 2), dtype=int)
    assert np.isnan(M.ranking_loss(ones, s))
    assert M.coverage(ones, s) == 2.0


# ------------------------------------------------------------------------------------------------
# Agreement with scikit-learn on random data (with a label without positives and a sample without
# labels, and ties)
# ------------------------------------------------------------------------------------------------


def _random_case(seed, n=60, L=8, decimals=2):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, L)) < 0.3).astype(int)
    y[:, 2] = 0  # a label without positives
    y[5] = 0  # a sample without labels
    y[7] = 1  # a sample with every label except the empty one
    y[7, 2] = 0
    s = np.round(rng.random((n, L)), decimals)  # rounding creates ties
    return y, s


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("t", [0.3, 0.5, 0.7])
@pytest.mark.parametrize("z", [0, 1])
def test_threshold_metrics_match_sklearn(seed, t, z):
    y, s = _random_case(seed)
    p = (s >= t).astype(int)
    p[3] = 0  # a sample with labels but no prediction
    p[5] = 0  # y[5] is empty too: a 0/0 sample for every example-based metric
    p[6] = 1 - y[6]  # nothing right: ex-precision, ex-recall, jaccard, ex-f1 all 0 (not 0/0)
    sk = dict(zero_division=z)
    assert M.example_f1(y, p, zero_division=z) == pytest.approx(skm.f1_score(y, p, average="samples", **sk))
    assert M.micro_f1(y, p, zero_division=z) == pytest.approx(skm.f1_score(y, p, average="micro", **sk))
    assert M.macro_f1(y, p, zero_division=z) == pytest.approx(skm.f1_score(y, p, average="macro", **sk))
    assert M.jaccard(y, p, zero_division=z) == pytest.approx(skm.jaccard_score(y, p, average="samples", **sk))
    assert M.example_precision(y, p, zero_division=z) == pytest.approx(
        skm.precision_score(y, p, average="samples", **sk)
    )
    assert M.example_recall(y, p, zero_division=z) == pytest.approx(skm.recall_score(y, p, average="samples", **sk))
    assert M.hamming_accuracy(y, p) == pytest.approx(1 - skm.hamming_loss(y, p))
    assert M.hamming_loss(y, p) == pytest.approx(skm.hamming_loss(y, p))
    assert M.subset_accuracy(y, p) == pytest.approx(skm.accuracy_score(y, p))


@pytest.mark.parametrize("seed", range(5))
def test_ranking_metrics_match_sklearn(seed):
    y, s = _random_case(seed)
    has = y.sum(1) > 0
    ok = has & (y.sum(1) < y.shape[1])
    # sklearn averages label-less (and all-label) samples in as 0; we skip them
    assert M.ranking_loss(y, s) == pytest.approx(skm.label_ranking_loss(y[ok], s[ok]))
    assert M.coverage(y, s) == pytest.approx(skm.coverage_error(y[has], s[has]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about the label without positives
        ap = skm.average_precision_score(y, s, average=None)
    pos = y.sum(0) > 0
    assert M.mean_average_precision(y, s) == pytest.approx(np.mean(ap[pos]))
    both = pos & (y.sum(0) < len(y))
    aucs = [skm.roc_auc_score(y[:, j], s[:, j]) for j in np.flatnonzero(both)]
    assert M.macro_auc(y, s) == pytest.approx(np.mean(aucs))
    # p@k against an explicit stable sort
    order = np.argsort(-s, axis=1, kind="stable")
    for k in (1, 3, 5):
        hits = np.array([y[i, order[i, :k]].sum() for i in range(len(y))])
        assert M.precision_at_k(y, s, k) == pytest.approx(np.mean(hits[has] / k))
    assert M.one_error(y, s) == pytest.approx(1 - M.precision_at_k(y, s, 1))


def test_paper_map_matches_sklearn_mean_over_all_labels():
    y, s = _random_case(11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ap = skm.average_precision_score(y, s, average=None)
    ap = np.nan_to_num(ap, nan=0.0)  # old sklearn gave nan for the empty label; current gives 0
    assert M.paper_mean_average_precision(y, s) == pytest.approx(np.mean(ap))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning leaks from our implementation
        M.paper_mean_average_precision(y, s)


# ------------------------------------------------------------------------------------------------
# Paper definitions against a literal loop transcription of the official formulas
# ------------------------------------------------------------------------------------------------


def _official_like(y, s, t):
    p = (s >= t).astype(int)
    n, L = y.shape
    f1s = []
    for i in range(n):
        tp = int((y[i] * p[i]).sum())
        den = y[i].sum() + p[i].sum()
        if den != 0:  # samples with |y|+|yhat| = 0 are deleted
            f1s.append(2 * tp / den)
    tp = (y * p).sum(0)
    fp = ((1 - y) * p).sum(0)
    fn = (y * (1 - p)).sum(0)
    ma = np.mean([2 * tp[j] / (2 * tp[j] + fp[j] + fn[j] + 1e-6) for j in range(L)])
    mi = 2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum())
    ha = 1 - np.mean([np.mean(np.logical_xor(y[i], p[i])) for i in range(n)])
    order = np.argsort(s, axis=1)[:, ::-1]
    p1 = np.mean([y[i, order[i, :1]].sum() / 1 for i in range(n)])
    return {"ex-f1": np.mean(f1s), "ma-f1": ma, "mi-f1": mi, "ha": ha, "p@1": p1}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("t", [0.1, 0.5, 0.9])
def test_paper_definitions_match_official_formulas(seed, t):
    y, s = _random_case(seed)
    got = M.compute_metrics(y, s, t, ["ex-f1", "ma-f1", "mi-f1", "ha", "p@1"], definitions="paper")
    exp = _official_like(y, s, t)
    for m, v in exp.items():
        assert got[m] == pytest.approx(v, abs=1e-12), m


# ------------------------------------------------------------------------------------------------
# compute_metrics, registry, binarization
# ------------------------------------------------------------------------------------------------


def test_compute_metrics_all_ids_and_order():
    y, s = _random_case(0)
    out = M.compute_metrics(y, s, 0.5)
    assert list(out) == list(M.METRIC_IDS)
    assert len(M.METRIC_IDS) == 17
    p = (s >= 0.5).astype(int)
    for mid, spec in M.METRICS.items():
        direct = spec.fn(y, p) if spec.needs_threshold else spec.fn(y, s)
        assert out[mid] == pytest.approx(direct, nan_ok=True), mid
        assert isinstance(out[mid], float)


def test_compute_metrics_per_label_thresholds():
    y, s = _random_case(1)
    t = np.linspace(0.2, 0.8, y.shape[1])
    p = (s >= t).astype(int)
    out = M.compute_metrics(y, s, t, ["ma-f1", "ha"])
    assert out["ma-f1"] == pytest.approx(M.macro_f1(y, p))
    assert out["ha"] == pytest.approx(M.hamming_accuracy(y, p))


def test_compute_metrics_metric_ids_string_and_case():
    y, s = _random_case(2)
    out = M.compute_metrics(y, s, 0.5, "MA-F1, p@1")
    assert list(out) == ["ma-f1", "p@1"]


def test_paper_definitions_for_ranking_extras_are_honest():
    y, s = _random_case(3)
    ids = ["ranking-loss", "coverage", "one-error", "macro-auc"]
    assert M.compute_metrics(y, s, 0.5, ids, definitions="paper") == M.compute_metrics(y, s, 0.5, ids)


def test_binarize_float32_like_official_code():
    # float32(0.7) = 0.69999999 < 0.7 in float64, but numpy compares a float32 array with a Python
    # float in float32 (as in the official code), where it equals 0.7 -> predicted positive
    s = np.array([[0.7, 0.3]], dtype=np.float32)
    assert M.binarize(s, 0.7).tolist() == [[True, False]]
    assert M.compute_metrics(np.array([[1, 0]]), s, 0.7, ["subset-acc"])["subset-acc"] == 1.0


def test_registry_and_get_metric():
    assert set(M.METRICS) == {
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
        "hamming-loss",
        "jaccard",
        "ex-precision",
        "ex-recall",
    }
    assert set(M.PAPER_METRICS) == set(M.METRICS)
    assert M.get_metric("MAP").display_name == "mAP"
    assert not M.get_metric("coverage").higher_is_better
    assert M.get_metric("ma-f1").needs_threshold and not M.get_metric("p@1").needs_threshold
    assert M.get_metric("ex-f1", definitions="paper").fn is M.paper_example_f1
    with pytest.raises(MlbenchError, match="mi-f1"):
        M.get_metric("mif1")
    with pytest.raises(MlbenchError, match="unknown metric"):
        M.get_metric("accuracy-of-everything")
    with pytest.raises(MlbenchError, match="definitions"):
        M.compute_metrics(Y_T, R_S, 0.5, definitions="papers")


# ------------------------------------------------------------------------------------------------
# Input validation
# ------------------------------------------------------------------------------------------------


def test_shape_mismatch_message():
    with pytest.raises(MlbenchError, match=r"scores has shape \(5, 3\) but y_true has shape \(5, 4\)"):
        M.compute_metrics(np.zeros((5, 4)), np.zeros((5, 3)), 0.5)
    with pytest.raises(MlbenchError, match=r"y_pred has shape"):
        M.macro_f1(np.zeros((5, 4)), np.zeros((4, 4)))


@pytest.mark.parametrize(
    "y, s, pattern",
    [
        (np.zeros((2, 2)), np.array([[0.1, np.nan], [0.2, 0.3]]), "scores contains 1 NaN"),
        (np.zeros((2, 2)), np.array([[0.1, np.inf], [0.2, 0.3]]), "infinite"),
        (np.zeros((2, 2)), np.array([[0.1, 1.5], [0.2, 0.3]]), r"scores must be probabilities in \[0, 1\]"),
        (np.zeros((2, 2)), np.array([[-0.1, 0.5], [0.2, 0.3]]), "probabilities"),
        (np.array([[0, 2], [1, 0]]), np.full((2, 2), 0.5), "y_true must contain only 0 and 1, found 2"),
        (np.array([[0, np.nan], [1, 0]]), np.full((2, 2), 0.5), "y_true contains 1 NaN"),
        (np.zeros(4), np.zeros(4), "y_true must be a 2-D"),
        (np.zeros((0, 3)), np.zeros((0, 3)), "empty"),
        (np.array([["a", "b"]]), np.zeros((1, 2)), "numeric"),
    ],
)
def test_bad_inputs(y, s, pattern):
    with pytest.raises(MlbenchError, match=pattern) as e:
        M.compute_metrics(y, s, 0.5)
    assert "\n" not in str(e.value)


def test_bad_thresholds_and_k():
    y, s = _random_case(0)
    with pytest.raises(MlbenchError, match="threshold"):
        M.compute_metrics(y, s, 1.5)
    with pytest.raises(MlbenchError, match="shape"):
        M.compute_metrics(y, s, np.full(3, 0.5))
    with pytest.raises(MlbenchError, match="positive integer"):
        M.precision_at_k(y, s, 0)
    with pytest.raises(MlbenchError, match="y_pred must contain only 0 and 1"):
        M.example_f1(y, s)


def test_accepts_bool_and_int_inputs():
    y = np.array([[True, False], [False, True]])
    s = np.array([[1, 0], [0, 1]])  # integer scores in [0, 1]
    assert M.compute_metrics(y, s, 0.5, ["ha", "map"]) == {"ha": 1.0, "map": 1.0}
