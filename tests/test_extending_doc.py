"""docs/extending.md, run: its walk-throughs must work as written.

The page is executed in document order in a temporary directory:

* a fenced block with ``title="PATH"`` is a file: written to PATH in the working directory, or,
  for ``mlbench/...``, into a copy of the package: a new file, or inserted before / after the line
  holding its ``insert-before`` / ``insert-after`` anchor (which must occur exactly once);
* in a ``bash`` block, ``mlbench ...`` lines run through the real CLI entry point in a
  subprocess (so a method or dataset the page adds never leaks into this test process) against
  the package copy as edited so far, and ``cp FILE mlbench/...`` copies a file into it; every
  command must exit 0 without a traceback;
* ``https://`` URLs of the titled blocks are served from a local mirror holding the page's file
  of the same name (``MLBENCH_MIRROR``), so nothing touches the network.

The tests then check what each walk-through left on disk, and run the checks that keep its
example honest: the metric's doctest and its value against scikit-learn, the new method through
tests/test_method_contract.py, the new paper through the catalog schema checks of
tests/test_papers.py, all inside the edited copy.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "extending.md"

FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
ATTRIBUTE = re.compile(r'([\w-]+)="((?:[^"\\]|\\.)*)"')
HEADING = re.compile(r"^## (.+)$", re.M)
URL = re.compile(r"https://[^\s\"')]+")

pytestmark = pytest.mark.slow  # ~20 CLI subprocesses and two pytest runs in the package copy


@dataclass
class Block:
    lang: str
    attrs: dict[str, str]
    text: str
    section: str


@dataclass
class Command:
    section: str
    line: str
    returncode: int
    output: str


@dataclass
class Walkthrough:
    work: Path
    package: Path  # holds the edited copy of mlbench/
    blocks: list[Block]
    commands: list[Command] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(self.package),
            "MLBENCH_DATA": str(self.work / "data"),
            "MLBENCH_RUNS": str(self.work / "runs"),
            "MLBENCH_MIRROR": str(self.work.parent / "mirror"),
            "OMP_NUM_THREADS": "1",
            "COLUMNS": "200",
        }

    def python(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *args], cwd=cwd or self.work, env=self.env(), capture_output=True, text=True, timeout=600
        )

    def ran(self, section: str) -> list[Command]:
        return [c for c in self.commands if c.section == section]


def parse_blocks(text: str) -> list[Block]:
    headings = [(m.start(), m.group(1).strip()) for m in HEADING.finditer(text)]
    out = []
    for m in FENCE.finditer(text):
        section = [title for start, title in headings if start < m.start()][-1]
        attrs = {k: v.replace('\\"', '"') for k, v in ATTRIBUTE.findall(m.group(2))}
        out.append(Block(m.group(1), attrs, m.group(3), section))
    return out


def insert(path: Path, block: Block) -> None:
    """Write ``block`` to ``path``, or insert it at its anchor line."""
    anchor = block.attrs.get("insert-before") or block.attrs.get("insert-after")
    if anchor is None:
        assert not path.exists(), f"{path} exists: a new file's block would overwrite it"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text)
        return
    lines = path.read_text().splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if anchor in line]
    assert len(hits) == 1, (
        f"anchor {anchor!r} of docs/extending.md occurs {len(hits)} times in "
        f"{path.name}; update the page to the file's current layout"
    )
    at = hits[0] + (1 if "insert-after" in block.attrs else 0)
    lines[at:at] = [block.text]
    path.write_text("".join(lines))


# Runs a batch of CLI commands in one interpreter (the package is imported once per batch, not
# once per command: ~2 s each on 2 cores); a batch ends where the page edits the package.
DRIVER = """
import contextlib, io, json, sys
from mlbench.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException as exc:  # reported, not raised: the test names the command
            import traceback
            traceback.print_exc(file=out)
            code = -1
    results.append([code, out.getvalue()])
with open(sys.argv[2], "w") as fh:
    json.dump(results, fh)
