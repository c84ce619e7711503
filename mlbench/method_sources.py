"""Which method ids mlbench itself registers, found without importing the method modules."""

from __future__ import annotations

import ast
from pathlib import Path

METHODS_DIR = Path(__file__).resolve().parent / "methods"


def _class_id(node: ast.ClassDef) -> str | None:
    """The ``id = "..."`` of a method class body, if any."""
    for stmt in node.body:
        if (
            isinstance(stmt, ast.Assign)
            and any(getattr(t, "id", None) == "id" for t in stmt.targets)
            and isinstance(stmt.value, ast.Constant)
        ):
            return stmt.value.value
    return None


def builtin_method_ids() -> frozenset[str]:
    """The ids mlbench's own method modules register, read from their source with :mod:`ast`
    instead of importing them: the read-only commands (``table --paper``) need to tell built-in
    from outside methods without importing torch (measured: the registry import costs 3-6 s of
    a 0.5 s command; even ``mlbench.methods`` alone loads scikit-learn, hence this module
    outside that package). Recognised: ``@register_method`` classes with an ``id = "..."`` attribute
    and ``register_variant(Base, "id", ...)`` calls; a test keeps it equal to the registry."""
    found: set[str] = set()
    for path in sorted(METHODS_DIR.glob("*.py")):
        nodes = list(ast.walk(ast.parse(path.read_text(encoding="utf-8"))))
        ids = {n.name: _class_id(n) for n in nodes if isinstance(n, ast.ClassDef)}
        for node in nodes:
            if isinstance(node, ast.ClassDef) and any(
                getattr(d, "id", getattr(d, "attr", None)) == "register_method" for d in node.decorator_list
            ):
                found.add(ids[node.name])
            elif isinstance(node, ast.Call) and node.args:
                name = getattr(node.func, "id", None)
                if name == "register_method" and isinstance(node.args[0], ast.Name):
                    found.add(ids.get(node.args[0].id))  # register_method(Class)
                elif name == "register_variant" and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
                    found.add(node.args[1].value)
    found.discard(None)
    return frozenset(found)


def builtin_neural_method_ids() -> frozenset[str]:
    """The built-in method ids whose class derives from ``NeuralMethod``, read from the source
    with :mod:`ast` like :func:`builtin_method_ids`: ``train`` decides from them, before it
    imports the registry (3-6 s of torch), whether to start its worker processes' fork server
    at once. Class names are unique across :mod:`mlbench.methods`; a test keeps the result
    equal to the registry's ``is_neural`` (it may also hold the id of an unregistered base)."""
    bases: dict[str, list[str]] = {}  # class name, or a variant's id, -> its base class names
    registered: dict[str, str] = {}  # method id -> class name
    for path in sorted(METHODS_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = [getattr(b, "id", getattr(b, "attr", "")) for b in node.bases]
                if (method_id := _class_id(node)) is not None:
                    registered[method_id] = node.name
            elif (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "register_variant"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[0], ast.Name)
            ):
                registered[node.args[1].value] = node.args[0].id

    def neural(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name == "NeuralMethod":
            return True
        return name not in seen and any(neural(b, seen | {name}) for b in bases.get(name, ()))

    return frozenset(i for i, name in registered.items() if neural(name))
