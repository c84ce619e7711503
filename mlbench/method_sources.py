"""Which method ids mlbench itself registers, found without importing the method modules."""

from __future__ import annotations

from pathlib import Path


def builtin_method_ids() -> frozenset[str]:
    """The ids mlbench's own method modules register, read from their source with :mod:`ast`
    instead of importing them: the read-only commands (``table --paper``) need to tell built-in
    from outside methods without importing torch (measured: the registry import costs 3-6 s of
    a 0.5 s command; even ``mlbench.methods`` alone loads scikit-learn, hence this module
    outside that package). Recognised: ``@register_method`` classes with an ``id = "..."`` attribute
    and ``register_variant(Base, "id", ...)`` calls; a test keeps it equal to the registry."""
    import ast

    def class_id(node: ast.ClassDef) -> str | None:
        for stmt in node.body:
            if (
                isinstance(stmt, ast.Assign)
                and any(getattr(t, "id", None) == "id" for t in stmt.targets)
                and isinstance(stmt.value, ast.Constant)
            ):
                return stmt.value.value
        return None

    found: set[str] = set()
    for path in sorted((Path(__file__).parent / "methods").glob("*.py")):
        nodes = list(ast.walk(ast.parse(path.read_text(encoding="utf-8"))))
        ids = {n.name: class_id(n) for n in nodes if isinstance(n, ast.ClassDef)}
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
