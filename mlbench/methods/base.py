"""The estimator contract every method follows, and the registry it fills (:data:`METHODS`).

Every method, classic or neural, is a scikit-learn estimator (``ClassifierMixin`` +
``BaseEstimator``, multi-label tags): ``fit(X, Y, X_val, Y_val)`` (the validation arrays are
optional) then ``predict_proba(X)`` returning per-label probabilities in [0, 1], ``predict``
thresholding them at 0.5 and ``score`` returning subset accuracy, as scikit-learn's multi-label
classifiers do (:doc:`docs/plugins.md`). Hyperparameters are
declared once in the class attribute ``params`` (name -> default); their types are taken from the
defaults, so ``--set key=value`` on the command line and ``[params]`` in a TOML config are
validated in one place. Per-dataset settings from the papers live in ``dataset_params``.

A method (or a variant of one: an ablation, a preset) is added by decorating its class with
:func:`register_method`, or by :func:`register_variant`; the CLI, the tables and the tests
discover it through :data:`METHODS`. Looking a method up (``get_method_class``,
``create_method``) lives in :mod:`mlbench.methods.registry`, which also loads the plugins; this
module imports neither, so the plugin module can subclass :class:`MultiLabelMethod` without a
cycle.
"""

from __future__ import annotations

import copy
import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin

from mlbench.errors import MlbenchError, suggest

METHODS: dict[str, type[MultiLabelMethod]] = {}


@dataclass
class FitContext:
    """Where and how a fit runs. Methods that do not train iteratively ignore most of it."""

    seed: int = 0
    device: str = "cpu"
    run_dir: Path | None = None  # checkpoints and per-epoch logs go here when set
    progress: bool = True  # show a progress bar
    label: str = ""  # names the run on its progress bar, e.g. "run 4/9 · bce · yeast · seed 1"
    resume: bool = False  # continue from the checkpoint in run_dir
    log: list[dict[str, Any]] = field(default_factory=list)  # per-epoch records, filled by the loop
    config_hash: str | None = None  # the run's settings hash, written into checkpoints and models


class ParameterError(MlbenchError, ValueError):
    """A bad hyperparameter: one line on the command line, a ValueError for scikit-learn (whose
    ``set_params``/``GridSearchCV`` conventions expect one)."""