"""


def run_page(tmp: Path) -> Walkthrough:
    blocks = parse_blocks(DOC.read_text())
    walk = Walkthrough(tmp / "work", tmp / "package", blocks)
    walk.work.mkdir()
    shutil.copytree(REPO / "mlbench", walk.package / "mlbench", ignore=shutil.ignore_patterns("__pycache__"))
    files = {
        Path(b.attrs["title"]).name: b.text
        for b in blocks
        if "title" in b.attrs and not b.attrs["title"].startswith("mlbench/")
    }
    for block in blocks:  # the mirror: each URL the page names serves the page's file of that name
        for url in URL.findall(block.text) if "title" in block.attrs else ():
            name = url.rsplit("/", 1)[-1]
            if name in files:
                target = tmp / "mirror" / url.removeprefix("https://")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(files[name])
    pending: list[tuple[str, str, list[str]]] = []

    def flush() -> None:
        if not pending:
            return
        result = tmp / "result.json"
        proc = walk.python("-c", DRIVER, json.dumps([argv for *_, argv in pending]), str(result))
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        for (section, line, _), (code, output) in zip(pending, json.loads(result.read_text())):
            walk.commands.append(Command(section, line, code, output))
        pending.clear()

    for block in blocks:
        title = block.attrs.get("title")
        if title is not None:
            if title.startswith("mlbench/"):
                flush()
                insert(walk.package / title, block)
            else:
                insert(walk.work / title, block)
        elif block.lang == "bash":
            for line in block.text.splitlines():
                argv = shlex.split(line, comments=True)
                if not argv:
                    continue
                if argv[0] == "cp":
                    assert len(argv) == 3 and argv[2].startswith("mlbench/"), line
                    flush()
                    shutil.copy(walk.work / argv[1], walk.package / argv[2])
                    continue
                assert argv[0] == "mlbench", f"unexpected command in docs/extending.md: {line}"
                pending.append((block.section, line, argv[1:]))
    flush()
    return walk


def assert_commands_ok(walk: Walkthrough, section: str, expected: int) -> list[Command]:
    commands = walk.ran(section)
    assert len(commands) >= expected, (section, [c.line for c in commands])
    for command in commands:
        assert command.returncode == 0 and "Traceback" not in command.output, (
            f"{section}: `{command.line}` failed ({command.returncode}):\n{command.output[-3000:]}"
        )
    return commands


def _complete(run_dir: Path) -> bool:
    status = run_dir / "status.json"
    return status.is_file() and json.loads(status.read_text())["state"] == "complete"


def test_page_structure():
    blocks = parse_blocks(DOC.read_text())
    assert {"A dataset", "A method", "A metric", "A paper"} <= {b.section for b in blocks}
    for block in blocks:  # every code block is run or written, none is decoration
        assert "title" in block.attrs or block.lang == "bash", block.text[:80]


@pytest.mark.slow
def test_walkthroughs_work_as_written(tmp_path):
    # One test, not one per section over a shared fixture: under pytest-xdist each worker would
    # run the whole page again for its share of the tests.
    walk = run_page(tmp_path)
    check_dataset(walk)
    check_method(walk)
    check_metric(walk)
    check_paper(walk)
    check_project_tests(walk)


def check_dataset(walk: Walkthrough) -> None:
    commands = assert_commands_ok(walk, "A dataset", 6)
    data = walk.work / "data"
    for name in ("mydata", "labdata", "newdata"):  # imported, downloaded with a sha256, built in
        meta = json.loads((data / name / "meta.json").read_text())
        assert (meta["n_samples"], meta["n_features"], meta["n_labels"]) == (20, 3, 2), meta
    listing = next(c.output for c in commands if c.line.strip() == "mlbench datasets")
    assert "newdata" in listing and "mydata" in listing, listing
    assert list((data / "mydata" / "splits").glob("*seed0.npz"))
    assert _complete(walk.work / "runs" / "mydata" / "br" / "default" / "iterative-seed0")


def check_method(walk: Walkthrough) -> None:
    commands = assert_commands_ok(walk, "A method", 3)
    assert "linear" in next(c.output for c in commands if c.line.strip() == "mlbench methods")
    # Both runs are stored under the class's id; the plug-in's config says where it came from.
    configs = {}
    for run_dir in (walk.work / "runs" / "mydata" / "linear").glob("*/iterative-seed0"):
        assert _complete(run_dir), run_dir
        config = json.loads((run_dir / "config.json").read_text())
        configs["plug-in" if "method_source" in config else "built-in"] = config
    assert set(configs) == {"plug-in", "built-in"}, configs
    assert configs["plug-in"]["method_source"]["class"] == "LinearBCE"
    assert configs["plug-in"]["params"]["epochs"] == 5
    assert configs["built-in"]["params"]["lr"] == 0.01


def check_metric(walk: Walkthrough) -> None:
    commands = assert_commands_ok(walk, "A metric", 2)
    assert "Micro-precision" in commands[-1].output or "mi-precision" in commands[-1].output
    metrics_file = walk.work / "runs" / "mydata" / "br" / "default" / "iterative-seed0" / "metrics.json"
    assert "mi-precision" in json.loads(metrics_file.read_text())["fixed"]["metrics"]
    function = re.search(
        r"^def (\w+)\(y_true", next(b.text for b in walk.blocks if b.section == "A metric" and "def " in b.text), re.M
    ).group(1)
    check = f"""
