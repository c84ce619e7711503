"""Tests for mlbench.data.arff: Mulan/MEKA multi-label ARFF parsing."""

from __future__ import annotations

import bz2
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import mlbench.data.arff as arffmod
from mlbench.data.arff import ParsedArff, meka_label_count, parse_arff, read_mulan_xml
from mlbench.errors import MlbenchError

XML_NS = 'xmlns="http://mulan.sourceforge.net/labels"'


def xml(*names: str) -> str:
    body = "".join(f'<label name="{n}"></label>\n' for n in names)
    return f'<?xml version="1.0" encoding="utf-8"?>\n<labels {XML_NS}>\n{body}</labels>\n'


def write(tmp_path: Path, text: str, name: str = "d.arff", newline: str = "\n") -> Path:
    p = tmp_path / name
    p.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return p


def dense(x):
    return x.toarray() if sp.issparse(x) else np.asarray(x)


def err(path: Path, *args, **kw) -> str:
    with pytest.raises(MlbenchError) as ei:
        parse_arff(path, *args, **kw)
    msg = str(ei.value)
    assert "\n" not in msg
    assert str(path) in msg
    return msg


# A tiny Mulan-style file: 3 features, labels last.
DENSE = """% a comment
@relation MultiLabelData

@attribute f1 numeric
@attribute f2 real
@attribute f3 integer
@attribute L1 {0,1}
@attribute L2 {0,1}

@data
1.5,2,3,1,0
-1,0.25,7,0,1
% comment in the data
2e1,-.5,0,1,1
"""


# ---------------------------------------------------------------- dense / sparse


def test_dense_rows(tmp_path):
    r = parse_arff(write(tmp_path, DENSE), ["L1", "L2"])
    assert isinstance(r, ParsedArff)
    assert isinstance(r.X, np.ndarray) and r.X.dtype == np.float32
    assert r.Y.dtype == np.uint8
    np.testing.assert_allclose(r.X, [[1.5, 2, 3], [-1, 0.25, 7], [20, -0.5, 0]])
    np.testing.assert_array_equal(r.Y, [[1, 0], [0, 1], [1, 1]])
    assert r.feature_names == ["f1", "f2", "f3"]
    assert r.label_names == ["L1", "L2"]
    assert r.relation == "MultiLabelData"
    assert r.n_missing == 0 and r.dropped == []


def test_labels_follow_arff_order_whatever_the_xml_order(tmp_path):
    # Mulan's yeast.xml lists Class6 before Class4; columns keep the ARFF's order so that the
    # Mulan and MEKA copies of a dataset agree column for column.
    r = parse_arff(write(tmp_path, DENSE), ["L2", "L1"])
    assert r.label_names == ["L1", "L2"]
    np.testing.assert_array_equal(r.Y, [[1, 0], [0, 1], [1, 1]])


SPARSE = """@relation sp
@attribute a numeric
@attribute b {0,1}
@attribute c numeric
@attribute L1 {0,1}
@attribute L2 {0,1}
@data
{0 1.5,3 1}
{}
{1 1, 2 -2,4 1}
{ 4 1 }
"""


def test_sparse_rows(tmp_path):
    p = write(tmp_path, SPARSE)
    r = parse_arff(p, ["L1", "L2"])
    assert sp.isspmatrix_csr(r.X) and r.X.dtype == np.float32
    np.testing.assert_allclose(dense(r.X), [[1.5, 0, 0], [0, 0, 0], [0, 1, -2], [0, 0, 0]])
    np.testing.assert_array_equal(r.Y, [[1, 0], [0, 0], [0, 1], [0, 1]])
    # overrides
    assert isinstance(parse_arff(p, ["L1", "L2"], sparse=False).X, np.ndarray)
    d = parse_arff(write(tmp_path, DENSE, "dd.arff"), ["L1", "L2"], sparse=True)
    assert sp.isspmatrix_csr(d.X) and d.X.dtype == np.float32


def test_sparse_absent_nominal_is_first_declared_value(tmp_path):
    text = """@relation s
@attribute colour {red,green,blue}
@attribute flag {1,0}
@attribute L {0,1}
@data
{0 blue,2 1}
{1 0}
"""
    r = parse_arff(write(tmp_path, text), ["L"])
    assert r.feature_names == ["colour=red", "colour=green", "colour=blue", "flag"]
    np.testing.assert_array_equal(dense(r.X), [[0, 0, 1, 1], [1, 0, 0, 0]])
    np.testing.assert_array_equal(r.Y, [[1], [0]])