class MultiLabelMethod(ClassifierMixin, BaseEstimator):
    """Base class: declare ``id``, ``display_name`` and ``params``; implement ``fit`` and
    ``predict_proba``.

    The hyperparameters are the keyword arguments of the constructor (``get_params`` lists
    ``params``, ``clone``/``GridSearchCV`` work); they are validated by :func:`coerce_param` when
    set, and a variant's ``fixed_params`` cannot be changed. The ``fit`` and ``predict_proba``
    a subclass defines are wrapped (see ``__init_subclass__``) with scikit-learn's input checks,
    so every method rejects NaN, wrong feature counts or non-0/1 labels the same way.
    """

    id: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    is_neural: ClassVar[bool] = False
    params: ClassVar[dict[str, Any]] = {}
    # Allowed values beside the types, e.g. {"epochs": ">= 1", "dropout": "[0, 1)",
    # "batch_size": "-1 or >= 1"}; a list is checked element by element. Merged over the base
    # classes (see param_range), so a subclass declares only what it adds or changes.
    param_ranges: ClassVar[dict[str, str]] = {}
    dataset_params: ClassVar[dict[str, dict[str, Any]]] = {}
    fixed_params: ClassVar[dict[str, Any]] = {}  # set by register_variant; not overridable
    # Tiny settings (few epochs, narrow layers) under which the scikit-learn checks
    # (tests/test_sklearn_checks.py) fit in a second; merged over ``params``.
    test_params: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        resolved = copy.deepcopy(self.params)
        resolved.update(self.fixed_params)
        resolved.update(_checked_params(type(self), params))
        # Private so scikit-learn sees no attribute set in __init__ but the parameters
        # (check_no_attributes_set_in_init); ``hparams`` reads it.
        self._hparams: dict[str, Any] = resolved

    @property
    def hparams(self) -> dict[str, Any]:
        """The resolved hyperparameters (defaults <- constructor arguments, fixed ones pinned)."""
        return self._hparams

    @hparams.setter
    def hparams(self, value: dict[str, Any]) -> None:
        self._hparams = value

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Wrapping here, not asking every method to call a helper, keeps the input contract in
        # one place for built-in, plugin and future methods alike.
        super().__init_subclass__(**kwargs)
        if "fit" in cls.__dict__ and not getattr(cls.fit, "_mlbench_checked", False):
            cls.fit = _checked_fit(cls.__dict__["fit"])
        if "predict_proba" in cls.__dict__ and not getattr(cls.predict_proba, "_mlbench_checked", False):
            cls.predict_proba = _checked_predict_proba(cls.__dict__["predict_proba"])

    # -- scikit-learn API ----------------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return dict(self._hparams)

    def set_params(self, **params: Any) -> MultiLabelMethod:
        self._hparams.update(_checked_params(type(self), params))  # all validated, then set
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False  # Y must be an (n, L) 0/1 matrix, even for L = 1
        tags.classifier_tags.multi_label = True
        tags.classifier_tags.multi_class = False
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "n_features_in_")

    def fit(
        self,
        X: np.ndarray | sp.csr_matrix,
        Y: np.ndarray,
        X_val: np.ndarray | sp.csr_matrix | None = None,
        Y_val: np.ndarray | None = None,
        context: FitContext | None = None,
    ) -> MultiLabelMethod:
        raise NotImplementedError

    def predict_proba(self, X: np.ndarray | sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError

    def predict(self, X: np.ndarray | sp.csr_matrix, threshold: float = 0.5) -> np.ndarray:
        """The (n, L) 0/1 label matrix: ``predict_proba(X) >= threshold`` (0.5 by default)."""
        return (self.predict_proba(X) >= threshold).astype(np.int64)

    # ``score`` is ClassifierMixin's: accuracy_score of predict(X) against Y, which on (n, L)
    # indicator matrices is subset accuracy (the fraction of rows whose label set is exact),
    # what scikit-learn's multi-label classifiers return.

    # -- optional hooks -----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Persist the fitted model (neural methods save their selected checkpoint)."""

    def extras(self) -> dict[str, np.ndarray]:
        """Arrays worth keeping beside the scores (e.g. C-GMVAE's label embeddings)."""
        return {}


def _checked_params(cls: type[MultiLabelMethod], params: dict[str, Any]) -> dict[str, Any]:
    """``params`` validated by :func:`coerce_param`; a variant's fixed ones may only be restated."""
    out = {}
    for key, value in params.items():
        value = coerce_param(cls, key, value)
        if key in cls.fixed_params and value != cls.fixed_params[key]:
            raise ParameterError(
                f"parameter {key!r} is fixed to {cls.fixed_params[key]!r} by the variant "
                f"{cls.id!r}; use the base method to change it."
            )
        out[key] = value
    return out


def check_labels(Y, n_rows: int | None = None, what: str = "Y"):
    """``Y`` as a 2-D (n, L) 0/1 array or sparse matrix; anything else is a ValueError naming
    the fix (a 1-D or multi-class target is not multi-label data)."""
    from sklearn.utils import check_array

    if Y is None:
        raise ParameterError(
            "this method requires y to be passed, but the target y is None; give Y, the "
            "(n_samples, n_labels) 0/1 label matrix."
        )
    try:
        Y = check_array(
            Y,
            accept_sparse="csr",
            ensure_2d=False,
            dtype=None,
            input_name=what,
            ensure_all_finite=True,
            ensure_min_samples=0,
        )
    except TypeError as exc:
        raise ParameterError(f"{what} must be an (n_samples, n_labels) 0/1 matrix: {exc}") from None
    if Y.ndim != 2:
        from sklearn.utils.multiclass import type_of_target

        kind = type_of_target(Y) if Y.ndim == 1 else f"{Y.ndim}-D"
        raise ParameterError(
            f"{what} must be an (n_samples, n_labels) 0/1 label matrix, got a {kind} target of "
            f"shape {Y.shape} (a class vector is not multi-label data); reshape one binary label to (n, 1) "
            "or binarise label lists with sklearn.preprocessing.MultiLabelBinarizer."
        )
    values = Y.data if sp.issparse(Y) else Y
    # two comparisons, not np.unique (0.17 s on delicious's 12884 x 983 labels, ~5 % of MLkNN there)
    if values.dtype.kind not in "biuf" or not ((values == 0) | (values == 1)).all():
        values = np.unique(values)
        raise ParameterError(
            f"Unknown label type: {what} must be a 0/1 multi-label indicator matrix, found "
            f"values {values[:5].tolist()}; binarise it, e.g. with "
            "sklearn.preprocessing.MultiLabelBinarizer."
        )
    if n_rows is not None and Y.shape[0] != n_rows:
        raise ParameterError(f"X has {n_rows} rows but {what} has {Y.shape[0]}.")
    return Y


def _checked_fit(fit):
    @functools.wraps(fit)
    def wrapper(self, X, Y, X_val=None, Y_val=None, context=None):
        from sklearn.utils.validation import validate_data

        X = validate_data(self, X, reset=True, accept_sparse="csr")
        Y = check_labels(Y, X.shape[0])
        if Y_val is not None:
            X_val = validate_data(self, X_val, reset=False, accept_sparse="csr", ensure_min_samples=0)
            Y_val = check_labels(Y_val, X_val.shape[0], "Y_val")
            if Y_val.shape[1] != Y.shape[1]:
                raise ParameterError(f"Y_val has {Y_val.shape[1]} labels but Y has {Y.shape[1]}.")
        n_features = self.n_features_in_
        fit(self, X, Y, X_val, Y_val, context=context)
        self.n_features_in_ = n_features  # a nested checked fit (super().fit) must not undo it
        self.n_labels_ = Y.shape[1]
        self.classes_ = np.arange(Y.shape[1])  # as MLPClassifier in multi-label mode
        return self

    wrapper._mlbench_checked = True
    return wrapper


def _checked_predict_proba(predict_proba):
    @functools.wraps(predict_proba)
    def wrapper(self, X):
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse="csr", ensure_min_samples=0)
        if X.shape[0] == 0:  # StandardScaler, forests, k-NN and some torch reshapes refuse 0 rows
            return np.zeros((0, self.n_labels_))
        return predict_proba(self, X)

    wrapper._mlbench_checked = True
    return wrapper


