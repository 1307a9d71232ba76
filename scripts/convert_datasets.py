"""Convert real non-image datasets shipped by package registries into plain
files that nas reads. Nothing is downloaded here: every source is a file that
an installed package (or an extracted Debian package) already holds.

Output under --out:
  Tabular CSV (header row, comma delimiter, '.' decimal, LF line ends, an empty
  field for a missing value, features first with names made of [A-Za-z0-9_],
  the target last; integral numbers are written without '.0'):
    letter.csv                  mlbench LetterRecognition  20000 x 16, target lettr (26 classes)
    satellite.csv               mlbench Satellite           6435 x 36, target classes (6 classes)
    breast_cancer_wisconsin.csv mlbench BreastCancer         699 x 9 categorical (R factors whose
                                levels are '1'..'10', so they look numeric),
                                16 missing in Bare_nuclei, target class (benign/malignant);
                                the Id column is dropped (an identifier, not a feature)
    pima.csv                    mlbench PimaIndiansDiabetes2 768 x 8 numeric, 652 missing,
                                target diabetes (neg/pos)
    house_votes.csv             mlbench HouseVotes84         435 x 16 categorical (n/y), 392 missing
                                (203 rows with one or more), target class (democrat/republican)
    breast_cancer.csv           sklearn load_breast_cancer   569 x 30, target target (malignant/benign)
    wine.csv                    sklearn load_wine            178 x 13, target class (class_0..class_2)
    digits.csv                  sklearn load_digits         1797 x 64, target digit (0..9)
    diabetes.csv                sklearn load_diabetes(scaled=False) 442 x 10, target progression (float)
  Time series, the UCR/UEA .ts files copied byte for byte from the aeon wheel
  (aeon/datasets/data/<Name>/), after checking that they parse:
    ucr/<Name>_TRAIN.ts, ucr/<Name>_TEST.ts   for the names in TS_DATASETS

The mlbench tables are the .rda files of the Debian package r-cran-mlbench,
extracted without R (apt-get download + dpkg-deb -x); --mlbench-dir names the
folder holding them (or the folder the .deb was extracted into).

Idempotent: a file that exists and is non-empty is left alone, and each file is
written to a temporary name and renamed. One line is printed per file written;
a run that has nothing to do prints nothing. Any failure exits non-zero with a
message naming the dataset and the file.
"""
import argparse
import csv
import importlib.util
import io
import math
import os
import re
import sys
import tempfile
import warnings
import zipfile

MLBENCH_SUBDIR = os.path.join("usr", "lib", "R", "site-library", "mlbench", "data")
MLBENCH_DEFAULT_DIRS = (
    os.path.join(os.environ.get("NAS_CACHE", "/var/cache/nas"), "mlbench", MLBENCH_SUBDIR),
    "/" + MLBENCH_SUBDIR,
    "/usr/lib/R/library/mlbench/data",
)

# Time-series sets copied from the aeon wheel: (folder in aeon/datasets/data,
# file stem). All are equal length and have no missing values.
TS_DATASETS = (
    ("GunPoint", "GunPoint"),  # univariate, 50/150 cases, length 150, 2 classes
    ("ItalyPowerDemand", "ItalyPowerDemand"),  # univariate, 67/1029, length 24, 2 classes
    ("ArrowHead", "ArrowHead"),  # univariate, 36/175, length 251, 3 classes
    ("OSULeaf", "OSULeaf"),  # univariate, 200/242, length 427, 6 classes
    ("BasicMotions", "BasicMotions"),  # 6 dimensions, 40/40, length 100, 4 classes
    ("JapaneseVowels", "JapaneseVowels_eq"),  # 12 dimensions, 270/370, length 25, 9 classes
)


class Failure(Exception):
    """A failure whose message already names the dataset and the file."""


# --- writing ------------------------------------------------------------------


def needs(path):
    """True when path is missing or empty (so it must be written)."""
    return not (os.path.isfile(path) and os.path.getsize(path) > 0)


def write_atomic(path, data):
    """Write bytes to path through a temporary file in the same folder."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def sanitize(name):
    return re.sub(r"[^A-Za-z0-9_]", "_", str(name))


def cell(v):
    """One CSV field: '' for missing, integral floats without '.0', floats
    in Python's shortest round-trip form, anything else as its string."""
    if v is None:
        return ""
    try:
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return ""
    except ImportError:
        pass
    if isinstance(v, str):
        return v
    if hasattr(v, "item"):  # numpy scalar
        v = v.item()
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if math.isinf(v):
            raise ValueError(f"infinite value {v}")
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    return str(v)


