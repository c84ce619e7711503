"""Trust nothing on disk (issue 13), as a user meets it through the CLI.

One test per problem of the issue: (1) planted pickles never run, (2) tampered caches are
refused, (3) every corrupted file kind is one line naming it and its repair, (4) bad values are
refused before any run directory exists, (5) nothing is accepted silently, (6) files honour the
umask and killed downloads leave no debris. Each asserts the exit code, a one-line message
without traceback, and the disk afterwards.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from .conftest import invoke_cli

BR_RUN = "yeast/br/default/iterative-seed0"
BCE_SETS = ("--set", "epochs=3", "--set", "hidden=[16]")
BCE_RUN = "yeast/bce/epochs=3,hidden=_16_/iterative-seed0"
SPLIT = "yeast/splits/iterative-80-10-10-seed0"


def run(capsys, *argv):
    code = invoke_cli(*argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code != 0, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert sum(line.startswith("error:") for line in lines) == 1, err
    text = " ".join(lines)
    for fragment in fragments:
        assert fragment in text, (fragment, err)


class Marker:
    """A pickle payload: unpickling it creates the file ``path`` (the harmless stand-in for a
    shell command)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


# -- a workspace: yeast cached and split, a complete br run, an interrupted bce run ---------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    from mlbench.data.fetch import fetch_dataset
    from mlbench.methods.mlp import BCEMethod
    from mlbench.runs.runner import RunSpec, train_run

    root = tmp_path_factory.mktemp("trust")
    data, runs = root / "data", root / "runs"
    fetch_dataset("yeast", data)  # the embedded copy: no network
    train_run(RunSpec("br", "yeast", 0), runs_dir=runs, data_dir=data)
    original = BCEMethod.on_epoch_end

    def interrupt(self, stage, record):
        original(self, stage, record)
        if record["epoch"] == 1:
            raise KeyboardInterrupt

    BCEMethod.on_epoch_end = interrupt
    try:
        with pytest.raises(KeyboardInterrupt):
            train_run(
                RunSpec("bce", "yeast", 0, overrides=(("epochs", 3), ("hidden", [16]))),
                runs_dir=runs,
                data_dir=data,
                progress=False,
            )
    finally:
        BCEMethod.on_epoch_end = original
    assert (runs / BCE_RUN / "checkpoint.pt").is_file()
    scores = np.load(runs / BR_RUN / "scores.npz")
    np.savez(root / "predictions.npz", y_true=scores["y_test"], scores=scores["scores_test"])
    assert invoke_cli("check", root / "expected.csv", "--write", "--runs-dir", runs) == 0
    assert invoke_cli("check", root / "expected.json", "--write", "--runs-dir", runs) == 0
    return root


@pytest.fixture
def ws(pristine, tmp_path, monkeypatch):
    root = tmp_path / "ws"
    shutil.copytree(pristine, root)
    monkeypatch.setenv("MLBENCH_DATA", str(root / "data"))
    monkeypatch.setenv("MLBENCH_RUNS", str(root / "runs"))
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.chdir(tmp_path)
    return root


# -- 1. checkpoints and model files never run code ------------------------------------------------


def _plant(path: Path, payload: Marker, kind: str) -> None:
    import torch

    if kind == "bare pickle":
        path.write_bytes(pickle.dumps({"version": 2, "x": payload}))
    else:  # a real torch archive whose pickle names a foreign global
        torch.save({"version": 2, "done": {}, "current": None, "log": [], "x": payload}, path)


@pytest.mark.parametrize("kind", ["bare pickle", "torch archive"])
def test_1_planted_pickle_in_checkpoint_never_runs_on_resume(ws, capsys, kind):
    marker = ws / "PWNED"
    checkpoint = ws / "runs" / BCE_RUN / "checkpoint.pt"
    _plant(checkpoint, Marker(marker), kind)
    code, _, err = run(capsys, "train", "-m", "bce", "-d", "yeast", *BCE_SETS, "--resume", "--device", "cpu", "-q")
    assert_one_line_error(code, err, str(checkpoint), "refuse" if kind == "bare pickle" else "refused", "--resume")
    assert not marker.exists()
    assert not (ws / "runs" / BCE_RUN / "scores.npz").exists()  # nothing trusted it
    status = json.loads((ws / "runs" / BCE_RUN / "status.json").read_text())
    assert status["state"] == "incomplete"  # refused before the run's files were touched


