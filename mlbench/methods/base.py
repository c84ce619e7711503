"""The estimator contract every method follows, and the method registry.

Every method, classic or neural, is a scikit-learn style estimator: ``fit(X, Y, X_val, Y_val)``
then ``predict_proba(X)`` returning per-label probabilities in [0, 1]. Hyperparameters are
declared once in the class attribute ``params`` (name -> default); their types are taken from the
defaults, so ``--set key=value`` on the command line and ``[params]`` in a TOML config are
validated in one place. Per-dataset settings from the papers live in ``dataset_params``.

A method (or a variant of one: an ablation, a preset) is added by decorating its class with
:func:`register_method`, or by :func:`register_variant`; the CLI, the tables and the tests
discover it through :data:`METHODS`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from mlbench.errors import MlbenchError, suggest

METHODS: dict[str, type[MultiLabelMethod]] = {}


@dataclass
class FitContext:
    """Where and how a fit runs. Methods that do not train iteratively ignore most of it."""

    seed: int = 0
    device: str = "cpu"
    run_dir: Path | None = None  # checkpoints and per-epoch logs go here when set
    progress: bool = True  # show a progress bar
    resume: bool = False  # continue from the checkpoint in run_dir
    log: list[dict[str, Any]] = field(default_factory=list)  # per-epoch records, filled by the loop
    config_hash: str | None = None  # the run's settings hash, written into checkpoints and models


class MultiLabelMethod:
    """Base class: declare ``id``, ``display_name`` and ``params``; implement ``fit`` and
    ``predict_proba``."""

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

    def __init__(self, **params: Any) -> None:
        resolved = copy.deepcopy(self.params)
        resolved.update(self.fixed_params)
        for key, value in params.items():
            resolved[key] = coerce_param(type(self), key, value)
        self.hparams: dict[str, Any] = resolved
        self.n_labels_: int | None = None

    # -- scikit-learn style API -------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return dict(self.hparams)

    def set_params(self, **params: Any) -> MultiLabelMethod:
        for key, value in params.items():
            self.hparams[key] = coerce_param(type(self), key, value)
        return self

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
        return (self.predict_proba(X) >= threshold).astype(np.uint8)

    # -- optional hooks -----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Persist the fitted model (neural methods save their selected checkpoint)."""

    def extras(self) -> dict[str, np.ndarray]:
        """Arrays worth keeping beside the scores (e.g. C-GMVAE's label embeddings)."""
        return {}


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


def register_variant(
    base: type[MultiLabelMethod], id: str, display_name: str, **fixed: Any
) -> type[MultiLabelMethod]:
    """Register ``base`` with some hyperparameters pinned (an ablation or a preset) as ``id``."""
    for key in fixed:
        if key not in base.params:
            raise ValueError(f"variant {id!r} pins unknown parameter {key!r} of {base.id!r}")
    variant = type(
        base.__name__ + "_" + id.replace("-", "_"),
        (base,),
        {"id": id, "display_name": display_name, "fixed_params": {**base.fixed_params, **fixed}},
    )
    return register_method(variant)


_builtins_loaded = False


def _load_builtin_methods() -> None:
    """Import every module of :mod:`mlbench.methods` once; their decorators fill METHODS."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name != "base" and not info.name.startswith("_"):
            importlib.import_module(f"mlbench.methods.{info.name}")
    _builtins_loaded = True


def method_ids() -> list[str]:
    _load_builtin_methods()
    return sorted(METHODS)


def get_method_class(method_id: str) -> type[MultiLabelMethod]:
    _load_builtin_methods()
    if method_id not in METHODS:
        raise MlbenchError(suggest(method_id, METHODS, "method") + " See `mlbench methods`.")
    return METHODS[method_id]


def resolve_params(
    method_id: str, dataset: str | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Defaults <- the paper's per-dataset settings <- user overrides (validated)."""
    cls = get_method_class(method_id)
    params = copy.deepcopy(cls.params)
    if dataset is not None:
        params.update(cls.dataset_params.get(dataset, {}))
    for key, value in (overrides or {}).items():
        if key in cls.fixed_params:
            raise MlbenchError(
                f"parameter {key!r} is fixed by the variant {method_id!r}; "
                f"use the base method to change it."
            )
        params[key] = coerce_param(cls, key, value)
    params.update(cls.fixed_params)
    return params


def create_method(
    method_id: str, dataset: str | None = None, overrides: dict[str, Any] | None = None
) -> MultiLabelMethod:
    """Instantiate a registered method (like timm's ``create_model``)."""
    cls = get_method_class(method_id)
    return cls(**resolve_params(method_id, dataset, overrides))


def coerce_param(cls: type[MultiLabelMethod], key: str, value: Any) -> Any:
    """Validate ``value`` for hyperparameter ``key`` of ``cls``: strings (from --set) are parsed
    to the default's type, then checked against the declared range (:func:`param_range`)."""
    value = _coerce_type(cls, key, value)
    constraint = param_range(cls, key)
    if constraint is not None and not _satisfies(value, constraint):
        raise MlbenchError(
            f"parameter {key!r} of method {cls.id!r} must be "
            + " or ".join(("in " if alt.strip()[:1] in "[(" else "") + alt.strip()
                          for alt in constraint.split(" or "))
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
                if _COMPARISONS[op](x, float(text[len(op):])):
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
        raise MlbenchError(
            suggest(key, cls.params, "parameter").replace(".", f" for method {cls.id!r}.", 1)
            + " Set parameters with --set key=value."
        )
    default = cls.params[key]
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
    raise MlbenchError(
        f"parameter {key!r} of method {cls.id!r} expects a {kind.__name__} "
        f"(default {default!r}), got {value!r}."
    )
