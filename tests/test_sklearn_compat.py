"""The methods inside scikit-learn's own tools: clone, Pipeline, GridSearchCV, cross_val_score."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.datasets import make_multilabel_classification
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags

from mlbench.methods import create_method, get_method_class
from mlbench.methods.base import ParameterError


@pytest.fixture(scope="module")
def data():
    X, Y = make_multilabel_classification(n_samples=90, n_features=8, n_classes=4, random_state=0)
    return X, Y


def test_tags_clone_and_params():
    br = create_method("br", overrides={"C": "0.5"})
    assert is_classifier(br)
    tags = get_tags(br)
    assert tags.classifier_tags.multi_label and tags.target_tags.multi_output
    assert not tags.target_tags.single_output and tags.input_tags.sparse
    copy = clone(br)
    assert copy.get_params() == {"C": 0.5, "max_iter": 1000, "standardize": True, "n_jobs": 1}
    assert copy.set_params(C="2").hparams["C"] == 2.0  # --set-style strings are typed
    with pytest.raises(ValueError, match="unknown parameter 'c'"):
        copy.set_params(c=1.0)
    with pytest.raises(ValueError, match="expects a float"):
        copy.set_params(C="high")
    assert copy.hparams["C"] == 2.0  # a failed set_params changes nothing


def test_variant_fixed_params_survive_clone():
    cls = get_method_class("mulcon-joint")
    method = cls(epochs=1)
    assert clone(method).hparams["schedule"] == "joint"
    with pytest.raises(ParameterError, match="fixed to 'joint'"):
        method.set_params(schedule="two-stage")


def test_grid_search_and_cross_val_score_with_br(data):
    X, Y = data
    search = GridSearchCV(create_method("br"), {"C": [0.01, 1.0]}, scoring="f1_samples", cv=3)
    search.fit(X, Y)
    assert search.best_params_["C"] in (0.01, 1.0)
    assert search.best_estimator_.predict(X).shape == Y.shape
    for scoring in ("f1_samples", "f1_micro"):
        scores = cross_val_score(create_method("br"), X, Y, scoring=scoring, cv=3)
        assert scores.shape == (3,) and (scores > 0.3).all()


def test_score_is_subset_accuracy_and_predict_thresholds_at_half(data):
    X, Y = data
    br = create_method("br").fit(X, Y)
    assert br.predict(X).tolist() == (br.predict_proba(X) >= 0.5).astype(int).tolist()
    assert br.score(X, Y) == pytest.approx(accuracy_score(Y, br.predict(X)))
    assert br.score(X, Y) == pytest.approx(np.mean((br.predict(X) == Y).all(axis=1)))


def test_pipeline_and_cross_val_score_with_a_neural_method(data):
    X, Y = data
    bce = create_method("bce", overrides={"epochs": 2, "hidden": [8], "batch_size": 16})
    pipe = make_pipeline(StandardScaler(), bce).fit(X, Y)
    assert pipe.predict(X).shape == Y.shape
    scores = cross_val_score(clone(bce), X, Y, scoring="f1_micro", cv=2)
    assert np.isfinite(scores).all()


def test_neural_fit_without_validation_carves_a_seeded_stratified_part(data):
    from mlbench.data.splits import iterative_stratification
    from mlbench.methods.base import FitContext

    X, Y = data
    params = {"epochs": 3, "hidden": [8], "batch_size": 16}
    a = create_method("bce", overrides=params).fit(X, Y, context=FitContext(seed=3, progress=False))
    b = create_method("bce", overrides=params).fit(X, Y, context=FitContext(seed=3, progress=False))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))  # same seed, same part
    train, val = iterative_stratification(Y, (0.9, 0.1), np.random.default_rng(3))
    assert a.train_[0].shape[0] == len(train) == 81 and a.val_[0].shape[0] == len(val) == 9
    assert a.selected_threshold_ is not None  # model selection ran on the carved part
    # The same result as giving that part explicitly.
    c = create_method("bce", overrides=params).fit(
        X[train], Y[train], X[val], Y[val], context=FitContext(seed=3, progress=False)
    )
    np.testing.assert_array_equal(a.predict_proba(X), c.predict_proba(X))


def test_bad_labels_are_one_line_errors(data):
    X, Y = data
    with pytest.raises(ParameterError, match="0/1 multi-label indicator matrix"):
        create_method("br").fit(X, Y * 2)
    with pytest.raises(ParameterError, match="reshape one binary label"):
        create_method("br").fit(X, Y[:, 0])
