"""The command line as a user meets it: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlbench.cli._app import expand_argv

from .conftest import invoke_cli


def run(capsys, *argv):
    """Run ``mlbench argv`` in-process; returns (exit code, stdout, stderr)."""
    code = invoke_cli(*argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert sum(line.startswith("error:") for line in lines) == 1, err
    text = " ".join(lines)  # rich may wrap a long line on a narrow terminal
    for fragment in fragments:
        assert fragment in text, (fragment, err)


@pytest.fixture
def env(tmp_path, monkeypatch, session_data_dir):
    monkeypatch.setenv("MLBENCH_DATA", str(session_data_dir))
    monkeypatch.setenv("MLBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def test_expand_argv_turns_space_separated_values_into_repeated_flags():
    assert expand_argv(["train", "--seed", "0", "1", "-q"]) == ["train", "--seed", "0", "--seed", "1", "-q"]
    assert expand_argv(["fetch", "yeast", "scene"]) == ["fetch", "yeast", "scene"]


def test_datasets_json(env, capsys):
    code, out, _ = run(capsys, "datasets", "--json")
    records = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and len(records) >= 20
    assert {"name", "n_samples", "n_features", "n_labels", "cached"} <= set(records["yeast"])
    assert records["yeast"]["cached"] and records["yeast"]["n_samples"] == 2417
    assert not records["delicious"]["cached"] and records["delicious"]["n_labels"] == 983


def test_datasets_table_renders(env, capsys):
    code, out, _ = run(capsys, "datasets")
    assert code == 0 and "yeast" in out and "mirflickr" in out


def test_fetch_unknown_dataset_suggests(env, capsys):
    code, _, err = run(capsys, "fetch", "yaest")
    assert_one_line_error(code, err, "Did you mean 'yeast'")


def test_fetch_dead_mirror(env, capsys, dead_mirror, tmp_path):
    code, _, err = run(capsys, "fetch", "enron", "--data-dir", str(tmp_path / "d"), "--mirror", dead_mirror)
    assert_one_line_error(code, err, "could not fetch enron from any source", "mulan:", "meka:", "--mirror")


def test_fetch_through_mirror(capsys, mirror_url, tmp_path):
    code, out, _ = run(capsys, "fetch", "emotions", "--data-dir", str(tmp_path), "--mirror", mirror_url, "-q")
    assert code == 0 and "593 samples" in out


def test_fetch_bundle_without_from(env, capsys):
    code, _, err = run(capsys, "fetch", "mirflickr", "--data-dir", str(env / "d"))
    assert_one_line_error(code, err, "links are dead", "--from")


def test_split_prints_parts_and_json(env, capsys):
    code, out, _ = run(capsys, "split", "yeast", "--seeds", "0", "1", "--json")
    result = json.loads(out)
    assert code == 0 and [r["seed"] for r in result] == [0, 1]
    assert [result[0][p]["size"] for p in ("train", "val", "test")] == [1933, 242, 242]
    code, out, _ = run(capsys, "split", "yeast", "--strategy", "random")
    assert code == 0 and "labels with no positive example" in out


def test_split_bad_ratios(env, capsys):
    code, _, err = run(capsys, "split", "yeast", "--ratios", "0.5", "0.2", "0.2")
    assert_one_line_error(code, err, "sum to 1")


def test_train_then_eval_then_table(env, capsys):
    code, out, err = run(capsys, "train", "--method", "br", "mlknn", "--dataset", "yeast", "--seed", "0", "1", "-q")
    assert code == 0, err
    assert out.count("✓") == 4
    run_dir = env / "runs/yeast/br/default/iterative-seed0"
    code, out, _ = run(capsys, "eval", str(run_dir), "--json")
    stored = json.loads((run_dir / "metrics.json").read_text())["fixed"]
    got = json.loads(out)
    assert got["metrics"] == pytest.approx(stored["metrics"])
    assert got["protocol"] == "fixed" and got["thresholds"] == stored["thresholds"] == 0.5
    for fmt in ("rich", "markdown", "latex", "html"):
        code, out, _ = run(capsys, "table", "--metric", "ex-f1", "--format", fmt)
        assert code == 0 and "yeast" in out and "2 seed" in out, fmt
    code, out, _ = run(capsys, "table", "--metric", "ex-f1", "--format", "csv")
    assert code == 0 and "yeast,br," in out and out.splitlines()[1].endswith(",2")  # n = 2 seeds
    code, out, _ = run(capsys, "train", "--method", "br", "--dataset", "yeast", "--seed", "0")
    assert code == 0 and "already complete" in out


def test_eval_expect_gate_exit_codes(env, capsys, tmp_path):
    run(capsys, "train", "--method", "br", "--dataset", "yeast", "-q")
    run_dir = env / "runs/yeast/br/default/iterative-seed0"
    actual = json.loads((run_dir / "metrics.json").read_text())["fixed"]["metrics"]
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps({"ex-f1": actual["ex-f1"], "ranking-loss": actual["ranking-loss"]}))
    assert run(capsys, "eval", str(run_dir), "--expect", str(ok))[0] == 0
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"ex-f1": actual["ex-f1"] + 0.05, "ranking-loss": actual["ranking-loss"] - 0.05, "ha": actual["ha"]})
    )
    code, _, err = run(capsys, "eval", str(run_dir), "--expect", str(bad), "--tolerance", "0.01")
    assert code == 1 and "ex-f1" in err and "ranking-loss" in err and "ha =" not in err
    # A committed store (docs/reports/runs) keeps metrics.json, not the scores: say so, not "--resume".
    (run_dir / "scores.npz").unlink()
    code, _, err = run(capsys, "eval", str(run_dir))
    assert_one_line_error(code, err, "is complete but its scores.npz is not there", "metrics.json", "--force")


def _predictions(tmp_path, **arrays):
    path = tmp_path / "pred.npz"
    np.savez(path, **arrays)
    return str(path)


def test_eval_user_predictions(capsys, tmp_path):
    rng = np.random.default_rng(0)
    y = (rng.random((50, 4)) < 0.4).astype(int)
    scores = np.clip(y * 0.6 + rng.random((50, 4)) * 0.4, 0, 1)
    path = _predictions(tmp_path, y_true=y, scores=scores, y_true_val=y, scores_val=scores)
    for protocol in ("fixed", "val", "paper"):
        code, out, _ = run(capsys, "eval", "--predictions", path, "--protocol", protocol, "--json")
        assert code == 0 and json.loads(out)["metrics"]["ex-f1"] > 0.5


@pytest.mark.parametrize(
    "arrays, fragment",
    [
        (dict(y_true=np.ones((5, 3)), scores=np.ones((5, 4)) * 0.5), "shape"),
        (dict(y_true=np.ones((5, 3)), scores=np.full((5, 3), np.nan)), "NaN"),
        (dict(y_true=np.ones((5, 3)), scores=np.full((5, 3), 1.5)), "[0"),
        (dict(y_true=np.ones((5, 3))), "scores"),
    ],
)
def test_eval_rejects_bad_predictions(capsys, tmp_path, arrays, fragment):
    code, _, err = run(capsys, "eval", "--predictions", _predictions(tmp_path, **arrays))
    assert_one_line_error(code, err, fragment)


def test_eval_bad_threshold_and_missing_run(capsys, tmp_path):
    path = _predictions(tmp_path, y_true=np.ones((5, 3)), scores=np.full((5, 3), 0.5))
    code, _, err = run(capsys, "eval", "--predictions", path, "--threshold", "1.5")
    assert_one_line_error(code, err, "threshold")
    code, _, err = run(capsys, "eval", str(tmp_path / "missing"))
    assert_one_line_error(code, err, "does not exist")
    code, _, err = run(capsys, "eval", "--predictions", path, "--protocol", "val")
    assert_one_line_error(code, err, "val")


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["train", "--method", "brr", "--dataset", "yeast"], ["unknown method 'brr'", "'br'"]),
        (["train", "--method", "br", "--dataset", "scene", "--data-dir", "/nonexistent-dir"], ["mlbench fetch scene"]),
        (
            ["train", "--method", "br", "--dataset", "yeast", "--set", "CC=1"],
            ["unknown parameter 'CC' for method 'br'", "Known: C,"],
        ),
        (["train", "--method", "br", "--dataset", "yeast", "--set", "C=abc"], ["expects a float"]),
        (["train", "--method", "br", "--dataset", "yeast", "--set", "C"], ["key=value"]),
        (["train", "--method", "br", "--dataset", "yeast", "--device", "cuda"], ["CUDA"]),
        (["train", "--method", "br", "--dataset", "yeast", "--config", "/nonexistent.toml"], ["not found"]),
        (["table", "--metric", "ex-f2"], ["unknown metric", "ex-f1"]),
        (["table", "--protocol", "oracle"], ["unknown protocol"]),
    ],
)
def test_bad_input_gives_one_line_errors(env, capsys, argv, fragments):
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err, *fragments)


def test_train_from_toml_config(env, capsys, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('method = "br"\ndataset = "yeast"\nseeds = [3]\n[params]\nC = 0.5\n')
    code, out, err = run(capsys, "train", "--config", str(config), "-q")
    assert code == 0, err
    run_dir = env / "runs/yeast/br/C=0.5/iterative-seed3"
    assert json.loads((run_dir / "config.json").read_text())["params"]["C"] == 0.5


def test_methods_lists_registered_methods(capsys):
    code, out, _ = run(capsys, "methods", "--json")
    ids = {m["id"] for m in json.loads(out)}
    assert code == 0 and {"br", "mlknn", "haram", "bce"} <= ids


def test_methods_overview_states_the_shared_training_parameters_once(capsys):
    """The training loop's parameters, common to every neural method, are in the caption once;
    a row lists its own parameters and the shared ones whose default it changes (lamp: 50 epochs)."""
    code, out, _ = run(capsys, "methods")
    assert code == 0 and "Every neural method also takes" in out
    assert out.count("epochs=100") == 1 and "epochs=50" in out and "d_model=512" in out
    assert out.count("grad_clip=") == 1


def test_methods_named_shows_each_in_full_and_refuses_an_unknown_id(capsys):
    """`mlbench methods mpvae` (and `--method`) lists every parameter with its range and the
    papers' per-dataset value, which the overview table truncates."""
    code, out, _ = run(capsys, "methods", "mpvae", "--method", "br", "--json")
    records = json.loads(out)
    assert code == 0 and [r["id"] for r in records] == ["mpvae", "br"]
    assert records[0]["dataset_params"]["delicious"]["lr"] == 0.0005
    assert records[0]["param_ranges"]["epochs"] == ">= 1" and "IJCAI 2020" in records[0]["citation"]
    code, out, _ = run(capsys, "methods", "mpvae")
    assert code == 0 and "lr_decay_times" in out and "delicious: 0.0005" in out
    code, _, err = run(capsys, "methods", "cgmva")
    assert_one_line_error(code, err, "unknown method", "cgmvae")


