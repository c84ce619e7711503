"""The contract every registered method keeps, checked for each one at its tiny ``test_params``.

Parametrized over :func:`mlbench.methods.method_ids` when the tests are collected, so a new
method (built-in, variant or entry-point plug-in) is checked without writing a test:

* fit / predict_proba: (n, L) float scores, finite, in [0, 1]; ``predict`` thresholds them;
* determinism: the same seed twice gives identical scores (seeded as the runner seeds a run);
* save / load: ``save(path)`` then the class's ``load(path)`` predicts identically;
* resume (neural methods): a fit interrupted after an epoch and resumed from its checkpoint ends
  with the scores and the epoch log of an uninterrupted fit;
* degenerate labels: training rows with no positive label, a label with no positive in the
  training or validation part, and a single label: fit works, scores finite in [0, 1].

scikit-learn's estimator checks run separately (tests/test_sklearn_checks.py). What a method
cannot do is declared below as an expected failure with the reason (strict: once it starts
working the test reports XPASS and the entry must go); an optional dependency that is not
installed skips with the install command.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlbench.errors import MlbenchError
from mlbench.methods import FitContext, get_method_class, method_ids
from mlbench.methods.neural import CHECKPOINT, MODEL, seed_everything, torch_cpu_mode

SEED = 3
N_TRAIN, N_VAL, N_TEST, N_FEATURES, N_LABELS = 48, 16, 16, 6, 4

# Each known inability, keyed by (check, method id): the reason and the exception it raises.
EXPECTED_FAILURES: dict[tuple[str, str], tuple[str, type[BaseException]]] = {
    ("single_label", "rbcc"): (
        "RBCC learns a network over the labels; with one label it refuses (one-line error pointing to br)",
        MlbenchError,
    ),
}


def _no_model_file(cls) -> tuple[str, type[BaseException]] | None:
    """Classic methods keep no model file (``save`` is the base class's no-op, there is no
    ``load``); a run keeps their scores in scores.npz. Declared, so adding persistence to one
    turns its case into an XPASS to remove."""
    if not hasattr(cls, "load"):
        return (
            "classic methods persist no model: save() is a no-op and the class has no "
            "load(); runs keep their scores (scores.npz)",
            AttributeError,
        )
    return None


def _cases(check: str, neural_only: bool = False) -> list:
    out = []
    for method_id in method_ids():
        cls = get_method_class(method_id)
        marks = []
        try:
            cls(**cls.test_params)
        except MlbenchError as exc:  # an optional dependency (boomer's mlrl-boomer) is missing
            marks.append(pytest.mark.skip(reason=str(exc)))
        if neural_only and not cls.is_neural:
            continue
        expected = EXPECTED_FAILURES.get((check, method_id))
        if check == "save_load":
            expected = expected or _no_model_file(cls)
        if expected is not None:
            reason, raises = expected
            marks.append(pytest.mark.xfail(reason=reason, raises=raises, strict=True))
        out.append(pytest.param(method_id, marks=marks, id=method_id))
    return out


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # Tiny models: a second intra-op thread only adds contention on a busy 2-core machine. Its
    # own fixture, not conftest's: tests/test_extending_doc.py runs this file alone in a copy.
    with torch_cpu_mode(1):
        yield


def make_data(n_labels: int = N_LABELS, seed: int = 0):
    """Train / val / test parts of a small linear multi-label problem; every label has positives
    and negatives in the training part."""
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_VAL + N_TEST
    X = rng.normal(size=(n, N_FEATURES))
    Y = X @ rng.normal(size=(N_FEATURES, n_labels)) + 0.5 * rng.normal(size=(n, n_labels)) > 0.3
    Y = Y.astype(np.int64)
    Y[0], Y[1] = 1, 0  # both values of every label in training
    a, b = N_TRAIN, N_TRAIN + N_VAL
    return X[:a], Y[:a], X[a:b], Y[a:b], X[b:], Y[b:]


DATA = make_data()


def fit(method_id: str, data=DATA, seed: int = SEED, **context):
    """Fit as the runner does: the global RNGs seeded, then ``fit`` with a seeded FitContext."""
    cls = get_method_class(method_id)
    est = cls(**cls.test_params)
    X, Y, Xv, Yv, *_ = data
    ctx = FitContext(seed=seed, progress=False, **context)
    seed_everything(seed)
    est.fit(X, Y, Xv, Yv, context=ctx)
    return est, ctx


_FITTED: dict[str, tuple] = {}


def fitted(method_id: str):
    """One reference fit per method and test process, shared by the checks that only read it."""
    if method_id not in _FITTED:
        _FITTED[method_id] = fit(method_id)
    return _FITTED[method_id]


def assert_valid_scores(scores, n_rows: int, n_labels: int) -> None:
    assert isinstance(scores, np.ndarray) and scores.dtype.kind == "f", type(scores)
    assert scores.shape == (n_rows, n_labels)
    assert np.isfinite(scores).all()
    assert scores.min() >= 0.0 and scores.max() <= 1.0


def _epochs(log):
    return [{k: v for k, v in record.items() if k != "seconds"} for record in log]


@pytest.mark.parametrize("method_id", _cases("fit_predict"))
def test_fit_predict_shapes_and_range(method_id):
    est, _ = fitted(method_id)
    X_test = DATA[4]
    scores = est.predict_proba(X_test)
    assert_valid_scores(scores, N_TEST, N_LABELS)
    assert est.n_features_in_ == N_FEATURES
    labels = est.predict(X_test)
    assert labels.shape == (N_TEST, N_LABELS)
    assert np.array_equal(labels, (scores >= 0.5).astype(labels.dtype))
    assert est.predict_proba(X_test[:0]).shape == (0, N_LABELS)
    with pytest.raises(ValueError, match="features"):  # the shared input check
        est.predict_proba(X_test[:, :-1])


@pytest.mark.parametrize("method_id", _cases("determinism"))
def test_same_seed_same_scores(method_id):
    first, _ = fitted(method_id)
    np.random.seed(12345)  # leftover global RNG state must not matter: fit seeds it again
    torch.manual_seed(12345)
    again, _ = fit(method_id)
    X_test = DATA[4]
    assert np.array_equal(first.predict_proba(X_test), again.predict_proba(X_test))


@pytest.mark.parametrize("method_id", _cases("save_load"))
def test_save_then_load_predicts_the_same(method_id, tmp_path):
    est, _ = fitted(method_id)
    path = tmp_path / MODEL
    est.save(path)
    loaded = type(est).load(path)
    X_test = DATA[4]
    assert np.array_equal(loaded.predict_proba(X_test), est.predict_proba(X_test))
    assert loaded.hparams == est.hparams


@pytest.mark.parametrize("method_id", _cases("resume", neural_only=True))
def test_resume_after_interrupt_matches_uninterrupted(method_id, tmp_path):
    ref, ref_ctx = fitted(method_id)
    records = len(ref_ctx.log)
    assert records >= 2, "test_params should train at least 2 epochs, so a resume has work left"
    stop_at = records // 2  # interrupt after this many epoch records, across all stages
    seen = []

    def interrupt(stage, record):
        seen.append((stage, record["epoch"]))
        if len(seen) == stop_at:
            raise KeyboardInterrupt

    cls = get_method_class(method_id)
    est = cls(**cls.test_params)
    est.on_epoch_end = interrupt
    X, Y, Xv, Yv, X_test, _ = DATA
    seed_everything(SEED)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, Y, Xv, Yv, context=FitContext(seed=SEED, progress=False, run_dir=tmp_path))
    assert (tmp_path / CHECKPOINT).is_file() and not (tmp_path / MODEL).exists()

    resumed, ctx = fit(method_id, run_dir=tmp_path, resume=True)
    assert np.array_equal(resumed.predict_proba(X_test), ref.predict_proba(X_test))
    assert _epochs(ctx.log) == _epochs(ref_ctx.log)
    assert (tmp_path / MODEL).is_file() and not (tmp_path / CHECKPOINT).exists()


def degenerate_data():
    """Training rows without any positive label, and label 2 without positives anywhere."""
    X, Y, Xv, Yv, X_test, Y_test = make_data(seed=1)
    Y, Yv = Y.copy(), Yv.copy()
    Y[2:14] = 0  # label-less samples
    Y[:, 2] = 0  # a label with no positive in training ...
    Yv[:, 2] = 0  # ... nor in validation (model selection must cope)
    return X, Y, Xv, Yv, X_test, Y_test


@pytest.mark.parametrize("method_id", _cases("degenerate_labels"))
def test_label_less_samples_and_label_without_positives(method_id):
    data = degenerate_data()
    assert (data[1].sum(axis=1) == 0).sum() >= 12 and data[1][:, 2].sum() == 0
    est, _ = fit(method_id, data=data)
    assert_valid_scores(est.predict_proba(data[4]), N_TEST, N_LABELS)


@pytest.mark.parametrize("method_id", _cases("single_label"))
def test_single_label(method_id):
    data = make_data(n_labels=1, seed=2)
    est, _ = fit(method_id, data=data)
    assert_valid_scores(est.predict_proba(data[4]), N_TEST, 1)
