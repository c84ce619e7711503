"""Methods from outside mlbench: ``--method package.module:ClassName``, ``--method
./file.py:ClassName`` and the entry-point group ``mlbench.methods``.

The class is either a :class:`~mlbench.methods.base.MultiLabelMethod` subclass, used as is, or a
scikit-learn-style estimator whose ``fit(X, Y)`` takes the (n, L) 0/1 label matrix and whose
``predict_proba(X)`` returns (n, L) probabilities or the per-label list of (n, 2) arrays that
scikit-learn's multi-output estimators return; :func:`adapt_estimator` wraps it so that it has
``params`` (read from its constructor signature, so ``--set`` is typed and validated as for a
built-in method) and returns (n, L) probabilities. See docs/plugins.md.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata as md
import importlib.util
import inspect
import sys
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from mlbench.errors import MlbenchError
from mlbench.methods.base import METHODS, MultiLabelMethod

ENTRY_POINT_GROUP = "mlbench.methods"

# reference as given, and its canonical id -> class; provenance by class
_LOADED: dict[str, type[MultiLabelMethod]] = {}
_SOURCES: dict[type, dict[str, Any]] = {}
_entry_points_loaded = False


def is_reference(method_id: str) -> bool:
    return ":" in method_id


class EstimatorAdapter(MultiLabelMethod):
    """A scikit-learn-style estimator run as an mlbench method (see the module docstring)."""

    estimator_class: ClassVar[type] = object

    def fit(self, X, Y, X_val=None, Y_val=None, context=None):
        kwargs = dict(self.hparams)
        if "random_state" in kwargs and kwargs["random_state"] is None:
            kwargs["random_state"] = context.seed if context is not None else 0  # same seed, same numbers
        Y = np.asarray(Y.toarray() if sp.issparse(Y) else Y).astype(np.int64)
        self.estimator_ = self.estimator_class(**kwargs).fit(X, Y)
        return self

    def predict_proba(self, X) -> np.ndarray:
        return normalise_proba(
            self.estimator_.predict_proba(X), X.shape[0], self.n_labels_, self.estimator_class.__name__, self.estimator_
        )


def normalise_proba(proba, n_rows: int, n_labels: int, name: str, estimator=None) -> np.ndarray:
    """(n, L) probabilities from an (n, L) array or a list of L per-label (n, 2) arrays (one
    column when a label had a single class in training; its class decides the value)."""
    if isinstance(proba, list):
        if len(proba) != n_labels:
            raise _shape_error(name, f"a list of {len(proba)} arrays", n_rows, n_labels)
        classes = getattr(estimator, "classes_", None)
        columns = []
        for j, part in enumerate(proba):
            part = np.asarray(part, dtype=np.float64)
            if part.ndim != 2 or part.shape[0] != n_rows or part.shape[1] not in (1, 2):
                raise _shape_error(name, f"a list holding shape {part.shape}", n_rows, n_labels)
            if part.shape[1] == 2:
                columns.append(part[:, 1])
            else:
                only = classes[j][0] if classes is not None else 0
                columns.append(np.full(n_rows, float(only == 1)))
        return np.clip(np.column_stack(columns) if columns else np.zeros((n_rows, 0)), 0.0, 1.0)
    proba = np.asarray(proba.toarray() if sp.issparse(proba) else proba, dtype=np.float64)
    if proba.shape != (n_rows, n_labels):
        raise _shape_error(name, f"shape {proba.shape}", n_rows, n_labels)
    return np.clip(proba, 0.0, 1.0)


def _shape_error(name: str, got: str, n_rows: int, n_labels: int) -> MlbenchError:
    return MlbenchError(
        f"{name}.predict_proba returned {got}, expected ({n_rows}, {n_labels}) per-label "
        f"probabilities or a list of {n_labels} (n, 2) arrays; make predict_proba return one "
        "probability per label (e.g. wrap a single-output classifier in "
        "sklearn.multioutput.MultiOutputClassifier)."
    )


def constructor_params(cls: type) -> dict[str, Any]:
    """Keyword parameters of ``cls.__init__`` with their defaults (the hyperparameters)."""
    params = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            raise MlbenchError(
                f"{cls.__name__}.__init__ requires {p.name!r} (no default); give every "
                "constructor parameter a default so the class can be built from --set values."
            )
        params[p.name] = p.default
    return params


def adapt_estimator(cls: type, method_id: str) -> type[MultiLabelMethod]:
    if not (callable(getattr(cls, "fit", None)) and callable(getattr(cls, "predict_proba", None))):
        raise MlbenchError(
            f"{cls.__module__}.{cls.__name__} is neither a mlbench MultiLabelMethod nor an "
            "estimator with fit(X, Y) and predict_proba(X); point --method at such a class."
        )
    return type(
        cls.__name__,
        (EstimatorAdapter,),
        {
            "id": method_id,
            "display_name": cls.__name__,
            "estimator_class": cls,
            "params": constructor_params(cls),
            "citation": f"{cls.__module__}.{cls.__qualname__}",
            "__module__": __name__,
        },
    )


def as_method_class(obj: Any, method_id: str, where: str) -> type[MultiLabelMethod]:
    if not isinstance(obj, type):
        raise MlbenchError(f"{where} is a {type(obj).__name__}, not a class; name a class.")
    if issubclass(obj, MultiLabelMethod):
        if not obj.id:
            obj.id = method_id
        return obj
    return adapt_estimator(obj, method_id)


def load_reference(reference: str) -> type[MultiLabelMethod]:
    """The class named by ``module:Class`` or ``path/to/file.py:Class`` (cached)."""
    if reference in _LOADED:
        return _LOADED[reference]
    module_name, _, class_name = reference.rpartition(":")
    if not module_name or not class_name:
        raise MlbenchError(f"method reference {reference!r} must be package.module:ClassName or ./file.py:ClassName.")
    is_path = module_name.endswith(".py") or "/" in module_name or "\\" in module_name
    module = _import_file(Path(module_name)) if is_path else _import_module(module_name)
    if not hasattr(module, class_name):
        raise MlbenchError(f"{module_name} has no attribute {class_name!r}; check the class name.")
    method_id = f"{Path(module_name).name if is_path else module_name}:{class_name}"
    obj = getattr(module, class_name)
    cls = as_method_class(obj, method_id, reference)
    defining = sys.modules.get(getattr(obj, "__module__", ""), module)  # not a re-exporting __init__
    _SOURCES[cls] = {"reference": reference, **_provenance(defining, class_name)}
    _LOADED[reference] = _LOADED[method_id] = cls
    return cls


def _import_module(name: str):
    try:
        return importlib.import_module(name)
    except Exception as exc:  # the module's own error, shown on one line
        raise MlbenchError(
            f"cannot import {name}: {type(exc).__name__}: {_one_line(exc)}; fix the module or "
            "install its package (or use the ./file.py:ClassName form)."
        ) from None


def _import_file(path: Path):
    if not path.is_file():
        raise MlbenchError(f"method file {path} not found; give an existing ./file.py:ClassName.")
    name = "mlbench_plugin_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickle look classes up here
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise MlbenchError(f"cannot import {path}: {type(exc).__name__}: {_one_line(exc)}; fix the file.") from None
    return module


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else "(no message)"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _provenance(module, class_name: str, package: str | None = None) -> dict[str, Any]:
    file = getattr(module, "__file__", None)
    out: dict[str, Any] = {
        "module": module.__name__,
        "class": class_name,
        "file": str(Path(file).resolve()) if file else None,
        "sha256": _sha256(Path(file)) if file and Path(file).is_file() else None,
    }
    if package is None:
        top = module.__name__.split(".")[0]
        package = (md.packages_distributions().get(top) or [None])[0]
    out["package"] = package
    try:
        out["version"] = md.version(package) if package else None
    except md.PackageNotFoundError:
        out["version"] = None
    return out


def method_source(cls: type) -> dict[str, Any] | None:
    """Where an outside method comes from (module, file sha256, package, version); None for
    mlbench's own methods."""
    if cls in _SOURCES:
        return _SOURCES[cls]
    module = sys.modules.get(cls.__module__)
    if module is None or cls.__module__.startswith("mlbench."):
        return None
    return _SOURCES.setdefault(cls, _provenance(module, cls.__name__))


