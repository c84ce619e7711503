"""Readers for datasets a user brings: Mulan, MEKA, libsvm/XC text, npz, MPVAE bundles.

``locate(fmt, path, name)`` finds the input files of a format under ``path`` (a file or a
directory) as ``{role: path}``; ``read(fmt, name, files, ...)`` parses them into a
:class:`~mlbench.data.cache.Dataset`. Roles: ``train``/``test``/``all`` (data files, the first
two keep the upstream split for ``--split-strategy official``), ``xml`` (Mulan labels), ``X``/``Y``
(npz sparse siblings), ``data``/``train_idx``/``val_idx``/``test_idx`` (bundles). Every reader
parses everything before anything is written, and raises one-line
:class:`~mlbench.errors.MlbenchError` for bad input.
"""

from __future__ import annotations

import re
from pathlib import Path

from mlbench.data.cache import Dataset
from mlbench.errors import MlbenchError

FORMATS = ("mulan", "meka", "libsvm", "npz", "bundle")
FORMAT_HINT = "pass --input-format " + "|".join(FORMATS)
_ARFF_SUFFIXES = (".arff", ".arff.gz", ".arff.bz2")
_TEXT_SUFFIXES = (".txt", ".svm", ".libsvm", ".svmlight")


def _strip_arff(name: str) -> str | None:
    lower = name.lower()
    for suffix in _ARFF_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return None


def _arff_parts(directory: Path, stem: str) -> dict[str, Path]:
    """``stem.arff`` or ``stem-train.arff`` + ``stem-test.arff`` (any compression)."""
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        base = _strip_arff(path.name)
        if base is None or not path.is_file():
            continue
        for role, suffix in (
            ("train", "-train"),
            ("test", "-test"),
            ("train", "_train"),
            ("test", "_test"),
            ("all", ""),
        ):
            if base == stem + suffix:
                found.setdefault(role, path)
    if "train" in found and "test" in found:
        return {"train": found["train"], "test": found["test"]}
    if "all" in found:
        return {"all": found["all"]}
    return {}


def _single(paths: list[Path], what: str, directory: Path, name: str) -> Path | None:
    """The file named after the dataset, else the only candidate, else None."""
    if not paths:
        return None
    named = [p for p in paths if p.name.split(".")[0].removesuffix("_data") == name]
    if named:
        return named[0]
    if len(paths) == 1:
        return paths[0]
    raise MlbenchError(
        f"{directory} holds several {what} files ({', '.join(p.name for p in paths[:4])}); "
        f"name them after the dataset ({name}.*) or pass one file with --from."
    )


def detect_format(path: Path, name: str) -> str:
    """The format of ``path`` (file or directory), from file names and, for ARFF, the header."""
    path = Path(path)
    if path.is_dir():
        entries = [p for p in path.iterdir() if p.is_file()]
        if any(p.suffix.lower() == ".xml" for p in entries):
            return "mulan"
        if any(p.name.endswith("_data.npy") for p in entries):
            return "bundle"
        if any(p.suffix.lower() == ".npz" for p in entries):
            return "npz"
        arffs = [p for p in entries if _strip_arff(p.name) is not None]
        if len(arffs) == 1 and _has_meka_c(arffs[0]):
            return "meka"
        if any(p.suffix.lower() in _TEXT_SUFFIXES for p in entries):
            return "libsvm"
        raise MlbenchError(
            f"cannot tell the format of the files in {path} (no .xml, .arff with -C, .npz, "
            f"_data.npy or .txt/.svm file); {FORMAT_HINT}."
        )
    if not path.exists():
        raise MlbenchError(f"{path} does not exist; give the file or directory of your dataset with --from PATH.")
    lower = path.name.lower()
    if lower.endswith(".xml"):
        return "mulan"
    base = _strip_arff(path.name)
    if base is not None:
        stem = re.sub(r"[-_](train|test)$", "", base)
        if (path.parent / f"{stem}.xml").is_file():
            return "mulan"
        if _has_meka_c(path):
            return "meka"
        raise MlbenchError(
            f"cannot tell which attributes of {path} are labels: no {stem}.xml beside it and no "
            "MEKA '-C k' in its @relation; add the Mulan XML, or add -C k to the @relation."
        )
    if lower.endswith(".npz"):
        return "npz"
    if lower.endswith(".npy"):
        return "bundle"
    from mlbench.data.formats.libsvm import looks_like_libsvm

    if looks_like_libsvm(path):
        return "libsvm"
    raise MlbenchError(f"cannot tell the format of {path}; {FORMAT_HINT}.")


def _has_meka_c(path: Path) -> bool:
    from mlbench.data.arff import meka_label_count
    from mlbench.data.formats.meka import relation_of

    return meka_label_count(relation_of(path)) is not None


