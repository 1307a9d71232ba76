"""Tests of scripts/convert_datasets.py on small files made here (the .ts
reader, the CSV writer, idempotence, failures), plus the real sources where
they are installed (scikit-learn; mlbench's .rda files; aeon). Run with
`python -m pytest scripts/test_convert_datasets.py`."""
import csv
import os
import sys
import zipfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_datasets as cd  # noqa: E402

UNI = """# a comment
@problemName Toy
@timeStamps false
@univariate true
@equalLength true
@seriesLength 3
@classLabel true a b
@data
1.0,2.0,3.0:a
4,5,?:b
"""

MULTI = """@problemName Toy2
@timestamps false
@univariate false
@dimensions 2
@equallength true
@seriesLength 2
@classLabel true x y
@data
1,2:3,4:x
5,6:7,8:y
"""


def test_parse_ts_univariate_and_multivariate():
    cases, dims, lengths, counts, header = cd.parse_ts(UNI, "toy")
    assert (cases, dims, lengths, counts) == (2, 1, (3, 3), {"a": 1, "b": 1})
    assert header["problemname"] == "Toy"
    cases, dims, lengths, counts, _ = cd.parse_ts(MULTI, "toy2")
    assert (cases, dims, lengths) == (2, 2, (2, 2))


@pytest.mark.parametrize(
    "bad, words",
    [
        (UNI.replace("4,5,?:b", "4,5,?:c"), "label 'c'"),
        (UNI.replace("4,5,?:b", "4,5:b"), "lengths"),
        (UNI.replace("4,5,?:b", "4,x,6:b"), "not a number"),
        (MULTI.replace("@dimensions 2", "@dimensions 3"), "@dimensions 3"),
        (UNI.replace("@data\n1.0,2.0,3.0:a\n4,5,?:b\n", "@data\n"), "no cases"),
    ],
)
def test_parse_ts_rejects(bad, words):
    with pytest.raises(cd.Failure) as e:
        cd.parse_ts(bad, "toy.ts")
    assert "toy.ts" in str(e.value) and words in str(e.value)


def test_cell_and_table_csv():
    assert [cd.cell(v) for v in (None, float("nan"), 2.0, 0.1, -3, "red soil")] == ["", "", "2", "0.1", "-3", "red soil"]
    data, summary = cd.table_csv("t", ["x.box", "a b"], [[1.0, None], ["p", "q,r"]], "y", ["A", "B"], "class")
    rows = list(csv.reader(data.decode().splitlines()))
    assert rows == [["x_box", "a_b", "y"], ["1", "p", "A"], ["", "q,r", "B"]]
    assert "2 rows, 2 features" in summary and "1 missing" in summary
    with pytest.raises(cd.Failure, match="collide"):
        cd.table_csv("t", ["a.b", "a_b"], [[1], [2]], "y", ["A"], "class")


def fake_wheel(path):
    with zipfile.ZipFile(path, "w") as z:
        for folder, stem in cd.TS_DATASETS:
            text = UNI if folder != "BasicMotions" else MULTI.replace(":x", ":a").replace(":y", ":b").replace("x y", "a b")
            for split in ("TRAIN", "TEST"):
                z.writestr(f"aeon/datasets/data/{folder}/{stem}_{split}.ts", text)


def test_ts_copy_is_verbatim_and_idempotent(tmp_path, capsys):
    wheel = tmp_path / "aeon.whl"
    fake_wheel(wheel)
    out = tmp_path / "out"
    cd.convert_ts(str(out), str(wheel))
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 * len(cd.TS_DATASETS)
    assert (out / "ucr" / "GunPoint_TRAIN.ts").read_text() == UNI
    assert not [p for p in (out / "ucr").iterdir() if p.name.startswith(".")]
    cd.convert_ts(str(out), str(wheel))
    assert capsys.readouterr().out == ""


def test_bad_ts_in_wheel_names_the_file(tmp_path):
    wheel = tmp_path / "aeon.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("aeon/datasets/data/GunPoint/GunPoint_TRAIN.ts", UNI.replace(":b", ":zz"))
        z.writestr("aeon/datasets/data/GunPoint/GunPoint_TEST.ts", UNI)
    with pytest.raises(cd.Failure, match="GunPoint_TRAIN.ts"):
        cd.convert_ts(str(tmp_path / "out"), str(wheel))


def test_missing_mlbench_is_a_clear_failure(tmp_path, capsys):
    for name, *_ in cd.SKLEARN:  # leave only the mlbench tables to do
        (tmp_path / name).write_text("x\n")
    rc = cd.main(["--out", str(tmp_path), "--mlbench-dir", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert rc == 1 and "LetterRecognition.rda" in err and "r-cran-mlbench" in err


def test_sklearn_tables(tmp_path, capsys):
    pytest.importorskip("sklearn")
    cd.convert_sklearn(str(tmp_path))
    assert len(capsys.readouterr().out.splitlines()) == 4
    with open(tmp_path / "breast_cancer.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 570 and rows[0][-1] == "target" and {r[-1] for r in rows[1:]} == {"malignant", "benign"}
    cd.convert_sklearn(str(tmp_path))
    assert capsys.readouterr().out == ""


def test_mlbench_tables(tmp_path, capsys):
    pytest.importorskip("rdata")
    try:
        folder = cd.find_mlbench_dir(os.environ.get("NAS_MLBENCH_DIR"))
    except cd.Failure:
        pytest.skip("mlbench's .rda files are not extracted here")
    cd.convert_mlbench(str(tmp_path), folder)
    assert len(capsys.readouterr().out.splitlines()) == len(cd.MLBENCH)
    with open(tmp_path / "house_votes.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 436 and sum(r.count("") for r in rows[1:]) == 392


def test_real_aeon_files(tmp_path):
    import importlib.util

    if importlib.util.find_spec("aeon") is None:
        pytest.skip("aeon is not installed")
    cd.convert_ts(str(tmp_path), None)
    assert (tmp_path / "ucr" / "GunPoint_TEST.ts").stat().st_size > 0