import doctest, numpy as np
from sklearn.metrics import precision_score
import mlbench.metrics as M
runner = doctest.DocTestRunner()
for test in doctest.DocTestFinder().find(M.{function}, "{function}", globs=vars(M)):
    runner.run(test)
assert runner.tries >= 2 and runner.failures == 0, (runner.tries, runner.failures)
rng = np.random.default_rng(0)
y, s = rng.random((50, 6)) < 0.3, rng.random((50, 6))
ours = M.compute_metrics(y, s, 0.5, ["mi-precision"])["mi-precision"]
assert abs(ours - precision_score(y, s >= 0.5, average="micro", zero_division=0)) < 1e-12, ours
print("ok")
"""
    proc = walk.python("-c", check)
    assert proc.returncode == 0 and proc.stdout.startswith("ok"), proc.stdout + proc.stderr[-3000:]


def check_paper(walk: Walkthrough) -> None:
    table, dry_run = assert_commands_ok(walk, "A paper", 2)[:2]
    assert "0.614" in table.output and "ExampleNet" in table.output, table.output
    assert "br" in dry_run.output and "bce" in dry_run.output, dry_run.output
    check = """
from mlbench.papers import PAPERS, paper_tables, paper_value
assert "mypaper" in PAPERS and paper_tables("mypaper") == ["1"]
assert paper_value("mypaper", "ex-f1", "bce", "scene") == 0.702
assert paper_value("mypaper", "ma-f1", "examplenet", "scene") is None  # printed as "-"
print("ok")
"""
    proc = walk.python("-c", check)
    assert proc.returncode == 0 and proc.stdout.startswith("ok"), proc.stdout + proc.stderr[-3000:]


def check_project_tests(walk: Walkthrough) -> None:
    """In the edited copy, the method the page adds gets the contract tests with no test written
    for it, and the paper passes the schema checks of the papers' data (ids, columns, layout =
    cells). The files are copied beside the package so that pytest imports the copy."""
    shutil.copy(REPO / "tests" / "test_method_contract.py", walk.package / "test_contract_copy.py")
    shutil.copy(REPO / "tests" / "test_papers.py", walk.package / "test_papers_copy.py")
    selection = "linear or csv_columns or ids_are_from or layout_cells_exist or reproducible_flag"
    proc = walk.python(
        "-m",
        "pytest",
        "test_contract_copy.py",
        "test_papers_copy.py",
        "-k",
        selection,
        "-rA",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        cwd=walk.package,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    passed = re.findall(r"^PASSED (test_\w+)\.py::(\S+)", proc.stdout, re.M)
    contract = [test for module, test in passed if module == "test_contract_copy"]
    assert len(contract) >= 6 and all(t.endswith("[linear]") for t in contract), proc.stdout[-2000:]
    assert sum(module == "test_papers_copy" for module, _ in passed) == 4, proc.stdout[-2000:]
