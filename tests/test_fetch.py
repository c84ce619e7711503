"""fetch: every mirrored dataset through a real HTTP server, cache hits, --force, corrupted
files, dead mirrors, the embedded default and MPVAE-style bundles."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mlbench.data.cache import is_cached, load_cached
from mlbench.data.download import mirror_url as rewrite
from mlbench.data.fetch import fetch_dataset
from mlbench.data.registry import DATASETS
from mlbench.data.user_registry import get_dataset
from mlbench.errors import MlbenchError

from .conftest import MIRROR_DIR

# Shapes from shared/datasets/README.md: (train rows, test rows, features, labels, cardinality).
MULAN_SHAPES = {
    "yeast": (1500, 917, 103, 14, 4.24),
    "scene": (1211, 1196, 294, 6, 1.07),
    "emotions": (391, 202, 72, 6, 1.87),
    "enron": (1123, 579, 1001, 53, 3.38),
    "bibtex": (4880, 2515, 1836, 159, 2.40),
    "delicious": (12920, 3185, 500, 983, 19.02),
    "tmc2007-500": (21519, 7077, 500, 22, 2.16),
}
# MEKA copies of the same data (emotions: one row and one feature fewer, per the README).
MEKA_SHAPES = {"yeast": (2417, 103, 14), "scene": (2407, 294, 6), "emotions": (592, 71, 6), "enron": (1702, 1001, 53)}


def mirrored(spec_name: str, source: str) -> bool:
    spec = get_dataset(spec_name)
    return all((MIRROR_DIR / rewrite(f.url, "x")[2:]).is_file() for f in spec.source(source).files)


@pytest.mark.parametrize("name", list(MULAN_SHAPES))
def test_every_mirrored_mulan_dataset_fetches_with_readme_shape(name, mirror_url, tmp_path):
    n_train, n_test, n_features, n_labels, cardinality = MULAN_SHAPES[name]
    dataset = fetch_dataset(name, tmp_path, mirror=mirror_url, source="mulan", force=True)
    assert dataset.X.shape == (n_train + n_test, n_features)
    assert dataset.Y.shape == (n_train + n_test, n_labels)
    assert set(np.unique(dataset.Y)) <= {0, 1}
    assert dataset.cardinality == pytest.approx(cardinality, abs=0.01)
    assert (dataset.upstream_split == 0).sum() == n_train
    assert (dataset.upstream_split == 1).sum() == n_test
    meta = json.loads((tmp_path / name / "meta.json").read_text())
    registry = {f.url: f.sha256 for f in get_dataset(name).source("mulan").files}
    assert {f["url"]: f["sha256"] for f in meta["files"]} == registry


@pytest.mark.parametrize("name", list(MEKA_SHAPES))
def test_meka_alternate_source(name, mirror_url, tmp_path):
    dataset = fetch_dataset(name, tmp_path, mirror=mirror_url, source="meka")
    assert (dataset.n_samples, dataset.n_features, dataset.n_labels) == MEKA_SHAPES[name]
    assert dataset.meta["source"] == "meka"
    assert (dataset.upstream_split == -1).all()


def test_mirror_covers_what_the_tests_expect():
    # The registry is independent of the mirror; this only documents which sources are mirrored.
    assert all(mirrored(name, "mulan") for name in MULAN_SHAPES)
    assert not mirrored("birds", "mulan")  # registered, with the same code path, not mirrored


def test_mulan_and_meka_yeast_hold_the_same_data(mirror_url, tmp_path):
    mulan = fetch_dataset("yeast", tmp_path / "a", mirror=mirror_url, source="mulan")
    meka = fetch_dataset("yeast", tmp_path / "b", mirror=mirror_url, source="meka")
    assert np.allclose(np.sort(mulan.X, axis=0), np.sort(meka.X, axis=0), atol=1e-6)
    assert mulan.Y.sum(axis=0).tolist() == meka.Y.sum(axis=0).tolist()


def test_second_fetch_is_a_cache_hit_without_network(mirror_url, dead_mirror, tmp_path):
    first = fetch_dataset("emotions", tmp_path, mirror=mirror_url, source="mulan", force=True)
    again = fetch_dataset("emotions", tmp_path, mirror=dead_mirror)
    assert again.content_hash == first.content_hash


def test_force_refetches_through_the_network(mirror_url, dead_mirror, tmp_path):
    fetch_dataset("emotions", tmp_path, mirror=mirror_url, source="mulan", force=True)
    with pytest.raises(MlbenchError, match="could not download"):
        fetch_dataset("emotions", tmp_path, mirror=dead_mirror, source="mulan", force=True)
    assert fetch_dataset("emotions", tmp_path, mirror=mirror_url, force=True).n_samples == 593


def test_dead_mirror_names_the_url_and_the_fix(dead_mirror, tmp_path):
    with pytest.raises(MlbenchError) as info:
        fetch_dataset("enron", tmp_path, mirror=dead_mirror, source="mulan")
    message = str(info.value)
    assert dead_mirror in message and "MLBENCH_MIRROR" in message and "\n" not in message
    assert not is_cached(tmp_path, "enron")


def _mirror_copy(tmp_path, mutate):
    """A local mirror of emotions' Mulan files where ``mutate(path)`` spoils the train file."""
    root = tmp_path / "mirror"
    spec = get_dataset("emotions").source("mulan")
    for remote in spec.files:
        relative = rewrite(remote.url, "x")[2:]
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(MIRROR_DIR / relative, target)
        if remote.role == "train":
            mutate(target)
    return root