@pytest.mark.parametrize("kind", ["bare pickle", "torch archive"])
def test_1_planted_pickle_in_model_file_never_runs(tmp_path, kind):
    from mlbench.errors import MlbenchError
    from mlbench.methods.mlp import BCEMethod

    marker, model = tmp_path / "PWNED", tmp_path / "model.pt"
    _plant(model, Marker(marker), kind)
    with pytest.raises(MlbenchError, match="model file"):
        BCEMethod.load(model)
    assert not marker.exists()


def test_1_checkpoint_and_model_hold_the_run_config_hash(ws, capsys):
    import torch

    checkpoint = torch.load(ws / "runs" / BCE_RUN / "checkpoint.pt", weights_only=True)
    assert checkpoint["version"] == 2 and len(checkpoint["config_sha256"]) == 64
    code, _, err = run(capsys, "train", "-m", "bce", "-d", "yeast", *BCE_SETS, "--resume", "--device", "cpu", "-q")
    assert code == 0, err
    model = torch.load(ws / "runs" / BCE_RUN / "model.pt", weights_only=True)
    assert model["config_sha256"] == checkpoint["config_sha256"]
    from mlbench.methods.mlp import BCEMethod

    assert BCEMethod.load(ws / "runs" / BCE_RUN / "model.pt").n_labels_ == 14


def test_1_checkpoint_of_other_data_is_refused(ws, capsys):
    """A checkpoint written under another config hash (here: planted from another run's
    settings) is not resumed."""
    import torch

    path = ws / "runs" / BCE_RUN / "checkpoint.pt"
    blob = torch.load(path, weights_only=True)
    torch.save({**blob, "config_sha256": "0" * 64}, path)
    code, _, err = run(capsys, "train", "-m", "bce", "-d", "yeast", *BCE_SETS, "--resume", "--device", "cpu", "-q")
    assert_one_line_error(code, err, "different config_sha256", "delete it")


# -- 2. tampered or bit-rotted caches are refused -------------------------------------------------