def register_method(cls: type[MultiLabelMethod]) -> type[MultiLabelMethod]:
    """Class decorator adding ``cls`` to :data:`METHODS` under ``cls.id``."""
    if not cls.id or cls.id != cls.id.lower():
        raise ValueError(f"method id must be non-empty lower case: {cls.id!r}")
    if cls.id in METHODS and METHODS[cls.id] is not cls:
        raise ValueError(f"method id {cls.id!r} registered twice")
    for key, constraint in vars(cls).get("param_ranges", {}).items():  # a typo fails at import
        if key not in cls.params:
            raise ValueError(f"{cls.id!r} declares a range for unknown parameter {key!r}")
        _satisfies(0, constraint)
    METHODS[cls.id] = cls
    return cls


def register_variant(base: type[MultiLabelMethod], id: str, display_name: str, **fixed: Any) -> type[MultiLabelMethod]:
    """Register ``base`` with some hyperparameters pinned (an ablation or a preset) as ``id``."""
    for key in fixed:
        if key not in base.params:
            raise ValueError(f"variant {id!r} pins unknown parameter {key!r} of {base.id!r}")
    name = base.__name__ + "_" + id.replace("-", "_")
    variant = type(
        name,
        (base,),
        {
            "id": id,
            "display_name": display_name,
            "fixed_params": {**base.fixed_params, **fixed},
            "__module__": base.__module__,
            "__qualname__": name,
        },
    )
    # Reachable as <module>.<name>, so pickle (joblib workers, GridSearchCV n_jobs) finds it.
    setattr(sys.modules[base.__module__], name, variant)
    return register_method(variant)