def load_entry_point_methods(force: bool = False) -> None:
    """Register the methods installed packages declare in the ``mlbench.methods`` group
    (name = method id, value = ``module:Class``). A broken plugin is skipped with a warning, so
    it cannot take down every command; a name equal to a built-in method is refused."""
    global _entry_points_loaded
    if _entry_points_loaded and not force:
        return
    _entry_points_loaded = True
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        method_id = ep.name.lower()
        package = ep.dist.name if ep.dist is not None else None
        if method_id in METHODS and METHODS[method_id].__module__.startswith("mlbench."):
            warnings.warn(
                f"entry point {ep.name!r} of {package} shadows the built-in method {method_id!r}; skipped.",
                stacklevel=2,
            )
            continue
        try:
            obj = ep.load()
            cls = as_method_class(obj, method_id, ep.value)
        except (Exception, MlbenchError) as exc:
            warnings.warn(
                f"cannot load method {ep.name!r} from {package} ({ep.value}): "
                f"{type(exc).__name__}: {_one_line(exc)}; skipped.",
                stacklevel=2,
            )
            continue
        if issubclass(cls, MultiLabelMethod) and cls.id != method_id and not issubclass(cls, EstimatorAdapter):
            cls = type(cls.__name__, (cls,), {"id": method_id, "__module__": cls.__module__})
        METHODS[method_id] = cls
        _SOURCES[cls] = _provenance(sys.modules[obj.__module__], obj.__name__, package)