def _tamper(npz_path: Path, keep_mtime: bool = False) -> None:
    stat = npz_path.stat()
    with np.load(npz_path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["X"] = arrays["X"] + 1  # same shapes, same size
    np.savez(npz_path, **arrays)
    assert npz_path.stat().st_size == stat.st_size
    if keep_mtime:
        os.utime(npz_path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_2_tampered_dataset_is_refused_before_training(ws, capsys, mirror_url):
    _tamper(ws / "data/yeast/dataset.npz")
    code, _, err = run(capsys, "train", "-m", "br", "-d", "yeast", "--seed", "1", "-q")
    assert_one_line_error(code, err, "the cached dataset yeast was modified", "mlbench fetch yeast --force")
    assert not (ws / "runs/yeast/br/default/iterative-seed1").exists()
    code, _, err = run(capsys, "verify")
    assert code == 1 and "Traceback" not in err and "dataset yeast was modified" in err
    assert run(capsys, "fetch", "yeast", "--force", "--mirror", mirror_url, "-q")[0] == 0
    code, out, err = run(capsys, "verify")
    assert code == 0 and "verified" in out, err


def test_2_tamper_that_keeps_size_and_mtime_is_caught_by_verify(ws, capsys):
    _tamper(ws / "data/yeast/dataset.npz", keep_mtime=True)
    code, _, err = run(capsys, "fetch", "yeast", "--verify", "-q")
    assert_one_line_error(code, err, "the cached dataset yeast was modified", "mlbench fetch yeast --force")


def test_2_tampered_split_is_refused(ws, capsys):
    path = ws / "data" / f"{SPLIT}.npz"
    with np.load(path) as npz:
        parts = {k: npz[k] for k in npz.files}
    parts["train"], parts["test"] = parts["train"].copy(), parts["test"].copy()
    parts["train"][0], parts["test"][0] = parts["test"][0], parts["train"][0]  # swap two rows
    np.savez(path, **parts)
    code, _, err = run(capsys, "train", "-m", "br", "-d", "yeast", "--seed", "0", "--force", "-q")
    assert_one_line_error(code, err, "was modified", "mlbench split yeast --split-strategy iterative --seeds 0 --force")
    assert (ws / "runs" / BR_RUN / "scores.npz").is_file()  # the old run was left as it was
    assert BR_RUN in (ws / "runs/results.csv").read_text()


def test_2_store_rows_carry_the_data_hash_and_table_warns_when_it_changed(ws, capsys):
    from mlbench.runs.store import read_store

    store = read_store(ws / "runs")
    meta = json.loads((ws / "data/yeast/meta.json").read_text())
    assert set(store["data_sha256"]) == {meta["content_sha256"]}
    code, out, err = run(capsys, "table", "--metric", "ha", "--format", "csv")
    assert code == 0 and "warning" not in err
    # The cache now holds other data than the runs were trained on (as after a refetch).
    (ws / "data/yeast/meta.json").write_text(json.dumps({**meta, "content_sha256": "f" * 64}))
    code, out, err = run(capsys, "table", "--metric", "ha", "--format", "csv")
    assert code == 0 and "yeast" in out
    assert "1 run(s) of yeast" in err and "no longer matches" in err and "--force" in err


def test_2_old_store_without_hash_column_still_loads(ws, capsys):
    import pandas as pd

    path = ws / "runs/results.csv"
    frame = pd.read_csv(path).drop(columns=["data_sha256"])
    path.write_text(frame.to_csv(index=False))
    code, out, _ = run(capsys, "table", "--metric", "ha", "--format", "csv")
    assert code == 0 and "yeast" in out
    assert run(capsys, "train", "-m", "br", "-d", "yeast", "--seed", "1", "-q")[0] == 0
    assert "data_sha256" in path.read_text().splitlines()[0]


# -- 3. every file kind mlbench writes: corrupted -> one line naming it and the repair -------------


def _wrong_types(obj):
    swap = {dict: "x", list: "x", str: [1], int: "x", float: "x", bool: "x", type(None): "x"}
    if isinstance(obj, list):
        return [{k: "not a number" for k in r} if isinstance(r, dict) else "x" for r in obj]
    return {k: swap[type(v)] for k, v in obj.items()}


def _corrupt(path: Path, how: str) -> None:
    rng = np.random.default_rng(0)
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "zero":
        path.write_bytes(b"")
    elif how == "random":
        path.write_bytes(rng.integers(0, 256, 256, dtype=np.uint8).tobytes())
    elif how == "wrong types":
        path.write_text(json.dumps(_wrong_types(json.loads(data))))
    elif how == "missing keys":
        if path.suffix == ".json":
            path.write_text(json.dumps([{}] if isinstance(json.loads(data), list) else {}))
        elif path.suffix == ".csv":
            path.write_text("a,b\n1,2\n")
        else:
            np.savez(path.with_suffix(""), unrelated=np.zeros(3))
    elif how == "npy for npz":
        np.save(path.with_suffix(".npy"), np.zeros(3))
        path.with_suffix(".npy").replace(path)


TRAIN_BR = ("train", "-m", "br", "-d", "yeast", "--seed", "0", "-q")
RESUME_BCE = ("train", "-m", "bce", "-d", "yeast", *BCE_SETS, "--resume", "--device", "cpu", "-q")
FILE_KINDS = {  # file -> (command that reads it, the repair its message must name)
    "data/yeast/meta.json": (("split", "yeast", "--seeds", "0"), "mlbench fetch yeast --force"),
    "data/yeast/dataset.npz": (("split", "yeast", "--seeds", "0"), "mlbench fetch yeast --force"),
    f"data/{SPLIT}.json": (("split", "yeast", "--seeds", "0"), "mlbench split yeast"),
    f"data/{SPLIT}.npz": (("split", "yeast", "--seeds", "0"), "mlbench split yeast"),
    f"runs/{BR_RUN}/status.json": (TRAIN_BR, "--force"),
    f"runs/{BR_RUN}/scores.npz": (("eval", f"runs/{BR_RUN}"), "--force"),
    f"runs/{BCE_RUN}/checkpoint.pt": (RESUME_BCE, "--resume"),
    "runs/results.csv": (("table", "--metric", "ha"), "results.csv"),
    "predictions.npz": (("eval", "--predictions", "predictions.npz"), "numpy.savez"),
    "expected.csv": (("check", "expected.csv"), "expected.csv"),
    "expected.json": (("check", "expected.json"), "expected.json"),
}
VERIFIED_KINDS = {  # read back only by `mlbench verify` (and reports)
    f"runs/{BR_RUN}/config.json": "--force",
    f"runs/{BR_RUN}/metrics.json": "--force",
}
CORRUPTIONS = {
    ".json": ["truncate", "zero", "random", "wrong types", "missing keys"],
    ".npz": ["truncate", "zero", "random", "missing keys", "npy for npz"],
    ".csv": ["truncate", "zero", "random", "missing keys"],
    ".pt": ["truncate", "zero", "random"],
}
CASES = [(f, how) for f in FILE_KINDS for how in CORRUPTIONS[Path(f).suffix]]


@pytest.mark.parametrize("relative, how", CASES, ids=[f"{Path(f).name}-{h}" for f, h in CASES])
def test_3_corrupted_file_gives_one_line_naming_it_and_the_repair(ws, capsys, relative, how):
    path = ws / relative
    os.chdir(ws)
    store_before = (ws / "runs/results.csv").read_bytes()
    _corrupt(path, how)
    corrupted = path.read_bytes()
    argv, repair = FILE_KINDS[relative]
    code, _, err = run(capsys, *argv)
    assert "Traceback" not in err
    if relative == "runs/results.csv" and how == "truncate":
        # A cut-off store is read without its broken line: a warning naming the line, exit 0.
        assert code == 0 and "warning:" in err and "line(s)" in err and "verify --repair" in err
    else:
        assert_one_line_error(code, err, path.name, repair)
    assert path.read_bytes() == corrupted  # nothing rewrote or "repaired" it silently
    if relative != "runs/results.csv":
        assert (ws / "runs/results.csv").read_bytes() == store_before


@pytest.mark.parametrize("relative", list(VERIFIED_KINDS))
@pytest.mark.parametrize("how", CORRUPTIONS[".json"])
def test_3_corrupted_run_files_are_named_by_verify(ws, capsys, relative, how):
    _corrupt(ws / relative, how)
    code, _, err = run(capsys, "verify")
    assert code == 1 and "Traceback" not in err
    problems = [line for line in err.splitlines() if line.startswith("problem:")]
    assert len(problems) == 1 and Path(relative).name in problems[0]
    assert VERIFIED_KINDS[relative] in problems[0]


# -- 4. values are validated before anything is written -------------------------------------------


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (("-m", "bce", "--set", "epochs=0"), "'epochs' of method 'bce' must be >= 1"),
        (("-m", "mlknn", "--set", "k=0"), "'k' of method 'mlknn' must be >= 1"),
        (("-m", "br", "--set", "C=-1"), "'C' of method 'br' must be > 0"),
        (("-m", "bce", "--set", "dropout=1.5"), "must be in [0, 1)"),
        (("-m", "br", "--seed", "-1"), "seeds must be integers >= 0"),
    ],
)
def test_4_out_of_range_values_leave_no_run_directory(ws, capsys, argv, fragment):
    shutil.rmtree(ws / "runs")
    code, _, err = run(capsys, "train", "-d", "yeast", *argv, "-q")
    assert_one_line_error(code, err, fragment)
    assert not (ws / "runs").exists()