def table_csv(name, features, columns, target_name, target, target_kind):
    """Build the CSV text. features: list of column names; columns: list of
    sequences (one per feature); target: sequence. Returns (bytes, summary)."""
    header = [sanitize(c) for c in features] + [target_name]
    if len(set(header)) != len(header):
        raise Failure(f"{name}: column names collide after sanitizing: {header}")
    n = len(target)
    for c, col in zip(header, columns):
        if len(col) != n:
            raise Failure(f"{name}: column {c} has {len(col)} values, the target {n}")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(header)
    missing = 0
    for i in range(n):
        try:
            row = [cell(col[i]) for col in columns]
        except ValueError as e:
            raise Failure(f"{name}: row {i + 1}: {e}")
        missing += sum(1 for x in row if x == "")
        t = cell(target[i])
        if t == "":
            raise Failure(f"{name}: row {i + 1} has no target")
        w.writerow(row + [t])
    if target_kind == "class":
        kinds = f"{len(set(cell(t) for t in target))} classes"
    else:
        kinds = "regression"
    summary = f"{n} rows, {len(features)} features, target {target_name} ({kinds}), {missing} missing"
    return buf.getvalue().encode("utf-8"), summary


# --- mlbench (.rda from r-cran-mlbench) ---------------------------------------


def find_mlbench_dir(arg):
    candidates = []
    if arg:
        candidates = [arg, os.path.join(arg, MLBENCH_SUBDIR)]
    else:
        candidates = list(MLBENCH_DEFAULT_DIRS)
    for d in candidates:
        if os.path.isfile(os.path.join(d, "LetterRecognition.rda")):
            return d
    raise Failure(
        "mlbench: no LetterRecognition.rda in "
        + " or ".join(candidates)
        + " (extract the Debian package r-cran-mlbench there: apt-get download r-cran-mlbench;"
        " dpkg-deb -x r-cran-mlbench_*.deb DIR; then pass --mlbench-dir DIR)"
    )


def read_rda(folder, obj):
    path = os.path.join(folder, obj + ".rda")
    try:
        import rdata
    except ImportError as e:
        raise Failure(f"mlbench {obj}: the PyPI package rdata is not installed ({e})")
    try:
        with warnings.catch_warnings():
            # mlbench's .rda files carry no encoding flag; they are ASCII.
            warnings.simplefilter("ignore")
            objs = rdata.read_rda(path)
    except Exception as e:
        raise Failure(f"mlbench {obj}: cannot read {path}: {type(e).__name__}: {e}")
    if obj not in objs:
        raise Failure(f"mlbench {obj}: {path} holds {sorted(objs)}, not {obj}")
    return objs[obj], path


def values_of(series):
    """A pandas column as a list of plain values, categoricals as strings,
    missing as None."""
    out = []
    for v in series.tolist():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        else:
            try:
                import pandas as pd

                if v is pd.NA:
                    out.append(None)
                    continue
            except ImportError:
                pass
            out.append(v)
    return out


MLBENCH = (
    # out file, R object, target column in R, target name in CSV, columns to drop,
    # expected (rows, features, classes)
    ("letter.csv", "LetterRecognition", "lettr", "lettr", (), (20000, 16, 26)),
    ("satellite.csv", "Satellite", "classes", "classes", (), (6435, 36, 6)),
    ("breast_cancer_wisconsin.csv", "BreastCancer", "Class", "class", ("Id",), (699, 9, 2)),
    ("pima.csv", "PimaIndiansDiabetes2", "diabetes", "diabetes", (), (768, 8, 2)),
    ("house_votes.csv", "HouseVotes84", "Class", "class", (), (435, 16, 2)),
)