def test_set_per_method_and_bare_and_no_dataset_means_every_fetched_one(tmp_path, monkeypatch, capsys):
    """`bce.epochs` reaches bce only; bare `k` reaches the method that has it (mlknn), not br;
    without --dataset every fetched dataset trains (here: the one fetched)."""
    import json

    monkeypatch.setenv("MLBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("MLBENCH_RUNS", str(tmp_path / "runs"))
    assert invoke_cli("fetch", "emotions", "-q") == 0
    code = invoke_cli("train", "--method", "br", "mlknn", "--set", "k=5", "--set", "br.C=0.5", "-q")
    assert code == 0
    assert "every fetched dataset (emotions)" in capsys.readouterr().err
    br = json.loads(next((tmp_path / "runs" / "emotions" / "br").glob("*/*/config.json")).read_text())
    mlknn = json.loads(next((tmp_path / "runs" / "emotions" / "mlknn").glob("*/*/config.json")).read_text())
    assert br["params"]["C"] == 0.5 and "k" not in br["params"]
    assert mlknn["params"]["k"] == 5
    code, _, err = run(capsys, "train", "--method", "br", "--set", "bce.epochs=2", "-q")
    assert_one_line_error(code, err, "bce", "not among the methods")
    code, _, err = run(capsys, "train", "--method", "br", "--set", "epochs=2", "-q")
    assert code != 0 and "epochs" in err


def test_every_command_declares_split_strategy_not_strategy():
    """Issue 11: `--split-strategy` everywhere (`--strategy` is accepted as a spelling only)."""
    import typer.main

    from mlbench.cli import app

    declared = {
        (name, opt)
        for name, command in typer.main.get_command(app).commands.items()
        for param in command.params
        for opt in param.opts
        if "strategy" in opt
    }
    assert declared and all(opt == "--split-strategy" for _, opt in declared), declared
    assert {"split", "train", "reproduce"} <= {name for name, _ in declared}
