"""The package reads in pipeline order: each stage imports only the stages below it, nothing
imports another module's private names, there is no import cycle, and the read-only commands
never import torch."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import store_row

PACKAGE = Path(__file__).resolve().parents[1] / "mlbench"

# Lowest first; a module may import modules of its own layer or of the layers below it.
LAYERS = [
    (
        "mlbench",
        "mlbench.errors",
        "mlbench.io",
        "mlbench.integrity",
        "mlbench.method_sources",
        "mlbench.papers",
        "mlbench.papers.catalog",
    ),
    ("mlbench.data",),
    ("mlbench.metrics",),
    ("mlbench.methods",),
    ("mlbench.runs", "mlbench.verify"),
    ("mlbench.papers.plan", "mlbench.papers.experiment"),
    ("mlbench.results",),
    ("mlbench.cli", "mlbench.__main__"),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int:
    best, best_len = None, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            exact_only = prefix in ("mlbench", "mlbench.papers")
            matches = module == prefix or (not exact_only and module.startswith(prefix + "."))
            if matches and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    assert best is not None, f"{module} is in no layer of tests/test_architecture.py"
    return best


def _imports(module_level_only: bool = False) -> dict[str, list[tuple[str, list[str], int]]]:
    """module -> [(imported module, imported names, line)], module-level and lazy imports alike
    (or the module-level ones only)."""
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        edges = []
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body if module_level_only else ast.walk(tree):
            if isinstance(node, ast.Import):
                edges += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("mlbench")]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1]
                        + ([node.module] if node.module else [])
                    )
                if base.startswith("mlbench"):
                    edges.append((base, [a.name for a in node.names], node.lineno))
        graph[module] = edges
    return graph


def _resolve(target: str, names: list[str], modules: set[str]) -> list[str]:
    """``from pkg import sub`` imports the module pkg.sub; otherwise the module itself."""
    out = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
    return out or [target]


def test_each_stage_imports_only_the_stages_below_it():
    graph = _imports()
    modules = set(graph)
    upward = []
    for module, edges in graph.items():
        for target, names, line in edges:
            for imported in _resolve(target, names, modules):
                if _layer(imported) > _layer(module):
                    upward.append(f"{module}:{line} imports {imported}")
    assert not upward, "imports from a stage above:\n" + "\n".join(upward)


def test_no_module_imports_private_names_of_another():
    graph = _imports()
    private = [
        f"{module}:{line} imports {target}.{name}"
        for module, edges in graph.items()
        for target, names, line in edges
        for name in names
        if name.startswith("_") and not name.startswith("__") and target != module
    ]
    assert not private, "\n".join(private)


def _cycles(graph) -> list[str]:
    """The import cycles of ``graph`` (from :func:`_imports`)."""
    modules = set(graph)
    adjacency = {
        m: {i for t, names, _ in edges for i in _resolve(t, names, modules) if i in modules and i != m}
        for m, edges in graph.items()
    }
    # A package's __init__ re-exporting its submodules is not a cycle when they never import it back.
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(adjacency[node]):
            if state.get(nxt) == 1:
                cycles.append(
                    " -> ".join(stack[stack.index(nxt) :] + [node, nxt]) if nxt in stack else f"{node} -> {nxt}"
                )
            elif nxt not in state:
                visit(nxt, stack + [node])
        state[node] = 2

    for module in sorted(adjacency):
        if module not in state:
            visit(module, [])
    return cycles


def test_no_import_cycle():
    """Among module-level imports; across stages the layering test already rules out any cycle."""
    cycles = _cycles(_imports(module_level_only=True))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_import_cycle_counting_imports_inside_functions():
    """A lazy import that closes a cycle hides a tangle (data/ had registry -> user_registry ->
    fetch -> user_registry; methods/base loaded methods/plugins, which subclasses base's class,
    until the lookup moved to methods/registry): none is left."""
    cycles = _cycles(_imports())
    assert not cycles, "import cycles (counting imports inside functions):\n" + "\n".join(cycles)


READ_ONLY = [
    ["--help"],
    ["table", "--help"],
    ["table"],
    ["table", "--paper", "cgmvae", "--metric", "ex-f1"],
    ["datasets"],
    ["stats", "--metric", "ex-f1"],
    ["check", "--help"],
    ["plot", "--help"],
    ["report", "--help"],
]


def _small_store(runs_dir: Path) -> None:
    """A store of a few hundred rows (5 methods x 2 datasets x 3 seeds x 3 protocols x 6 metrics)."""
    from mlbench.runs.store import add_rows

    rows = []
    for i, (method, dataset, seed, protocol, metric) in enumerate(
        # cc: a built-in outside the papers' vocabulary; my-model: an outside (plugin) method
        (m, d, s, p, k)
        for m in ("br", "mlknn", "bce", "cc", "my-model")
        for d in ("yeast", "scene")
        for s in range(3)
        for p in ("fixed", "val", "paper")
        for k in ("ex-f1", "mi-f1", "ma-f1", "ha", "p@1", "map")
    ):
        rows.append(store_row(dataset, method, seed, metric, 0.5 + (i % 17) / 100, protocol=protocol))
    add_rows(runs_dir, rows)


def test_read_only_commands_never_import_torch(tmp_path):
    """Every command of READ_ONLY in turn, in one fresh interpreter (the test process has torch
    loaded already; one interpreter for all: each start costs seconds), on a store with runs in
    it, so that the commands do their real work. The first command that imports torch is named."""
    _small_store(tmp_path / "runs")
    code = (
        "import json, sys\n"
        "from mlbench.cli import main\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    try:\n        main(argv)\n    except SystemExit as exc:\n        assert not exc.code, (argv, exc.code)\n"
        "    assert 'torch' not in sys.modules, f'mlbench {\" \".join(argv)} imported torch'\n"
        "print('NO-TORCH')\n"
    )
    env = dict(os.environ, MLBENCH_DATA=str(tmp_path / "data"), MLBENCH_RUNS=str(tmp_path / "runs"))
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(READ_ONLY)], capture_output=True, text=True, env=env, timeout=300
    )
    assert "NO-TORCH" in done.stdout, done.stderr[-2000:]


def test_help_and_table_do_not_load_scipy_sparse(tmp_path):
    """scipy.sparse costs ~20% of `mlbench table`'s start-up (benchmarks/cli_latency.py): the
    data modules import it inside the functions that handle matrices."""
    _small_store(tmp_path / "runs")
    code = (
        "import sys\nfrom mlbench.cli import main\n"
        "for argv in (['--help'], ['table']):\n"
        "    try:\n        main(argv)\n    except SystemExit as exc:\n        assert not exc.code, (argv, exc.code)\n"
        "    assert 'scipy.sparse' not in sys.modules, f'mlbench {argv} imported scipy.sparse'\n"
        "print('NO-SCIPY')\n"
    )
    env = dict(os.environ, MLBENCH_DATA=str(tmp_path / "data"), MLBENCH_RUNS=str(tmp_path / "runs"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert "NO-SCIPY" in done.stdout, done.stderr[-2000:]


def test_split_never_imports_torch(tmp_path):
    """`split` writes files but trains nothing: no torch either (it used to reach it through the runner)."""
    env = dict(os.environ, MLBENCH_DATA=str(tmp_path / "data"), MLBENCH_RUNS=str(tmp_path / "runs"))
    subprocess.run(
        [sys.executable, "-m", "mlbench", "fetch", "yeast", "-q"], check=True, env=env, capture_output=True, timeout=120
    )  # the embedded copy: no network
    code = (
        "import sys\nfrom mlbench.cli import main\n"
        "try:\n    main(['split', 'yeast', '--seeds', '0', '1'])\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "assert 'torch' not in sys.modules, 'imported torch'\nprint('NO-TORCH')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "NO-TORCH" in done.stdout, done.stderr[-2000:]
    assert len(list((tmp_path / "data" / "yeast" / "splits").glob("*.npz"))) >= 2


def test_builtin_method_ids_read_from_source_match_the_registry():
    from mlbench.method_sources import builtin_method_ids
    from mlbench.methods import METHODS, method_ids

    method_ids()
    assert builtin_method_ids() == {m for m, cls in METHODS.items() if cls.__module__.startswith("mlbench.")}
