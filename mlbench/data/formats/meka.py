"""Mulan (ARFF + XML) and MEKA (one ARFF, ``-C k`` in ``@relation``) files of a user dataset.

Parsing is :func:`mlbench.data.arff.parse_arff`, the parser the registered datasets use, so
nominal attributes, sparse rows, compression and every quirk it handles apply here too.
"""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

import numpy as np

from mlbench.data.arff import parse_arff, read_mulan_xml
from mlbench.data.cache import UPSTREAM_NONE, UPSTREAM_TEST, UPSTREAM_TRAIN, Dataset, stack_arff_parts
from mlbench.errors import MlbenchError

_ROLE_CODES = {"train": UPSTREAM_TRAIN, "test": UPSTREAM_TEST, "all": UPSTREAM_NONE}


def relation_of(path: Path, max_lines: int = 10_000) -> str:
    """The ``@relation`` string of an ARFF file ('' when there is none in its header)."""
    name = path.name.lower()
    opener = bz2.open if name.endswith(".bz2") else gzip.open if name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            for _, line in zip(range(max_lines), handle):
                stripped = line.strip()
                if stripped.lower().startswith("@relation"):
                    return stripped[len("@relation") :].strip()
                if stripped.lower().startswith(("@attribute", "@data")):
                    return ""
    except OSError as exc:
        raise MlbenchError(f"{path}: cannot read ({exc}).") from None
    return ""


def read_arff_dataset(name: str, fmt: str, files: dict[str, Path]) -> Dataset:
    """Mulan: the XML names the labels; MEKA: the ``-C k`` of each ARFF does."""
    label_names = None
    if fmt == "mulan":
        xml = files["xml"]
        label_names = read_mulan_xml(xml)
    parts, codes = [], []
    for role in ("train", "test", "all"):
        if role not in files:
            continue
        path = files[role]
        try:
            parsed = parse_arff(path, label_names)
        except MlbenchError as exc:
            if label_names is not None and "is not an attribute of this ARFF file" in str(exc):
                raise MlbenchError(
                    f"{exc} The labels of {files['xml'].name} must be attributes of the ARFF: "
                    "fix the names in the XML, or pass the XML that belongs to this ARFF."
                ) from None
            raise
        if parts and (parsed.feature_names != parts[0].feature_names or parsed.label_names != parts[0].label_names):
            raise MlbenchError(
                f"{path.name} has different attributes from {files['train'].name}; the train "
                "and test files of one dataset must declare the same attributes."
            )
        parts.append(parsed)
        codes.append(np.full(parsed.Y.shape[0], _ROLE_CODES[role], dtype=np.int8))
    return stack_arff_parts(name, parts, codes)