def convert_mlbench(out, mlbench_arg):
    todo = [m for m in MLBENCH if needs(os.path.join(out, m[0]))]
    if not todo:
        return
    folder = find_mlbench_dir(mlbench_arg)
    for fname, obj, tcol, tname, drop, (rows, nfeat, ncls) in todo:
        df, src = read_rda(folder, obj)
        where = f"mlbench {obj} ({src} -> {fname})"
        if tcol not in df.columns:
            raise Failure(f"{where}: no column {tcol} in {list(df.columns)}")
        feats = [c for c in df.columns if c != tcol and c not in drop]
        target = values_of(df[tcol])
        if any(t is None for t in target):
            raise Failure(f"{where}: the target {tcol} has missing values")
        if (len(df), len(feats), len(set(target))) != (rows, nfeat, ncls):
            raise Failure(
                f"{where}: expected {rows} rows, {nfeat} features, {ncls} classes; "
                f"found {len(df)}, {len(feats)}, {len(set(target))}"
            )
        cols = [values_of(df[c]) for c in feats]
        data, summary = table_csv(where, feats, cols, tname, target, "class")
        write_atomic(os.path.join(out, fname), data)
        print(f"{fname}: {summary} (mlbench {obj})", flush=True)


# --- scikit-learn's bundled tables ----------------------------------------------


SKLEARN = (
    # out file, loader, kwargs, target name, classification?, expected (rows, features)
    ("breast_cancer.csv", "load_breast_cancer", {}, "target", True, (569, 30)),
    ("wine.csv", "load_wine", {}, "class", True, (178, 13)),
    ("digits.csv", "load_digits", {}, "digit", True, (1797, 64)),
    ("diabetes.csv", "load_diabetes", {"scaled": False}, "progression", False, (442, 10)),
)


def convert_sklearn(out):
    todo = [s for s in SKLEARN if needs(os.path.join(out, s[0]))]
    if not todo:
        return
    try:
        import sklearn
        from sklearn import datasets
    except ImportError as e:
        raise Failure(f"scikit-learn datasets ({', '.join(s[0] for s in todo)}): scikit-learn is not installed ({e})")
    for fname, loader, kwargs, tname, is_class, shape in todo:
        where = f"scikit-learn {loader} (-> {fname})"
        try:
            bunch = getattr(datasets, loader)(**kwargs)
        except Exception as e:
            raise Failure(f"{where}: {type(e).__name__}: {e}")
        X, y = bunch.data, bunch.target
        if X.shape != shape or len(y) != shape[0]:
            raise Failure(f"{where}: expected {shape}, found {X.shape} with {len(y)} targets")
        names = [str(n) for n in bunch.feature_names]
        if is_class:
            labels = [str(n) for n in bunch.target_names]
            target = [labels[int(t)] for t in y]
        else:
            target = [float(t) for t in y]
        cols = [X[:, j].tolist() for j in range(X.shape[1])]
        data, summary = table_csv(where, names, cols, tname, target, "class" if is_class else "regression")
        write_atomic(os.path.join(out, fname), data)
        print(f"{fname}: {summary} (scikit-learn {sklearn.__version__} {loader})", flush=True)


# --- UCR/UEA .ts files from the aeon wheel ----------------------------------------


def parse_ts(text, where):
    """Check one .ts file and return (cases, dims, (min_len, max_len),
    {label: count}, header). Header keys are matched case-insensitively
    (the files mix @timeStamps/@timestamps, @equalLength/@equallength)."""
    header = {}
    labels = None
    cases = 0
    dims = None
    lengths = set()
    counts = {}
    in_data = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise Failure(f"{where}: line {lineno}: expected a @key line before @data")
            key, _, rest = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                in_data = True
                continue
            header.setdefault(key, rest.strip())
            if key == "classlabel":
                parts = rest.split()
                if parts and parts[0].lower() == "true":
                    labels = parts[1:]
            continue
        parts = line.split(":")
        if labels is None:
            raise Failure(f"{where}: line {lineno}: no '@classLabel true ...' in the header")
        label = parts[-1].strip()
        series = parts[:-1]
        if label not in labels:
            raise Failure(f"{where}: line {lineno}: label {label!r} is not among {labels}")
        if dims is None:
            dims = len(series)
        elif len(series) != dims:
            raise Failure(f"{where}: line {lineno}: {len(series)} dimensions, earlier lines {dims}")
        for d, s in enumerate(series):
            vals = s.split(",")
            for v in vals:
                if v.strip() == "?":
                    continue
                try:
                    float(v)
                except ValueError:
                    raise Failure(f"{where}: line {lineno}, dimension {d + 1}: {v!r} is not a number")
            lengths.add(len(vals))
        counts[label] = counts.get(label, 0) + 1
        cases += 1
    if not in_data or cases == 0:
        raise Failure(f"{where}: no @data section or no cases")
    if header.get("timestamps", "false").lower() == "true":
        raise Failure(f"{where}: has time stamps, which nas does not read")
    if "dimensions" in header and int(header["dimensions"]) != dims:
        raise Failure(f"{where}: @dimensions {header['dimensions']} but the data has {dims}")
    if header.get("univariate", "").lower() == "true" and dims != 1:
        raise Failure(f"{where}: @univariate true but the data has {dims} dimensions")
    if header.get("equallength", "true").lower() == "true" and len(lengths) != 1:
        raise Failure(f"{where}: @equalLength true but lengths {sorted(lengths)}")
    if "serieslength" in header and lengths != {int(header["serieslength"])}:
        raise Failure(f"{where}: @seriesLength {header['serieslength']} but lengths {sorted(lengths)}")
    return cases, dims, (min(lengths), max(lengths)), counts, header