def test_4_out_of_range_config_params_and_reproduce_seeds(ws, capsys):
    shutil.rmtree(ws / "runs")
    config = ws / "run.toml"
    config.write_text('method = "br"\ndataset = "yeast"\n[params]\nC = -1.0\n')
    assert_one_line_error(*run(capsys, "train", "--config", config)[::2], "must be > 0")
    code, _, err = run(capsys, "reproduce", "--paper", "cgmvae", "--seeds", "-2", "--dry-run")
    assert_one_line_error(code, err, "seeds must be integers >= 0")
    assert not (ws / "runs").exists()


def test_4_runs_dir_under_a_file_and_unwritable_check_target(ws, capsys, monkeypatch):
    blocker = ws / "blocker"
    blocker.write_text("a file, not a directory\n")
    monkeypatch.setenv("MLBENCH_RUNS", str(blocker / "runs"))
    code, _, err = run(capsys, "train", "-m", "br", "-d", "yeast", "-q")
    assert_one_line_error(code, err, "is a file, not a directory", "MLBENCH_RUNS")
    monkeypatch.setenv("MLBENCH_RUNS", str(ws / "runs"))
    code, _, err = run(capsys, "check", blocker / "expected.csv", "--write")
    assert_one_line_error(code, err, "cannot write", "writable directory")
    assert blocker.read_text() == "a file, not a directory\n"