@pytest.mark.parametrize("spoil", ["truncate", "html"])
def test_corrupted_download_is_rejected_and_nothing_is_cached(spoil, tmp_path):
    def mutate(path):
        if spoil == "truncate":
            path.write_bytes(path.read_bytes()[:5000])
        else:
            path.write_text("<html><body>404: Not Found</body></html>")

    from .conftest import serve_directory

    server, url = serve_directory(_mirror_copy(tmp_path, mutate))
    try:
        with pytest.raises(MlbenchError, match="checksum mismatch"):
            fetch_dataset("emotions", tmp_path / "data", mirror=url, source="mulan", force=True)
    finally:
        server.shutdown()
    raw = tmp_path / "data" / "emotions" / "raw"
    assert not (raw / "emotions-train.arff").exists()
    assert not [p for p in raw.iterdir() if p.name.startswith("tmp")]  # pooch's temp file is gone
    assert not is_cached(tmp_path / "data", "emotions")


def test_local_directory_mirror(tmp_path):
    dataset = fetch_dataset("emotions", tmp_path, mirror=str(MIRROR_DIR), source="mulan", force=True)
    assert dataset.n_samples == 593


def test_partial_file_left_by_a_killed_download_is_not_trusted(mirror_url, tmp_path):
    raw = tmp_path / "emotions" / "raw"
    raw.mkdir(parents=True)
    full = MIRROR_DIR / rewrite(get_dataset("emotions").source("mulan").files[0].url, "x")[2:]
    (raw / "emotions-train.arff").write_bytes(full.read_bytes()[:1000])
    dataset = fetch_dataset("emotions", tmp_path, mirror=mirror_url, source="mulan")
    assert dataset.n_samples == 593
    assert (raw / "emotions-train.arff").stat().st_size == full.stat().st_size


def test_embedded_yeast_needs_no_network(dead_mirror, tmp_path):
    dataset = fetch_dataset("yeast", tmp_path, mirror=dead_mirror)
    assert (dataset.n_samples, dataset.n_features, dataset.n_labels) == (2417, 103, 14)
    # the embedded copy was verified against the registry checksum
    meta = load_cached(tmp_path, "yeast").meta
    assert {f["sha256"] for f in meta["files"]} == {f.sha256 for f in get_dataset("yeast").sources[0].files}