def aeon_source(wheel):
    """A function name -> bytes reading aeon/datasets/data/<name>, from a wheel
    file if given, else from the installed aeon (found without importing it)."""
    if wheel:
        try:
            z = zipfile.ZipFile(wheel)
        except Exception as e:
            raise Failure(f"aeon wheel {wheel}: cannot open: {e}")

        def read(rel):
            return z.read("aeon/datasets/data/" + rel)

        return read, wheel
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise Failure("UCR/UEA .ts files: the PyPI package aeon is not installed (or pass --aeon-wheel)")
    base = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data")

    def read(rel):
        with open(os.path.join(base, rel), "rb") as f:
            return f.read()

    return read, base


def convert_ts(out, wheel):
    ucr = os.path.join(out, "ucr")
    todo = [
        (folder, stem)
        for folder, stem in TS_DATASETS
        if needs(os.path.join(ucr, stem + "_TRAIN.ts")) or needs(os.path.join(ucr, stem + "_TEST.ts"))
    ]
    if not todo:
        return
    read, src = aeon_source(wheel)
    for folder, stem in todo:
        parsed = {}
        for split in ("TRAIN", "TEST"):
            rel = f"{folder}/{stem}_{split}.ts"
            where = f"time series {stem} ({src}/{rel} -> ucr/{stem}_{split}.ts)"
            try:
                data = read(rel)
            except (OSError, KeyError) as e:
                raise Failure(f"{where}: cannot read: {e}")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                raise Failure(f"{where}: not UTF-8: {e}")
            parsed[split] = (data, parse_ts(text, where))
        tr, te = parsed["TRAIN"][1], parsed["TEST"][1]
        if tr[1] != te[1] or set(te[3]) - set(tr[3]):
            raise Failure(
                f"time series {stem}: TRAIN and TEST disagree (dimensions {tr[1]}/{te[1]}, "
                f"classes {sorted(tr[3])}/{sorted(te[3])})"
            )
        for split in ("TRAIN", "TEST"):
            data, (cases, dims, (lo, hi), counts, _) = parsed[split]
            path = os.path.join(ucr, f"{stem}_{split}.ts")
            if needs(path):
                write_atomic(path, data)
                length = str(lo) if lo == hi else f"{lo}-{hi}"
                print(
                    f"ucr/{stem}_{split}.ts: {cases} cases, {dims} dimension(s), length {length}, "
                    f"{len(counts)} classes (aeon)",
                    flush=True,
                )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for the converted files")
    ap.add_argument(
        "--mlbench-dir",
        help="folder holding mlbench's .rda files, or the folder r-cran-mlbench's .deb was extracted into "
        f"(default: the first of {', '.join(MLBENCH_DEFAULT_DIRS)} that has them)",
    )
    ap.add_argument("--aeon-wheel", help="read the .ts files from this aeon wheel instead of the installed aeon")
    args = ap.parse_args(argv)
    try:
        os.makedirs(args.out, exist_ok=True)
        convert_sklearn(args.out)
        convert_mlbench(args.out, args.mlbench_dir)
        convert_ts(args.out, args.aeon_wheel)
    except Failure as e:
        print(f"convert_datasets.py: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"convert_datasets.py: writing under {args.out}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