def test_mixed_dense_and_sparse_rows(tmp_path):
    text = DENSE.replace("2e1,-.5,0,1,1", "{0 20,1 -0.5,3 1,4 1}")
    r = parse_arff(write(tmp_path, text), ["L1", "L2"])
    assert isinstance(r.X, np.ndarray)  # mostly dense rows
    np.testing.assert_allclose(r.X, [[1.5, 2, 3], [-1, 0.25, 7], [20, -0.5, 0]])
    np.testing.assert_array_equal(r.Y, [[1, 0], [0, 1], [1, 1]])


@pytest.mark.parametrize("text", [DENSE, SPARSE])
def test_fast_and_slow_paths_agree(tmp_path, monkeypatch, text):
    p = write(tmp_path, text)
    fast = parse_arff(p, ["L1", "L2"])
    monkeypatch.setattr(arffmod, "_fast_dense", lambda *a: None)
    monkeypatch.setattr(arffmod, "_fast_sparse", lambda *a: None)
    slow = parse_arff(p, ["L1", "L2"])
    assert type(fast.X) is type(slow.X)
    np.testing.assert_array_equal(dense(fast.X), dense(slow.X))
    np.testing.assert_array_equal(fast.Y, slow.Y)


# ---------------------------------------------------------------- names and labels


def test_quoted_names_spaces_and_escaped_quotes_match_xml(tmp_path):
    text = r"""@relation 'my relation'
@attribute 'feat one' numeric
@attribute "feat two" numeric
@attribute 'it\'s a label' {0,1}
@attribute "say \"hi\"" {0,1}
@attribute TAG_m\'usica {0,1}
@data
1,2,1,0,1
3,4,0,1,0
"""
    p = write(tmp_path, text)
    labels = read_mulan_xml(xml("it&apos;s a label", "say &quot;hi&quot;", r"TAG_m\'usica"))
    assert labels == ["it's a label", 'say "hi"', "TAG_m'usica"]
    r = parse_arff(p, labels)
    assert r.relation == "my relation"
    assert r.feature_names == ["feat one", "feat two"]
    assert r.label_names == ["it's a label", 'say "hi"', "TAG_m'usica"]
    np.testing.assert_array_equal(r.Y, [[1, 0, 1], [0, 1, 0]])


def test_xml_is_authoritative_over_stale_meka_c(tmp_path):
    # -C 2 would make f1, f2 the labels; the XML says the last two attributes are.
    text = DENSE.replace("@relation MultiLabelData", "@relation 'MultiLabelData: -C 2'")
    r = parse_arff(write(tmp_path, text), ["L1", "L2"])
    assert r.feature_names == ["f1", "f2", "f3"]
    np.testing.assert_array_equal(r.Y, [[1, 0], [0, 1], [1, 1]])


MEKA = """@relation 'Toy: -C 2 -split-number 2'
@attribute A {0,1}
@attribute B {0,1}
@attribute x numeric
@attribute y numeric
@data
1,0,0.5,1
0,0,1.5,2
1,1,2.5,3
"""


def test_meka_first_k_labels(tmp_path):
    r = parse_arff(write(tmp_path, MEKA))
    assert r.label_names == ["A", "B"] and r.feature_names == ["x", "y"]
    np.testing.assert_array_equal(r.Y, [[1, 0], [0, 0], [1, 1]])
    np.testing.assert_allclose(r.X, [[0.5, 1], [1.5, 2], [2.5, 3]])


def test_meka_negative_k_last_labels(tmp_path):
    text = """@relation 'Toy: -C -2'
@attribute x numeric
@attribute A {0,1}
@attribute B {0,1}
@data
0.5,1,0
1.5,0,1
"""
    r = parse_arff(write(tmp_path, text))
    assert r.label_names == ["A", "B"] and r.feature_names == ["x"]
    np.testing.assert_array_equal(r.Y, [[1, 0], [0, 1]])


def test_meka_label_count():
    assert meka_label_count("Yeast: -C 14 -split-number 1500") == 14
    assert meka_label_count("Scene: -C 6 -R") == 6
    assert meka_label_count("x -C -3") == -3
    assert meka_label_count("-C 5") == 5
    assert meka_label_count("MultiLabelData") is None
    assert meka_label_count("") is None


def test_no_labels_anywhere_is_error(tmp_path):
    msg = err(write(tmp_path, DENSE))
    assert "-C" in msg