def test_falls_back_to_the_next_source(mirror_url, tmp_path):
    # Mulan's scene is missing from this local mirror, MEKA's is present.
    root = tmp_path / "mirror"
    meka = get_dataset("scene").source("meka").files[0]
    relative = rewrite(meka.url, "x")[2:]
    (root / relative).parent.mkdir(parents=True)
    shutil.copyfile(MIRROR_DIR / relative, root / relative)
    notes = []
    dataset = fetch_dataset("scene", tmp_path / "data", mirror=str(root), notify=notes.append)
    assert dataset.meta["source"] == "meka" and notes and "mulan" in notes[0]


def test_unwritable_data_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(MlbenchError, match="cannot write to the data directory"):
        fetch_dataset("emotions", blocker / "data", mirror=str(MIRROR_DIR))


def test_unknown_dataset_suggests_close_names():
    with pytest.raises(MlbenchError, match="Did you mean 'yeast'"):
        get_dataset("yaest")


def test_every_registered_file_has_a_checksum_and_size():
    for spec in DATASETS.values():
        for source in spec.sources:
            for remote in source.files:
                assert len(remote.sha256) == 64 and remote.size > 0, remote.url


# -- MPVAE/C-GMVAE bundles ------------------------------------------------------------------------


def _write_mirflickr_bundle(directory, *, spoil_index=False):
    """A synthetic bundle with mirflickr's real public split indices (25000 rows, 38 + 1000 cols)."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = get_dataset("mirflickr")
    rng = np.random.default_rng(0)
    data = np.zeros((25000, 38 + 1000), dtype=np.uint8)
    data[:, :38] = rng.random((25000, 38)) < 0.1
    data[:, 38:] = rng.integers(0, 5, size=(25000, 1000), dtype=np.uint8)
    np.save(directory / "mirflickr_data.npy", data)
    for remote in spec.sources[0].files:
        index = np.load(MIRROR_DIR / rewrite(remote.url, "x")[2:])
        if spoil_index and remote.role == "val_idx":
            index = index[:-1]
        np.save(directory / remote.filename, index)
    return data


def test_bundle_import_checks_the_public_split(mirror_url, tmp_path):
    data = _write_mirflickr_bundle(tmp_path / "bundle")
    dataset = fetch_dataset("mirflickr", tmp_path / "data", mirror=mirror_url, from_dir=tmp_path / "bundle")
    assert dataset.X.shape == (25000, 1000) and dataset.Y.shape == (25000, 38)
    assert np.array_equal(dataset.Y, data[:, :38])
    counts = {code: int((dataset.upstream_split == code).sum()) for code in (0, 1, 2, -1)}
    assert counts == {0: 9821, 1: 12305, 2: 2455, -1: 25000 - 9821 - 12305 - 2455}
    from mlbench.data.splits import get_split

    split = get_split(tmp_path / "data", dataset, "official", 0)
    assert [len(split.indices[p]) for p in ("train", "val", "test")] == [9821, 2455, 12305]


def test_bundle_with_a_different_split_is_rejected(mirror_url, tmp_path):
    _write_mirflickr_bundle(tmp_path / "bundle", spoil_index=True)
    with pytest.raises(MlbenchError, match="differs from the public"):
        fetch_dataset("mirflickr", tmp_path / "data", mirror=mirror_url, from_dir=tmp_path / "bundle")
    assert not is_cached(tmp_path / "data", "mirflickr")


def test_bundle_without_from_explains_where_data_comes_from(tmp_path):
    with pytest.raises(MlbenchError, match="links are dead.*--from"):
        fetch_dataset("sider", tmp_path)


def test_bundle_with_wrong_columns_is_rejected(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    np.save(bundle / "sider_data.npy", np.zeros((10, 20)))
    for part in ("train", "val", "test"):
        np.save(bundle / f"sider_{part}_idx.npy", np.arange(3) + {"train": 0, "val": 3, "test": 6}[part])
    with pytest.raises(MlbenchError, match="has 20 columns; sider needs 65"):
        fetch_dataset("sider", tmp_path / "data", from_dir=bundle)
