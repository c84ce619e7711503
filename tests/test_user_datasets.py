"""Datasets of your own: every format from hand-made files through fetch -> split -> train ->
table, the user registry (local files and shared URL lists), changed inputs, and bad input."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import scipy.sparse as sp

from mlbench.data.cache import load_cached

from .conftest import invoke_cli, serve_directory
from .test_cli import assert_one_line_error

N, D, L, N_TRAIN = 60, 5, 3, 40


def toy_arrays():
    """Features rounded to 4 decimals (text formats hold them exactly) and labels that depend
    on them, so BR learns something; a few rows have no label."""
    rng = np.random.default_rng(7)
    X = np.round(rng.normal(size=(N, D)), 4)
    Y = (X[:, :L] + rng.normal(scale=0.5, size=(N, L)) > 0.3).astype(np.uint8)
    return X, Y


@pytest.fixture(scope="module")
def toy():
    return toy_arrays()


def _arff_header(relation: str, labels_first: bool = False, nominal: bool = False) -> list[str]:
    features = [f"@attribute f{j} numeric" for j in range(D)]
    if nominal:
        features.append("@attribute color {red,green,blue}")
    labels = [f"@attribute lab{j} {{0,1}}" for j in range(L)]
    return [f"@relation '{relation}'", *(labels + features if labels_first else features + labels), "@data"]


def _dense_row(x, y, labels_first=False, color=None) -> str:
    values = [f"{v:.4f}" for v in x] + ([color] if color else [])
    labels = [str(int(v)) for v in y]
    return ",".join(labels + values if labels_first else values + labels)


def _sparse_row(x, y, color_index: int) -> str:
    # attribute order: f0..f4, color, lab0..lab2; absent nominal = first value (red)
    items = [f"{j} {v:.4f}" for j, v in enumerate(x) if v != 0]
    if color_index:
        items.append(f"{D} {['red', 'green', 'blue'][color_index]}")
    items += [f"{D + 1 + j} 1" for j in range(L) if y[j]]
    return "{" + ",".join(items) + "}"


COLORS = ["red", "green", "blue"]


def write_mulan(root, X, Y):
    """toy.xml + toy-train.arff (dense rows) + toy-test.arff (sparse rows), with a nominal."""
    root.mkdir()
    color = np.arange(N) % 3
    train = _arff_header("toy", nominal=True) + [_dense_row(X[i], Y[i], color=COLORS[color[i]]) for i in range(N_TRAIN)]
    test = _arff_header("toy", nominal=True) + [_sparse_row(X[i], Y[i], color[i]) for i in range(N_TRAIN, N)]
    (root / "toy-train.arff").write_text("\n".join(train) + "\n")
    (root / "toy-test.arff").write_text("\n".join(test) + "\n")
    (root / "toy.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<labels xmlns="http://mulan.sourceforge.net/labels">'
        + "".join(f'<label name="lab{j}"></label>' for j in range(L))
        + "</labels>\n"
    )
    onehot = np.eye(3)[color]
    return root, np.hstack([X, onehot]), True


def write_meka(root, X, Y):
    root.mkdir()
    lines = _arff_header("toy: -C 3", labels_first=True) + [_dense_row(X[i], Y[i], labels_first=True) for i in range(N)]
    (root / "toy.arff").write_text("\n".join(lines) + "\n")
    return root / "toy.arff", X, False


def _libsvm_lines(X, Y, rows, one_based=False):
    out = []
    for i in rows:
        labels = ",".join(str(j) for j in np.flatnonzero(Y[i]))
        feats = " ".join(f"{j + one_based}:{X[i, j]:.4f}" for j in range(D) if X[i, j] != 0)
        out.append(f"{labels} {feats}")
    return out


def write_libsvm(root, X, Y):
    """Extreme Classification Repository layout: toy_train.txt + toy_test.txt with headers."""
    root.mkdir()
    for role, rows in (("train", range(N_TRAIN)), ("test", range(N_TRAIN, N))):
        lines = [f"{len(rows)} {D} {L}", *_libsvm_lines(X, Y, rows)]
        (root / f"toy_{role}.txt").write_text("\n".join(lines) + "\n")
    return root, X, True


def write_libsvm_plain(root, X, Y):
    root.mkdir()
    (root / "toy.svm").write_text("\n".join(_libsvm_lines(X, Y, range(N), one_based=True)) + "\n")
    return root / "toy.svm", X, False


def write_npz(root, X, Y):
    root.mkdir()
    np.savez(
        root / "toy.npz",
        X=X,
        Y=Y,
        feature_names=np.array([f"g{j}" for j in range(D)]),
        label_names=np.array(["a", "b", "c"]),
        train_idx=np.arange(N_TRAIN),
        test_idx=np.arange(N_TRAIN, N),
    )
    return root / "toy.npz", X, True


def write_npz_sparse(root, X, Y):
    root.mkdir()
    np.savez(root / "toy.npz", Y=Y)
    sp.save_npz(root / "toy_X.npz", sp.csr_matrix(X))
    return root, X, False


def write_bundle(root, X, Y):
    root.mkdir()
    np.save(root / "toy_data.npy", np.hstack([Y, X]))
    for part, rows in (("train", range(0, 36)), ("val", range(36, 40)), ("test", range(40, N))):
        np.save(root / f"toy_{part}_idx.npy", np.array(rows))
    return root, X, True


FORMATS = {  # name: (writer, format given with --format or None for detection, extra options)
    "mulan": (write_mulan, None, []),
    "meka": (write_meka, None, []),
    "libsvm": (write_libsvm, None, []),
    "libsvm-plain": (write_libsvm_plain, "libsvm", ["--n-features", D, "--n-labels", L]),
    "npz": (write_npz, None, []),
    "npz-sparse": (write_npz_sparse, "npz", []),
    "bundle": (write_bundle, None, ["--n-labels", L]),
}


def run(capsys, *argv):
    code = invoke_cli(*argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("kind", list(FORMATS))
def test_each_format_through_fetch_split_train_table(kind, toy, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    X, Y = toy
    writer, fmt, options = FORMATS[kind]
    source, X_expected, has_upstream = writer(tmp_path / "in", X, Y)
    data, runs = tmp_path / "data", tmp_path / "runs"
    dirs = ["--data-dir", data]
    code, out, err = run(
        capsys, "fetch", "mine", "--from", source, *(["--input-format", fmt] if fmt else []), *options, *dirs
    )
    assert code == 0, err
    cached = load_cached(data, "mine")
    dense = cached.X.toarray() if sp.issparse(cached.X) else cached.X
    assert np.allclose(dense, X_expected, atol=1e-4)
    assert np.array_equal(cached.Y, Y)
    assert cached.meta["format"] == (fmt or kind) and cached.meta["origin"] == "local"
    assert ((cached.upstream_split == 1).sum() == N - N_TRAIN) == has_upstream

    code, out, _ = run(capsys, "datasets", "--json", *dirs)
    record = {r["name"]: r for r in json.loads(out)}["mine"]
    assert (record["source"], record["n_samples"], record["n_labels"], record["cached"]) == ("local", N, L, True)
    registry = json.loads((data / "user-datasets.json").read_text())["datasets"][0]
    files = registry["sources"][0]["files"]
    assert all(f["sha256"] == hashlib.sha256(open(f["path"], "rb").read()).hexdigest() for f in files)

    code, out, err = run(capsys, "split", "mine", "--folds", "3", "--json", *dirs)
    assert code == 0, err
    assert [r["strategy"] for r in json.loads(out)] == ["kfold3-fold0", "kfold3-fold1", "kfold3-fold2"]
    assert (data / "mine" / "splits" / "kfold3-fold0-seed0.npz").is_file()

    code, _, err = run(capsys, "train", "-m", "br", "-d", "mine", "--folds", "3", "-q", *dirs, "--runs-dir", runs)
    assert code == 0, err
    config = json.loads((runs / "mine/br/default/kfold3-fold1-seed0/config.json").read_text())
    assert {f["sha256"] for f in config["split"]["files"]} == {f["sha256"] for f in files}
    if has_upstream:
        code, _, err = run(
            capsys, "train", "-m", "br", "-d", "mine", "--split-strategy", "official", "-q", *dirs, "--runs-dir", runs
        )
        assert code == 0, err
        config = json.loads((runs / "mine/br/default/official-seed0/config.json").read_text())
        assert config["split"]["sizes"]["test"] == N - N_TRAIN

    code, out, err = run(capsys, "table", "--split-strategy", "kfold3", "--format", "markdown", "--runs-dir", runs)
    assert code == 0, err
    assert out.splitlines()[0].split() == ["|", "Method", "|", "mine", "|"]
    assert "over 3 run(s): 3 fold(s) of K-fold cross-validation × 1 seed(s)" in out


def test_changed_input_file_is_detected_by_every_command(toy, tmp_path, capsys):
    source, _, _ = write_meka(tmp_path / "in", *toy)
    dirs = ["--data-dir", tmp_path / "data"]
    assert invoke_cli("fetch", "mine", "--from", source, *dirs) == 0
    source.write_text(source.read_text().replace("0.", "1.", 1))
    capsys.readouterr()
    for argv in (
        ["split", "mine"],
        ["train", "-m", "br", "-d", "mine", "--runs-dir", tmp_path / "runs"],
        ["fetch", "mine"],
        ["fetch", "mine", "--from", source],
    ):
        code, _, err = run(capsys, *argv, *dirs)
        assert_one_line_error(code, err, str(source), "mlbench fetch mine --from", "--force")
    assert not (tmp_path / "runs" / "mine").exists()
    assert invoke_cli("fetch", "mine", "--from", source, "--force", *dirs) == 0
    assert invoke_cli("split", "mine", *dirs) == 0


def test_touched_but_unchanged_and_missing_inputs_are_fine(toy, tmp_path):
    source, _, _ = write_meka(tmp_path / "in", *toy)
    dirs = ["--data-dir", tmp_path / "data"]
    assert invoke_cli("fetch", "mine", "--from", source, *dirs) == 0
    source.write_text(source.read_text())  # new mtime, same bytes: re-hashed, accepted
    assert invoke_cli("split", "mine", *dirs) == 0
    source.unlink()  # the cache holds the data (e.g. a data dir copied to another machine)
    assert invoke_cli("split", "mine", "--seeds", "1", *dirs) == 0


def _nothing_written(data_dir) -> bool:
    return not (data_dir / "user-datasets.json").exists() and not (data_dir / "mine").exists()


def test_bad_input_is_one_line_and_writes_nothing(toy, tmp_path, capsys):
    X, Y = toy
    data = tmp_path / "data"
    dirs = ["--data-dir", data]
    cases = []
    # format not detectable
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "notes.md").write_text("hello\n")
    cases.append(
        (["fetch", "mine", "--from", tmp_path / "odd"], ["cannot tell the format", "--input-format mulan|meka"])
    )
    # XML labels missing from the ARFF
    root, _, _ = write_mulan(tmp_path / "mulan", X, Y)
    (root / "toy.xml").write_text((root / "toy.xml").read_text().replace("lab2", "lab9"))
    cases.append((["fetch", "mine", "--from", root], ["'lab9' is not an attribute", "fix the names in the XML"]))
    # -C larger than the attribute count
    source, _, _ = write_meka(tmp_path / "meka", X, Y)
    source.write_text(source.read_text().replace("-C 3", "-C 30"))
    cases.append((["fetch", "mine", "--from", source, "--input-format", "meka"], ["-C 30", "8 attributes", "set -C"]))
    # libsvm ids out of range
    bad = tmp_path / "bad_label.txt"
    bad.write_text(f"2 {D} {L}\n0,1 0:1.0\n0,{L} 1:2.0\n")
    cases.append((["fetch", "mine", "--from", bad], ["line 3", f"label id {L}", f"outside 0..{L - 1}", "--n-labels"]))
    bad = tmp_path / "bad_feature.txt"
    bad.write_text(f"2 {D} {L}\n0 0:1.0\n1 {D}:2.0\n")
    cases.append((["fetch", "mine", "--from", bad], ["line 3", f"feature id {D}", "--n-features"]))
    plain = tmp_path / "plain.svm"
    plain.write_text("0 1:1.0\n")
    cases.append(
        (
            ["fetch", "mine", "--from", plain],
            ["no 'n_samples n_features n_labels' header", "--n-features D --n-labels L"],
        )
    )
    # a bundle without its label count; an npz with an object array
    bundle, _, _ = write_bundle(tmp_path / "bundle", X, Y)
    cases.append((["fetch", "mine", "--from", bundle], ["--n-labels L"]))
    np.savez(tmp_path / "obj.npz", X=X, Y=Y, label_names=np.array(["a", None, 3], dtype=object))
    cases.append((["fetch", "mine", "--from", tmp_path / "obj.npz"], ["without pickle", "dtype=str"]))
    for argv, fragments in cases:
        code, _, err = run(capsys, *argv, *dirs)
        assert_one_line_error(code, err, *fragments)
        assert _nothing_written(data), argv
    # a registered name, in either spelling, is refused before anything is read
    for name in ("yeast", "CAL500"):
        code, _, err = run(capsys, "fetch", name, "--from", root, *dirs)
        assert_one_line_error(code, err, f"{name!r} is a registered dataset", f"{name}-mine")
        assert not (data / name).exists()


def test_user_registry_with_urls_downloads_through_the_mirror(toy, tmp_path, capsys):
    X, Y = toy
    served = tmp_path / "served" / "lab.example.org" / "sets"
    served.mkdir(parents=True)
    source, _, _ = write_meka(tmp_path / "in", X, Y)
    (served / "toy.arff").write_bytes(source.read_bytes())
    entry = {
        "name": "labtoy",
        "domain": "text",
        "n_labels": L,
        "sources": [
            {
                "name": "lab",
                "format": "meka",
                "files": [
                    {
                        "url": "https://lab.example.org/sets/toy.arff",
                        "role": "all",
                        "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
                        "size": source.stat().st_size,
                    }
                ],
            }
        ],
    }
    shared = tmp_path / "lab-datasets.json"
    shared.write_text(json.dumps({"datasets": [entry]}))
    data, runs = tmp_path / "data", tmp_path / "runs"
    server, url = serve_directory(tmp_path / "served")
    try:
        code, _, err = run(capsys, "fetch", "--registry", shared, "labtoy", "--mirror", url, "--data-dir", data)
        assert code == 0, err
        # a wrong checksum in the shared file: refused, nothing cached
        entry["name"] = "labtoy2"
        entry["sources"][0]["files"][0]["sha256"] = "0" * 64
        shared.write_text(json.dumps({"datasets": [entry]}))
        code, _, err = run(capsys, "fetch", "--registry", shared, "labtoy2", "--mirror", url, "--data-dir", data)
        assert_one_line_error(code, err, "checksum mismatch")
        assert not (data / "labtoy2" / "dataset.npz").exists()
        names = [e["name"] for e in json.loads((data / "user-datasets.json").read_text())["datasets"]]
        assert names == ["labtoy"]  # the failed entry was not kept
    finally:
        server.shutdown()
    assert np.array_equal(load_cached(data, "labtoy").Y, Y)
    code, out, _ = run(capsys, "datasets", "--json", "--data-dir", data)
    assert {r["name"]: r["source"] for r in json.loads(out)}["labtoy"] == "lab"
    assert invoke_cli("train", "-m", "br", "-d", "labtoy", "-q", "--data-dir", data, "--runs-dir", runs) == 0
    config = json.loads((runs / "labtoy/br/default/iterative-seed0/config.json").read_text())
    assert config["split"]["files"][0]["url"] == "https://lab.example.org/sets/toy.arff"


def test_registry_file_in_the_data_dir_cannot_shadow_a_registered_name(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "user-datasets.json").write_text(
        json.dumps(
            {
                "datasets": [
                    {
                        "name": "scene",
                        "sources": [
                            {
                                "format": "meka",
                                "files": [{"url": "https://x.org/a.arff", "role": "all", "sha256": "a" * 64}],
                            }
                        ],
                    }
                ]
            }
        )
    )
    code, _, err = run(capsys, "datasets", "--data-dir", data)
    assert_one_line_error(code, err, "user-datasets.json", "'scene' is a registered dataset")


def test_unknown_name_points_to_the_import(tmp_path, capsys):
    code, _, err = run(capsys, "train", "-m", "br", "-d", "nosuch", "--data-dir", tmp_path)
    assert_one_line_error(code, err, "unknown dataset 'nosuch'", "mlbench fetch NAME --from PATH")


def test_reimport_of_same_files_is_a_cache_hit_and_other_files_need_force(toy, tmp_path, capsys):
    X, Y = toy
    first, _, _ = write_meka(tmp_path / "a", X, Y)
    second, _, _ = write_npz(tmp_path / "b", X, Y)
    dirs = ["--data-dir", tmp_path / "data"]
    assert invoke_cli("fetch", "mine", "--from", first, *dirs) == 0
    assert invoke_cli("fetch", "mine", "--from", first, *dirs) == 0
    capsys.readouterr()
    code, _, err = run(capsys, "fetch", "mine", "--from", second, *dirs)
    assert_one_line_error(code, err, "already a user dataset", "--force")
    assert load_cached(tmp_path / "data", "mine").meta["format"] == "meka"
    assert invoke_cli("fetch", "mine", "--from", second, "--force", *dirs) == 0
    assert load_cached(tmp_path / "data", "mine").meta["format"] == "npz"
