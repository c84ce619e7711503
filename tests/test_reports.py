"""The committed reproduction store and what is printed from it: the README's headline block is
exactly what `python docs/reports/headline.py` prints from `docs/reports/runs`, so a number there
is the output of the command shown beside it (rerun `bash docs/reports/update.sh` after runs)."""

from __future__ import annotations

import importlib.util

from .conftest import REPO


def _headline_module():
    spec = importlib.util.spec_from_file_location("headline", REPO / "docs" / "reports" / "headline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_headline_is_the_output_of_its_commands_on_the_committed_store():
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- headline:start -->\n", 1)[1].split("<!-- headline:end -->", 1)[0]
    assert block == _headline_module().block(), (
        "README's headline block differs from what its commands print on docs/reports/runs: "
        "run `python docs/reports/headline.py` (or `bash docs/reports/update.sh`) and commit"
    )
    assert "mlbench table --paper cgmvae" in block and "--runs-dir docs/reports/runs" in block


def test_the_store_commits_complete_runs_without_scores_or_models():
    store = REPO / "docs" / "reports" / "runs"
    statuses = list(store.glob("*/*/*/*/status.json"))
    assert statuses and (store / "results.csv").is_file()
    ignored = (REPO / ".gitignore").read_text()
    assert "/docs/reports/runs/**/*.npz" in ignored and "/docs/reports/runs/**/*.pt" in ignored