def test_4_ranges_are_declared_with_the_parameters(capsys):
    code, out, _ = run(capsys, "methods", "--json")
    assert code == 0
    records = {r["id"]: r for r in json.loads(out)}
    assert records["br"]["param_ranges"]["C"] == "> 0"
    assert records["cgmvae"]["param_ranges"]["epochs"] == ">= 1"  # inherited from NeuralMethod
    assert records["mulsupcon"]["param_ranges"]["batch_size"] == "-1 or >= 1"  # its sentinel


# -- 5. nothing is accepted silently --------------------------------------------------------------


def test_5_unknown_config_key_is_an_error_with_a_suggestion(ws, capsys):
    shutil.rmtree(ws / "runs")
    config = ws / "run.toml"
    config.write_text('method = "br"\ndataset = "yeast"\nsedes = [5]\n')
    code, _, err = run(capsys, "train", "--config", config, "-q")
    assert_one_line_error(code, err, "unknown key 'sedes'", "Did you mean 'seeds'")
    assert not (ws / "runs").exists()


def test_5_float_split_indices_in_a_bundle_are_refused(tmp_path, capsys):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    rng = np.random.default_rng(0)
    data = np.hstack([rng.integers(0, 2, (20, 27)), rng.normal(size=(20, 38))])
    np.save(bundle / "sider_data.npy", data)
    np.save(bundle / "sider_train_idx.npy", np.arange(14) + 0.5)  # would truncate to 0..13
    np.save(bundle / "sider_val_idx.npy", np.arange(14, 17))
    np.save(bundle / "sider_test_idx.npy", np.arange(17, 20))
    code, _, err = run(capsys, "fetch", "sider", "--from", bundle, "--data-dir", tmp_path / "d")
    assert_one_line_error(code, err, "non-integer index 0.5", "sider_train_idx.npy")
    assert not (tmp_path / "d/sider/meta.json").exists()
    np.save(bundle / "sider_train_idx.npy", np.arange(14, dtype=float))  # whole numbers are fine
    assert run(capsys, "fetch", "sider", "--from", bundle, "--data-dir", tmp_path / "d")[0] == 0


