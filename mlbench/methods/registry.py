"""Looking methods up: the built-in modules and the plugins loaded once, then
``get_method_class``, ``resolve_params`` and ``create_method`` (like timm's ``create_model``).

Separate from :mod:`mlbench.methods.base` because loading the plugins imports
:mod:`mlbench.methods.plugins`, whose adapter subclasses base's :class:`MultiLabelMethod`: with
the lookup in base the two modules imported each other.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from mlbench.errors import MlbenchError, suggest
from mlbench.methods.base import METHODS, MultiLabelMethod, ParameterError, coerce_param

_builtins_loaded = False


def _load_builtin_methods() -> None:
    """Import every module of :mod:`mlbench.methods` once; their decorators fill METHODS."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name not in ("base", "registry") and not info.name.startswith("_"):
            importlib.import_module(f"mlbench.methods.{info.name}")
    _builtins_loaded = True
    from mlbench.methods.plugins import load_entry_point_methods

    load_entry_point_methods()


def method_ids() -> list[str]:
    _load_builtin_methods()
    return sorted(METHODS)


def get_method_class(method_id: str) -> type[MultiLabelMethod]:
    _load_builtin_methods()
    if method_id not in METHODS and ":" in method_id:  # package.module:Class or ./file.py:Class
        from mlbench.methods.plugins import load_reference

        return load_reference(method_id)
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
            raise ParameterError(
                f"parameter {key!r} is fixed by the variant {method_id!r}; use the base method to change it."
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