def locate(fmt: str, path: Path, name: str) -> dict[str, Path]:
    """The input files of ``fmt`` under ``path``, by role (absolute paths)."""
    if fmt not in FORMATS:
        raise MlbenchError(f"unknown format {fmt!r}; {FORMAT_HINT}.")
    path = Path(path).resolve()
    if not path.exists():
        raise MlbenchError(f"{path} does not exist; give the file or directory of your dataset with --from PATH.")
    directory = path if path.is_dir() else path.parent
    if fmt == "mulan":
        if path.is_dir():
            xml = _single(sorted(directory.glob("*.xml")), "Mulan .xml", directory, name)
            if xml is None:
                raise MlbenchError(
                    f"{directory} has no Mulan .xml file naming the labels; add "
                    f"{name}.xml, or use --input-format meka for an ARFF with -C k."
                )
            stem = xml.stem
        elif path.suffix.lower() == ".xml":
            xml, stem = path, path.stem
        else:
            base = _strip_arff(path.name) or path.stem
            stem = re.sub(r"[-_](train|test)$", "", base)
            xml = directory / f"{stem}.xml"
            if not xml.is_file():
                raise MlbenchError(
                    f"{xml} not found; a Mulan dataset is {stem}.xml plus "
                    f"{stem}.arff (or {stem}-train.arff + {stem}-test.arff)."
                )
        parts = _arff_parts(directory, stem)
        if not parts:
            raise MlbenchError(
                f"no ARFF for {xml.name} in {directory}; a Mulan dataset is {stem}.xml plus "
                f"{stem}.arff, or {stem}-train.arff + {stem}-test.arff."
            )
        return {**parts, "xml": xml}
    if fmt == "meka":
        if path.is_dir():
            arffs = [p for p in sorted(directory.iterdir()) if _strip_arff(p.name) is not None]
            found = _single(arffs, "ARFF", directory, name)
            if found is None:
                raise MlbenchError(f"{directory} has no .arff file; give the MEKA ARFF with --from.")
            return {"all": found}
        return {"all": path}
    if fmt == "libsvm":
        if path.is_file():
            return {"all": path}
        texts = [p for p in sorted(directory.iterdir()) if p.suffix.lower() in _TEXT_SUFFIXES]
        for stem in (name, *sorted({re.sub(r"[-_](train|test)$", "", p.stem) for p in texts})):
            split = {
                role: p for p in texts for role in ("train", "test") if p.stem in (f"{stem}_{role}", f"{stem}-{role}")
            }
            if len(split) == 2:
                return split
        found = _single(texts, "libsvm text", directory, name)
        if found is None:
            raise MlbenchError(f"{directory} has no .txt/.svm file; give the libsvm file with --from.")
        return {"all": found}
    if fmt == "npz":
        if path.is_dir():
            candidates = [p for p in sorted(directory.glob("*.npz")) if not p.stem.endswith(("_X", "_Y"))]
            found = _single(candidates, ".npz", directory, name)
            if found is None:
                raise MlbenchError(f"{directory} has no .npz file; give it with --from.")
            path = found
        files = {"all": path}
        for role in ("X", "Y"):
            sibling = path.with_name(f"{path.stem}_{role}.npz")
            if sibling.is_file():
                files[role] = sibling
        return files
    # bundle
    if path.is_dir():
        data = _single(sorted(directory.glob("*_data.npy")), "_data.npy", directory, name)
        if data is None:
            raise MlbenchError(
                f"{directory} has no <name>_data.npy; a bundle is <name>_data.npy "
                "plus <name>_{train,val,test}_idx.npy."
            )
    else:
        data = path
    stem = data.name.removesuffix(".npy").removesuffix("_data")
    files = {"data": data}
    for part in ("train", "val", "test"):
        files[f"{part}_idx"] = directory / f"{stem}_{part}_idx.npy"
    return files


def read(
    fmt: str, name: str, files: dict[str, Path], *, n_features: int | None = None, n_labels: int | None = None
) -> Dataset:
    """Parse the files of a user dataset (bundles are read by ``mlbench.data.fetch``)."""
    if fmt in ("mulan", "meka"):
        from mlbench.data.formats.meka import read_arff_dataset

        return read_arff_dataset(name, fmt, files)
    if fmt == "libsvm":
        from mlbench.data.formats.libsvm import read_libsvm

        return read_libsvm(name, files, n_features=n_features, n_labels=n_labels)
    if fmt == "npz":
        from mlbench.data.formats.npz import read_npz

        return read_npz(name, files)
    raise MlbenchError(f"format {fmt!r} cannot be read here; {FORMAT_HINT}.")