def test_5_unknown_metric_in_a_check_file(ws, capsys):
    (ws / "expected.csv").write_text("dataset,method,metric,value\nyeast,br,ex-f2,0.5\n")
    code, _, err = run(capsys, "check", ws / "expected.csv")
    assert_one_line_error(code, err, "unknown metric 'ex-f2'", "Did you mean", "'ex-f1'")


def test_5_cut_off_store_line_is_reported_and_repaired(ws, capsys):
    path = ws / "runs/results.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]) + lines[-1][:20])  # the last line cut off mid-row
    code, out, err = run(capsys, "table", "--metric", "ha", "--format", "csv")
    assert code == 0 and "yeast" in out
    assert f"line(s) {len(lines)} are cut off" in err and "Traceback" not in err
    code, _, err = run(capsys, "verify")
    assert code == 1 and f"line(s) {len(lines)}" in err
    code, _, err = run(capsys, "verify", "--repair")
    assert code == 0 and "rewrote" in err
    assert path.read_text() == "".join(lines[:-1])
    assert (ws / "runs/results.csv.bak").read_text().endswith(lines[-1][:20])
    assert run(capsys, "verify")[0] == 0


def test_5_every_store_write_keeps_the_previous_store(ws, capsys):
    before = (ws / "runs/results.csv").read_text()
    assert run(capsys, "train", "-m", "br", "-d", "yeast", "--seed", "1", "-q")[0] == 0
    assert (ws / "runs/results.csv.bak").read_text() == before
    assert (ws / "runs/results.csv").read_text() != before


# -- 6. permissions and debris --------------------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_6_written_files_honour_the_umask(tmp_path, capsys, monkeypatch, umask, mode):
    monkeypatch.setenv("MLBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("MLBENCH_RUNS", str(tmp_path / "runs"))
    old = os.umask(umask)
    try:
        assert run(capsys, "fetch", "emotions", "-q")[0] == 0
        assert run(capsys, "train", "-m", "mlknn", "-d", "emotions", "-q")[0] == 0
        assert run(capsys, "train", "-m", "mlknn", "-d", "emotions", "--seed", "1", "-q")[0] == 0
    finally:
        os.umask(old)
    run_dir = tmp_path / "runs/emotions/mlknn/default/iterative-seed0"
    files = [
        tmp_path / "data/emotions/dataset.npz",
        tmp_path / "data/emotions/meta.json",
        *(tmp_path / "data/emotions/raw").glob("*.arff"),
        run_dir / "config.json",
        run_dir / "scores.npz",
        run_dir / "status.json",
        tmp_path / "runs/results.csv",
        tmp_path / "runs/results.csv.bak",
    ]
    assert len(files) == 9
    for path in files:
        assert oct(path.stat().st_mode & 0o777) == oct(mode), path


def test_6_downloads_honour_the_umask_and_killed_downloads_leave_no_debris(tmp_path, capsys, mirror_url, dead_mirror):
    raw = tmp_path / "data/emotions/raw"
    raw.mkdir(parents=True)
    debris = [raw / "tmpab12cd_3", raw / ".emotions.xml.k2j3h4.tmp"]  # pooch's, mlbench's
    for path in debris:
        path.write_bytes(b"half a download")
    old = os.umask(0o022)
    try:
        code, _, err = run(
            capsys, "fetch", "emotions", "--force", "--mirror", mirror_url, "--data-dir", tmp_path / "data", "-q"
        )
    finally:
        os.umask(old)
    assert code == 0, err
    assert not any(path.exists() for path in debris)
    downloaded = sorted(raw.glob("emotions*"))
    assert downloaded and all(p.stat().st_mode & 0o777 == 0o644 for p in downloaded)
    # A failed download removes its temporary file at once.
    code, _, err = run(capsys, "fetch", "enron", "--mirror", dead_mirror, "--data-dir", tmp_path / "data", "-q")
    assert_one_line_error(code, err, "could not fetch enron")
    leftovers = [p.name for p in (tmp_path / "data/enron/raw").iterdir() if not p.name.startswith(".download")]
    assert leftovers == []