def coerce_param(cls: type[MultiLabelMethod], key: str, value: Any) -> Any:
    """Validate ``value`` for hyperparameter ``key`` of ``cls``: strings (from --set) are parsed
    to the default's type, then checked against the declared range (:func:`param_range`)."""
    value = _coerce_type(cls, key, value)
    constraint = param_range(cls, key)
    if constraint is not None and not _satisfies(value, constraint):
        raise MlbenchError(
            f"parameter {key!r} of method {cls.id!r} must be "
            + " or ".join(("in " if alt.strip()[:1] in "[(" else "") + alt.strip() for alt in constraint.split(" or "))
            + f"{' (each element)' if isinstance(value, (list, tuple)) else ''}, got {value!r}; "
            f"set another value with --set {key}=VALUE."
        )
    return value


def all_param_ranges(cls: type[MultiLabelMethod]) -> dict[str, str]:
    """The declared ranges of ``cls`` and its bases, the most derived class winning."""
    merged: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        merged.update(vars(klass).get("param_ranges", {}))
    return merged


def param_range(cls: type[MultiLabelMethod], key: str) -> str | None:
    return all_param_ranges(cls).get(key)


_COMPARISONS = {">=": float.__ge__, ">": float.__gt__, "<=": float.__le__, "<": float.__lt__}


def _satisfies(value: Any, constraint: str) -> bool:
    """Whether the number (or every number of the list) ``value`` meets ``constraint``: one or
    more of '>= a', '> a', '<= a', '< a', an interval '[a, b)' or a literal 'a', joined by 'or'.
    Non-numbers (strings, None, booleans) are left to the method's own checks."""
    if isinstance(value, (list, tuple)):
        return all(_satisfies(v, constraint) for v in value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    x = float(value)
    for alternative in constraint.split(" or "):
        text = alternative.strip()
        for op in (">=", "<=", ">", "<"):
            if text.startswith(op):
                if _COMPARISONS[op](x, float(text[len(op) :])):
                    return True
                break
        else:
            if text[:1] in "[(" and text[-1:] in "])":
                low, high = (float(part) for part in text[1:-1].split(","))
                above = x >= low if text[0] == "[" else x > low
                below = x <= high if text[-1] == "]" else x < high
                if above and below:
                    return True
            elif x == float(text):
                return True
    return False


def _coerce_type(cls: type[MultiLabelMethod], key: str, value: Any) -> Any:
    if key not in cls.params:
        raise ParameterError(
            suggest(key, cls.params, "parameter").replace(".", f" for method {cls.id!r}.", 1)
            + " Set parameters with --set key=value."
        )
    default = cls.params[key]
    if default is None and isinstance(value, str):
        return _literal(value)  # e.g. an outside estimator's max_depth=None: --set max_depth=8
    if default is None or type(value) is type(default):
        return value
    kind = type(default)
    try:
        if kind is bool:
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
                return True
            if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            if isinstance(value, bool):
                raise ValueError
            return int(value) if not isinstance(value, str) else int(value, 10)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind is str:
            if not isinstance(value, str):
                raise ValueError
            return value
        if kind in (list, tuple):
            if isinstance(value, str):
                import json

                value = json.loads(value)
            return kind(value)
    except (ValueError, TypeError):
        pass
    raise ParameterError(
        f"parameter {key!r} of method {cls.id!r} expects a {kind.__name__} (default {default!r}), got {value!r}."
    )


def _literal(text: str) -> Any:
    """A --set string for a parameter whose default is None: a number, true/false, none, JSON
    list, else the string itself."""
    import json

    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return json.loads(text)
    except ValueError:
        return text
