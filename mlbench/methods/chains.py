"""The classic baselines reviewers ask for beyond the seed papers: ``cc``, ``ecc``, ``rf``,
``boomer``.

* ``cc``: a classifier chain (Read, Pfahringer, Holmes & Frank, "Classifier Chains for
  Multi-label Classification", ECML-PKDD 2009) of L2-regularised logistic regressions on
  standardised features, in a random label order drawn from the seed (scikit-learn's
  ``ClassifierChain``). Training feeds each link the true values of the earlier labels; at
  prediction each link gets the earlier links' 0/1 predictions (the paper's greedy inference).
* ``ecc``: the paper's ensemble of chains: 10 chains with random orders, their per-label
  probabilities averaged.
* ``rf``: scikit-learn's random forest fitted on the whole label matrix at once (its native
  multi-output trees), the positive-class probability of each label.
* ``boomer``: gradient-boosted multi-label rules (Rapp, Loza Mencía, Fürnkranz, Nguyen &
  Hüllermeier, "Learning Gradient Boosted Multi-label Classification Rules", ECML-PKDD 2020)
  from the maintained ``mlrl-boomer`` package (optional extra ``mlbench[boomer]``), with the
  package's defaults and its probability output.

A label constant in training (all 0 or all 1) gets that constant as its probability: no
classifier can be fitted on a single class. Choices the papers leave open are listed in
docs/methods-classic.md.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import StandardScaler

from mlbench.errors import MlbenchError
from mlbench.methods.base import FitContext, MultiLabelMethod, register_method
from mlbench.methods.classic import feature_matrix, label_matrix


class _ConstantLabels:
    """Splits off the labels that are constant in training; fills them back at predict time."""

    def __init__(self, Y: np.ndarray) -> None:
        positives = Y.sum(axis=0)
        self.n_labels = Y.shape[1]
        self.constant = np.where(positives == 0, 0.0, np.where(positives == len(Y), 1.0, np.nan))
        self.varying = np.flatnonzero(np.isnan(self.constant))

    def fill(self, proba_varying: np.ndarray) -> np.ndarray:
        out = np.empty((proba_varying.shape[0], self.n_labels))
        out[:, self.varying] = proba_varying
        fixed = ~np.isnan(self.constant)
        out[:, fixed] = self.constant[fixed]
        return np.clip(out, 0.0, 1.0)


def _seed(context: FitContext | None) -> int:
    return (context or FitContext()).seed


class _ScaledFeatures:
    """z-scores with the training statistics; sparse inputs are scaled without centring."""

    def _fit_scaler(self, X):
        self.scaler_ = None
        if self.hparams.get("standardize", False):
            self.scaler_ = StandardScaler(with_mean=not sp.issparse(X)).fit(X)
            X = self.scaler_.transform(X)
        return X

    def _scaled(self, X):
        X = feature_matrix(X)
        return self.scaler_.transform(X) if self.scaler_ is not None else X


@register_method
class ClassifierChainMethod(_ScaledFeatures, MultiLabelMethod):
    """One classifier chain of logistic regressions in a random order (Read et al. 2009)."""

    id = "cc"
    display_name = "CC"
    citation = "Read, Pfahringer, Holmes & Frank, Classifier Chains for Multi-label Classification, ECML-PKDD 2009"
    params = {"C": 1.0, "max_iter": 1000, "standardize": True, "n_chains": 1}

    def fit(self, X, Y, X_val=None, Y_val=None, context=None):
        from sklearn.linear_model import LogisticRegression
        from sklearn.multioutput import ClassifierChain

        n_chains = self.hparams["n_chains"]
        if n_chains < 1:
            raise MlbenchError(f"{self.id} needs n_chains >= 1, got {n_chains}; use --set n_chains=10.")
        X, Y = feature_matrix(X), label_matrix(Y)
        self.n_labels_ = Y.shape[1]
        self.labels_ = _ConstantLabels(Y)
        X = self._fit_scaler(X)
        Yv = Y[:, self.labels_.varying]
        # One integer per chain from the seed: the chains' orders differ, and are reproducible.
        states = np.random.default_rng(_seed(context)).integers(0, 2**31 - 1, size=n_chains)
        self.chains_ = []
        if Yv.shape[1] == 0:
            return self
        for state in states:
            base = LogisticRegression(C=self.hparams["C"], max_iter=self.hparams["max_iter"])
            chain = ClassifierChain(base, order="random", random_state=int(state))
            self.chains_.append(chain.fit(X, Yv))
        return self

    def predict_proba(self, X) -> np.ndarray:
        X = self._scaled(X)
        if not self.chains_:
            return self.labels_.fill(np.zeros((X.shape[0], 0)))
        proba = np.mean([chain.predict_proba(X) for chain in self.chains_], axis=0)
        return self.labels_.fill(np.asarray(proba, dtype=np.float64))

    @property
    def orders_(self) -> list[np.ndarray]:
        """The label order of each chain, as indices into the training label matrix."""
        return [self.labels_.varying[np.asarray(c.order_)] for c in self.chains_]


@register_method
class EnsembleClassifierChains(ClassifierChainMethod):
    """Ten classifier chains in random orders, per-label probabilities averaged (Read et al.
    2009's ECC; every chain sees the whole training set, see docs/methods-classic.md)."""

    id = "ecc"
    display_name = "ECC"
    params = {**ClassifierChainMethod.params, "n_chains": 10}
    test_params = {"n_chains": 2}


@register_method
class RandomForestMethod(MultiLabelMethod):
    """A random forest on the label matrix (one multi-output forest, each leaf storing the label
    frequencies of its training points), scikit-learn's defaults and trees.

    Each tree is scikit-learn's ``DecisionTreeClassifier``, grown with the seed and the bootstrap
    that ``RandomForestClassifier`` would give it, so the probabilities are the forest's (a test
    holds them to 1e-12). Why not the forest itself: a scikit-learn tree stores a dense
    (nodes, labels, 2) float64 array, 208 MB a tree on delicious (13,200 nodes, 983 labels) and
    about 21 GB for 100 trees, measured. Here a tree is kept as its split arrays and a sparse
    (nodes, labels) matrix of its leaves' P(label = 1): about 2 MB a tree on delicious.
    """

    id = "rf"
    display_name = "RF"
    citation = "Breiman, Random Forests, Machine Learning 2001 (scikit-learn's multi-output forest)"
    params = {"n_estimators": 100, "max_features": "sqrt", "min_samples_leaf": 1, "n_jobs": 1}
    test_params = {"n_estimators": 10}

    def fit(self, X, Y, X_val=None, Y_val=None, context=None):
        from joblib import Parallel, delayed

        X, Y = feature_matrix(X), label_matrix(Y)
        self.n_labels_ = Y.shape[1]
        max_features = self.hparams["max_features"]
        try:  # "sqrt", "log2", or a number: a fraction (0, 1] or a count
            max_features = float(max_features)
            max_features = int(max_features) if max_features > 1 else max_features
        except ValueError:
            pass
        # RandomForestClassifier's seeds: one draw of its random_state per tree, in order.
        forest_rng = np.random.RandomState(_seed(context))
        seeds = [forest_rng.randint(np.iinfo(np.int32).max) for _ in range(self.hparams["n_estimators"])]
        X = X.astype(np.float32)  # the trees' own dtype: converted once, not once a tree
        X = X.tocsc() if sp.issparse(X) else X
        grow = delayed(_grow_compact_tree)
        self.trees_ = Parallel(n_jobs=self.hparams["n_jobs"], prefer="threads")(
            grow(X, Y, seed, max_features, self.hparams["min_samples_leaf"]) for seed in seeds
        )
        return self

    def predict_proba(self, X) -> np.ndarray:
        X = feature_matrix(X).astype(np.float32)
        total = np.zeros((X.shape[0], self.n_labels_))
        for tree in self.trees_:  # in tree order, then one division: the forest's own sums
            total += tree.leaf_proba[tree.leaves(X)].toarray()
        return total / len(self.trees_)


class _CompactTree:
    """A fitted tree's split arrays and its leaves' P(label = 1) as a sparse (nodes, L) matrix."""

    def __init__(self, tree, Y: np.ndarray) -> None:
        t = tree.tree_
        self.left, self.right = t.children_left.copy(), t.children_right.copy()
        self.feature, self.threshold = t.feature.copy(), t.threshold.copy()
        leaf = self.left == -1
        # value[node, k] holds the class fractions of label k; a label constant in training has
        # a single class column, its probability of 1 is that constant.
        classes = tree.classes_ if tree.n_outputs_ > 1 else [tree.classes_]
        positive = np.zeros((t.node_count, Y.shape[1]))
        two_class = np.array([len(c) == 2 for c in classes])
        if two_class.any():
            positive[:, two_class] = t.value[:, two_class, 1]
        positive[:, ~two_class] = Y[0, ~two_class]
        positive[~leaf] = 0.0
        self.leaf_proba = sp.csr_matrix(positive)

    def leaves(self, X) -> np.ndarray:
        """The leaf each row of ``X`` (float32, dense or sparse) lands in: scikit-learn's
        ``Tree.apply`` (go left when ``x <= threshold``; inputs are finite, the base class
        checks), one tree level at a time for all rows."""
        X = X.tocsr() if sp.issparse(X) else X
        node = np.zeros(X.shape[0], dtype=np.intp)
        rows = np.flatnonzero(self.left[node] != -1)
        while rows.size:
            at = node[rows]
            x = X[rows, self.feature[at]]
            x = np.asarray(x, dtype=np.float32).ravel()
            node[rows] = np.where(x <= self.threshold[at], self.left[at], self.right[at])
            rows = rows[self.left[node[rows]] != -1]
        return node


def _grow_compact_tree(X, Y, seed: int, max_features, min_samples_leaf: int) -> _CompactTree:
    """One tree of RandomForestClassifier(random_state=...): its bootstrap drawn from ``seed``
    as counts (sample weights), its splits from ``seed`` too, as scikit-learn grows it."""
    from sklearn.tree import DecisionTreeClassifier

    n = X.shape[0]
    counts = np.bincount(np.random.RandomState(seed).randint(0, n, n), minlength=n).astype(np.float64)
    tree = DecisionTreeClassifier(max_features=max_features, min_samples_leaf=min_samples_leaf, random_state=seed)
    return _CompactTree(tree.fit(X, Y, sample_weight=counts), Y)


def _import_boomer():
    try:
        from mlrl.boosting import BoomerClassifier
    except ImportError:
        raise MlbenchError("boomer needs mlrl-boomer: pip install 'mlbench[boomer]'") from None
    return BoomerClassifier


@register_method
class BoomerMethod(MultiLabelMethod):
    """BOOMER (Rapp et al. 2020) from ``mlrl-boomer`` with the package's defaults (1000 rules,
    shrinkage 0.3, its automatic loss, head type and calibration); scores are its
    ``predict_proba`` marginal probabilities."""

    id = "boomer"
    display_name = "BOOMER"
    citation = (
        "Rapp, Loza Mencía, Fürnkranz, Nguyen & Hüllermeier, Learning Gradient Boosted "
        "Multi-label Classification Rules, ECML-PKDD 2020"
    )
    params = {"max_rules": 0, "shrinkage": 0.3}  # max_rules 0: the package's default

    def __init__(self, **params):
        super().__init__(**params)
        _import_boomer()  # fail at creation, before any data is loaded

    def fit(self, X, Y, X_val=None, Y_val=None, context=None):
        BoomerClassifier = _import_boomer()
        X, Y = feature_matrix(X), label_matrix(Y)
        self.n_labels_ = Y.shape[1]
        self.labels_ = _ConstantLabels(Y)
        # mlrl wants random_state >= 1.
        kwargs = {"random_state": _seed(context) + 1, "shrinkage": self.hparams["shrinkage"]}
        if self.hparams["max_rules"] > 0:
            kwargs["max_rules"] = self.hparams["max_rules"]
        self.model_ = None
        if self.labels_.varying.size:
            self.model_ = BoomerClassifier(**kwargs).fit(X, Y[:, self.labels_.varying].astype(np.uint8))
        return self

    def predict_proba(self, X) -> np.ndarray:
        X = feature_matrix(X)
        if self.model_ is None:
            return self.labels_.fill(np.zeros((X.shape[0], 0)))
        proba = self.model_.predict_proba(X)
        proba = proba.toarray() if sp.issparse(proba) else np.asarray(proba)
        proba = proba.astype(np.float64).reshape(X.shape[0], -1)
        if self.labels_.varying.size == 1 and proba.shape[1] == 2:
            # One varying label: mlrl-boomer answers as a binary classifier, (P(0), P(1)) columns
            # (mlrl-boomer 0.12.3; found by the contract suite's single-label test).
            proba = proba[:, 1:]
        return self.labels_.fill(proba)
