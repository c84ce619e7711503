"""Methods: one module per family, each registering its estimators (see :mod:`.base`)."""

from mlbench.methods.base import METHODS, FitContext, MultiLabelMethod, register_method, register_variant
from mlbench.methods.registry import create_method, get_method_class, method_ids, resolve_params

__all__ = [
    "METHODS",
    "FitContext",
    "MultiLabelMethod",
    "create_method",
    "get_method_class",
    "method_ids",
    "register_method",
    "register_variant",
    "resolve_params",
]