def test_rows_without_labels(tmp_path):
    text = DENSE.replace("1,0\n-1", "0,0\n-1")
    r = parse_arff(write(tmp_path, text), ["L1", "L2"])
    assert r.Y[0].sum() == 0 and r.Y.shape == (3, 2)


def test_numeric_labels_accepted(tmp_path):
    text = DENSE.replace("@attribute L1 {0,1}", "@attribute L1 numeric")
    r = parse_arff(write(tmp_path, text), ["L1", "L2"])
    np.testing.assert_array_equal(r.Y[:, 0], [1, 0, 1])


# ---------------------------------------------------------------- file-level quirks


def test_bz2_file(tmp_path):
    p = tmp_path / "toy.arff.bz2"
    p.write_bytes(bz2.compress(MEKA.encode()))
    r = parse_arff(p)
    assert r.X.shape == (3, 2) and r.Y.shape == (3, 2)


def test_crlf_comma_space_and_case_insensitive_keywords(tmp_path):
    text = """%  header comment

@RELATION Toy
@ATTRIBUTE f1 NUMERIC
@Attribute f2 Real

@attribute L1 {0, 1}
@DATA

1.0, 2.0, 1
3.0 , 4.0 ,0

"""
    r = parse_arff(write(tmp_path, text, newline="\r\n"), ["L1"])
    np.testing.assert_allclose(r.X, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(r.Y, [[1], [0]])


def test_missing_values_imputed_dense(tmp_path):
    text = """@relation m
@attribute a numeric
@attribute b numeric
@attribute c {0,1}
@attribute L {0,1}
@data
1,?,1,1
?,?,?,0
3,?,0,1
"""
    r = parse_arff(write(tmp_path, text), ["L"])
    # a: mean of 1 and 3; b: all missing -> 0; c: nominal missing -> 0
    np.testing.assert_allclose(r.X, [[1, 0, 1], [2, 0, 0], [3, 0, 0]])
    assert r.n_missing == 5


def test_missing_values_imputed_sparse(tmp_path):
    text = """@relation m
@attribute a numeric
@attribute L {0,1}
@data
{0 4,1 1}
{0 ?}
{1 1}
{0 2}
"""
    r = parse_arff(write(tmp_path, text), ["L"])
    # non-missing values of a: 4, 0 (absent), 2 -> mean 2
    np.testing.assert_allclose(dense(r.X)[:, 0], [4, 2, 0, 2])
    assert r.n_missing == 1 and sp.issparse(r.X)


def test_nominal_yes_no_true_false(tmp_path):
    text = """@relation g
@attribute f1 {YES,NO}
@attribute f2 {no,yes}
@attribute f3 {True,False}
@attribute L {0,1}
@data
YES,no,False,1
NO,yes,True,0
?,yes,True,0
"""
    r = parse_arff(write(tmp_path, text), ["L"])
    assert r.feature_names == ["f1", "f2", "f3"]
    np.testing.assert_allclose(r.X, [[1, 0, 0], [0, 1, 1], [0, 1, 1]])
    assert r.n_missing == 1


def test_other_nominal_one_hot_and_numeric_nominal(tmp_path):
    text = """@relation flags
@attribute colour {red,'light green',blue}
@attribute n {1,2,5}
@attribute L {0,1}
@data
blue,5,1
'light green',1,0
?,2,1
red,2,0
"""
    r = parse_arff(write(tmp_path, text), ["L"])
    assert r.feature_names == ["colour=red", "colour=light green", "colour=blue", "n"]
    np.testing.assert_allclose(r.X, [[0, 0, 1, 5], [0, 1, 0, 1], [0, 0, 0, 2], [1, 0, 0, 2]])
    assert r.n_missing == 1


def test_string_and_date_id_columns_dropped(tmp_path):
    text = """@relation genbase
@attribute protein string
@attribute when date "yyyy-MM-dd"
@attribute PDOC1 {YES,NO}
@attribute extra numeric
@attribute L {0,1}
@data
'O31639 x',"2001-01-02",YES,1,1
P12345,?,NO,2,0
"""
    p = write(tmp_path, text)
    r = parse_arff(p, ["L"])
    assert r.dropped == ["protein", "when"]
    assert r.feature_names == ["PDOC1", "extra"]
    np.testing.assert_allclose(r.X, [[1, 1], [0, 2]])
    assert r.n_missing == 0
    r2 = parse_arff(p, ["L"], drop=["extra"])
    assert r2.dropped == ["protein", "when", "extra"] and r2.feature_names == ["PDOC1"]
    r3 = parse_arff(p, ["L"], drop=["protein", "not-in-this-file"])
    assert r3.dropped == ["protein", "when"]


# ---------------------------------------------------------------- errors


def test_non_binary_label_error_names_attribute_and_line(tmp_path):
    p = write(tmp_path, DENSE.replace("-1,0.25,7,0,1", "-1,0.25,7,0,2"))
    # L2 is nominal {0,1}: '2' is not a declared value
    msg = err(p, ["L1", "L2"])
    assert "line 12" in msg and "'L2'" in msg
    text = DENSE.replace("@attribute L2 {0,1}", "@attribute L2 numeric")
    p = write(tmp_path, text.replace("-1,0.25,7,0,1", "-1,0.25,7,0,2"))
    msg = err(p, ["L1", "L2"])
    assert "line 12" in msg and "'L2'" in msg and "data row 2" in msg and "'2'" in msg


def test_missing_label_is_error(tmp_path):
    p = write(tmp_path, DENSE.replace("2e1,-.5,0,1,1", "2e1,-.5,0,?,1"))
    msg = err(p, ["L1", "L2"])
    assert "line 14" in msg and "'L1'" in msg and "missing" in msg
    p = write(tmp_path, SPARSE.replace("{ 4 1 }", "{ 4 ? }"))
    msg = err(p, ["L1", "L2"])
    assert "line 11" in msg and "'L2'" in msg


def test_non_binary_nominal_label_declaration_is_error(tmp_path):
    p = write(tmp_path, DENSE.replace("@attribute L2 {0,1}", "@attribute L2 {a,b,c}"))
    msg = err(p, ["L1", "L2"])
    assert "'L2'" in msg and "line 8" in msg


def test_xml_naming_missing_attribute_is_error(tmp_path):
    p = write(tmp_path, DENSE)
    msg = err(p, ["L1", "Nope"])
    assert "'Nope'" in msg


@pytest.mark.parametrize(
    "old,new,line,what",
    [
        ("-1,0.25,7,0,1", "-1,0.25,7,0", 12, "expected 5 values"),
        ("-1,0.25,7,0,1", "-1,abc,7,0,1", 12, "cannot parse number"),
        ("-1,0.25,7,0,1", "-1,0.25,7,0,1,", 12, "expected 5 values"),
        ("-1,0.25,7,0,1", "-1,0.25,7,'0,1", 12, "quote"),
        ("2e1,-.5,0,1,1", "{0 1,9 1}", 14, "out of range"),
        ("2e1,-.5,0,1,1", "{0 1,0 2}", 14, "twice"),
        ("2e1,-.5,0,1,1", "{0 1,3}", 14, "sparse entry"),
        ("2e1,-.5,0,1,1", "{0 1,3 1", 14, "closing"),
        ("@attribute f3 integer", "@attribute f3 integr", 6, "unknown type"),
        ("@attribute f3 integer", "@atribute f3 integer", 6, "bad header line"),
        ("@attribute L1 {0,1}", "@attribute L1 {0,1", 7, "closing"),
        ("@attribute L1 {0,1}", "@attribute f1 {0,1}", 7, "already used"),
    ],
)
def test_malformed_input_reports_line(tmp_path, old, new, line, what):
    assert old in DENSE
    p = write(tmp_path, DENSE.replace(old, new))
    msg = err(p, ["L2"])
    assert f"line {line}:" in msg and what in msg


def test_bad_nominal_value_reports_line(tmp_path):
    p = write(tmp_path, DENSE.replace("@attribute f1 numeric", "@attribute f1 {a,b}"))
    msg = err(p, ["L1", "L2"])
    assert "line 11" in msg and "'f1'" in msg and "not one of" in msg


def test_missing_data_section(tmp_path):
    p = write(tmp_path, DENSE.split("@data")[0])
    assert "@data" in err(p, ["L1"])


def test_bad_sparse_index_fast_path_falls_back_to_error(tmp_path):
    # numeric-only sparse data with an out-of-range index must not slip through
    p = write(tmp_path, SPARSE.replace("{}", "{7 1}"))
    assert "line 9:" in err(p, ["L1", "L2"])


def test_corrupt_bz2(tmp_path):
    p = tmp_path / "x.arff.bz2"
    p.write_bytes(b"BZh9 not really bzip2")
    assert "decompress" in err(p)


# ---------------------------------------------------------------- Mulan XML


def test_read_mulan_xml_nested_and_path(tmp_path):
    text = f"""<?xml version="1.0" encoding="utf-8"?>
<labels {XML_NS}>
  <label name="A">
    <label name="A.1"></label>
    <label name="A.2"><label name="A.2.x &amp; y"/></label>
  </label>
  <label name="B"></label>
</labels>
"""
    p = tmp_path / "h.xml"
    p.write_text(text)
    want = ["A", "A.1", "A.2", "A.2.x & y", "B"]
    assert read_mulan_xml(p) == want
    assert read_mulan_xml(str(p)) == want
    assert read_mulan_xml(text) == want


def test_read_mulan_xml_errors(tmp_path):
    p = tmp_path / "bad.xml"
    p.write_text("<labels><label name='a'>")
    with pytest.raises(MlbenchError, match="bad.xml"):
        read_mulan_xml(p)
    with pytest.raises(MlbenchError):
        read_mulan_xml("<labels></labels>")


# ---------------------------------------------------------------- real mirrored files


def _mirror() -> Path | None:
    here = Path(__file__).resolve().parents[1]
    shared = os.environ.get("MLBENCH_SHARED")
    for c in (shared and Path(shared) / "mirror", here / "shared" / "mirror", here.parent / "shared" / "mirror"):
        if c and (Path(c) / "raw.githubusercontent.com").is_dir():
            return Path(c) / "raw.githubusercontent.com"
    return None


MIRROR = _mirror()
MULAN = MIRROR / "tsoumakas/mulan/master/data/multi-label" if MIRROR else None
MEKA_DIR = MIRROR / "Waikato/meka/master/src/main/data" if MIRROR else None


def _mulan(name: str, stem: str | None = None):
    stem = stem or name
    d = MULAN / name if MULAN else None
    if d is None or not (d / f"{stem}-train.arff").exists():
        pytest.skip(f"mirror lacks {name}")
    labels = read_mulan_xml(d / f"{stem}.xml")
    return [parse_arff(d / f"{stem}-{part}.arff", labels) for part in ("train", "test")]


@pytest.mark.parametrize(
    "name,n_train,n_test,n_feat,n_lab,card,is_sparse",
    [
        ("yeast", 1500, 917, 103, 14, 4.24, False),
        ("scene", 1211, 1196, 294, 6, 1.07, False),
        ("emotions", 391, 202, 72, 6, 1.87, False),
        ("enron", 1123, 579, 1001, 53, 3.38, True),
    ],
)
def test_real_mulan_files(name, n_train, n_test, n_feat, n_lab, card, is_sparse):
    tr, te = _mulan(name)
    assert tr.X.shape == (n_train, n_feat) and te.X.shape == (n_test, n_feat)
    assert tr.Y.shape == (n_train, n_lab) and te.Y.shape == (n_test, n_lab)
    assert sp.issparse(tr.X) == is_sparse
    assert tr.feature_names == te.feature_names and tr.label_names == te.label_names
    Y = np.vstack([tr.Y, te.Y])
    assert Y.sum(1).mean() == pytest.approx(card, abs=0.005)
    assert tr.n_missing == 0 and tr.dropped == []


def test_real_delicious_sparse():
    tr, te = _mulan("delicious")
    assert tr.X.shape == (12920, 500) and te.X.shape == (3185, 500)
    assert tr.Y.shape[1] == 983 and sp.isspmatrix_csr(tr.X)
    assert "TAG_m'usica" in tr.label_names
    assert np.vstack([tr.Y, te.Y]).sum(1).mean() == pytest.approx(19.02, abs=0.01)


def _meka(fname: str) -> ParsedArff:
    if MEKA_DIR is None or not (MEKA_DIR / fname).exists():
        pytest.skip(f"mirror lacks MEKA {fname}")
    return parse_arff(MEKA_DIR / fname)


def test_real_meka_yeast_matches_mulan():
    r = _meka("Yeast.arff.bz2")
    assert r.X.shape == (2417, 103) and r.Y.shape == (2417, 14)
    assert r.Y.sum(1).mean() == pytest.approx(4.24, abs=0.005)
    tr, te = _mulan("yeast")
    # same data, same label cardinality, same label set
    assert r.Y.sum() == tr.Y.sum() + te.Y.sum()
    assert sorted(r.label_names) == sorted(tr.label_names)


def test_real_meka_music_one_less_row_and_feature():
    r = _meka("Music.arff")
    assert r.X.shape == (592, 71) and r.Y.shape == (592, 6)
