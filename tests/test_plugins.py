"""Outside methods: package.module:Class, ./file.py:Class, the mlbench.methods entry points."""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pytest

from .test_cli import assert_one_line_error, env, run  # noqa: F401  (env is a fixture)

PRIOR = '''
import numpy as np
from mlbench.methods import MultiLabelMethod

class Prior(MultiLabelMethod):
    """Every label's training frequency, smoothed."""
    display_name = "Prior"
    params = {"smoothing": 1.0}

    def fit(self, X, Y, X_val=None, Y_val=None, context=None):
        s = self.hparams["smoothing"]
        self.rate_ = (np.asarray(Y.sum(axis=0)).ravel() + s) / (Y.shape[0] + 2 * s)
        return self

    def predict_proba(self, X):
        return np.tile(self.rate_, (X.shape[0], 1))

class Skl:
    """A scikit-learn-style estimator (not a MultiLabelMethod) with a bad predict_proba."""
    def __init__(self, width=3):
        self.width = width
    def fit(self, X, Y):
        return self
    def predict_proba(self, X):
        return np.zeros((X.shape[0], self.width))

NotAClass = 3
'''


@pytest.fixture
def plugin_file(tmp_path, monkeypatch):
    path = tmp_path / "my_methods.py"
    path.write_text(PRIOR)
    monkeypatch.chdir(tmp_path)
    return path


def test_file_plugin_trains_and_records_its_source(env, capsys, plugin_file):
    code, out, err = run(
        capsys, "train", "--method", "./my_methods.py:Prior", "-d", "yeast", "--set", "smoothing=2", "-q"
    )
    assert code == 0, err
    run_dir = env / "runs/yeast/my_methods.py:Prior/smoothing=2.0/iterative-seed0"
    config = json.loads((run_dir / "config.json").read_text())
    import hashlib

    assert config["params"] == {"smoothing": 2.0}  # typed from the default like a built-in
    assert config["method_source"]["sha256"] == hashlib.sha256(plugin_file.read_bytes()).hexdigest()
    assert config["method_source"]["file"] == str(plugin_file.resolve())
    code, out, _ = run(capsys, "table", "--format", "csv")
    assert code == 0 and "Prior" in out


def test_random_forest_as_is(env, capsys):
    code, out, err = run(
        capsys,
        "train",
        "--method",
        "sklearn.ensemble:RandomForestClassifier",
        "-d",
        "yeast",
        "--set",
        "n_estimators=20",
        "max_depth=6",
        "-q",
    )
    assert code == 0, err
    run_dir = env / "runs/yeast/sklearn.ensemble:RandomForestClassifier/max_depth=6,n_estimators=20/iterative-seed0"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["params"]["n_estimators"] == 20 and config["params"]["max_depth"] == 6
    assert config["params"]["random_state"] is None  # the run seed is used when not set
    source = config["method_source"]
    assert source["package"] == "scikit-learn" and source["version"]
    assert source["file"].endswith("_forest.py") and len(source["sha256"]) == 64
    with np.load(run_dir / "scores.npz") as npz:
        assert npz["scores_test"].shape == npz["y_test"].shape
        assert 0 <= npz["scores_test"].min() and npz["scores_test"].max() <= 1
    metrics = json.loads((run_dir / "metrics.json").read_text())["fixed"]["metrics"]
    assert metrics["mi-f1"] > 0.5
    code, _, err = run(
        capsys,
        "train",
        "--method",
        "sklearn.ensemble:RandomForestClassifier",
        "-d",
        "yeast",
        "--set",
        "n_estimators=many",
    )
    assert_one_line_error(code, err, "n_estimators", "expects a int")


@pytest.mark.parametrize(
    "reference, fragment",
    [
        ("./my_methods.py:Skl", "predict_proba returned shape"),
        ("./my_methods.py:NotAClass", "not a class"),
        ("./my_methods.py:Missing", "has no attribute 'Missing'"),
        ("./missing.py:X", "not found"),
        ("json:JSONDecoder", "neither a mlbench MultiLabelMethod nor an estimator"),
        ("no_such_pkg_xyz.mod:X", "cannot import no_such_pkg_xyz.mod: ModuleNotFoundError"),
    ],
)
def test_bad_plugins_are_one_line_errors(env, capsys, plugin_file, reference, fragment):
    code, _, err = run(capsys, "train", "--method", reference, "-d", "yeast", "-q")
    assert_one_line_error(code, err, fragment)


def test_import_error_shows_the_modules_own_message(env, capsys, tmp_path, plugin_file):
    (tmp_path / "broken.py").write_text("raise RuntimeError('needs CUDA 13')\n")
    code, _, err = run(capsys, "train", "--method", "./broken.py:X", "-d", "yeast")
    assert_one_line_error(code, err, "RuntimeError: needs CUDA 13")


def test_entry_point_method_is_listed_and_trains(env, capsys, tmp_path, monkeypatch):
    from mlbench.methods import METHODS
    from mlbench.methods.plugins import load_entry_point_methods

    site = tmp_path / "site"
    (site / "prior_pkg").mkdir(parents=True)
    (site / "prior_pkg" / "__init__.py").write_text(PRIOR)
    dist = site / "prior_pkg-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: prior-pkg\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text("[mlbench.methods]\nprior = prior_pkg:Prior\nbr = prior_pkg:Prior\n")
    monkeypatch.syspath_prepend(str(site))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            load_entry_point_methods(force=True)
        assert any("shadows the built-in method 'br'" in str(w.message) for w in caught)
        assert METHODS["br"].__module__ == "mlbench.methods.classic"
        code, out, _ = run(capsys, "methods", "--json")
        record = {r["id"]: r for r in json.loads(out)}["prior"]
        assert record["source"] == "prior-pkg 1.2.3" and record["params"] == {"smoothing": 1.0}
        code, _, err = run(capsys, "train", "--method", "prior", "-d", "yeast", "-q")
        assert code == 0, err
        config = json.loads((env / "runs/yeast/prior/default/iterative-seed0/config.json").read_text())
        assert config["method_source"]["package"] == "prior-pkg"
        assert config["method_source"]["version"] == "1.2.3"
    finally:
        METHODS.pop("prior", None)
        sys.modules.pop("prior_pkg", None)
