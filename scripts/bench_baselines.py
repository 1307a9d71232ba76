"""The baselines `nas bench tabular` and `nas bench timeseries` measure nas
against, on exactly the split nas searched on. Run with the data tools'
venv ($NAS_CACHE/data-venv, scripts/setup.sh installs it); prints one JSON
object on stdout.

  tabular --train train.csv --test test.csv --meta meta.json
      The splits as nas loaded them (bench/src/tabular.rs writes them): one
      column per feature (numbers, category codes, empty when missing), the
      last column the target (a class index, or a value). meta.json names
      the task and each feature's kind. Baselines, scikit-learn's defaults:
        classification: HistGradientBoostingClassifier (categories as
        categorical features, missing values native) and MLPClassifier
        (after mean imputation, standardization and one-hot categories);
        regression: HistGradientBoostingRegressor and MLPRegressor, by RMSE.
  timeseries --train X_TRAIN.ts --test X_TEST.ts
      aeon's 1-nearest-neighbour classifier under dynamic time warping.
"""
import argparse
import json
import sys
import time
import warnings

import numpy as np


def read_split(path):
    data = np.genfromtxt(path, delimiter=",", skip_header=1, missing_values="", filling_values=np.nan)
    if data.ndim == 1:
        data = data.reshape(1, -1)
    return data[:, :-1], data[:, -1]


def tabular(args):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.metrics import accuracy_score, mean_squared_error, r2_score
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    meta = json.load(open(args.meta))
    x_train, y_train = read_split(args.train)
    x_test, y_test = read_split(args.test)
    categorical = [i for i, kind in enumerate(meta["kinds"]) if kind == "categorical"]
    numeric = [i for i in range(x_train.shape[1]) if i not in categorical]
    regression = meta["task"] == "regression"
    prep = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), numeric),
        ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                      OneHotEncoder(handle_unknown="ignore")), categorical),
    ])
    if regression:
        models = {
            "hgb": HistGradientBoostingRegressor(categorical_features=categorical or None, random_state=0),
            "mlp": make_pipeline(prep, MLPRegressor(random_state=0)),
        }
    else:
        models = {
            "hgb": HistGradientBoostingClassifier(categorical_features=categorical or None, random_state=0),
            "mlp": make_pipeline(prep, MLPClassifier(random_state=0)),
        }
        y_train, y_test = y_train.astype(int), y_test.astype(int)
    out = {}
    for name, model in models.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLP's convergence warning at its default 200 iterations
            model.fit(x_train, y_train)
        pred = model.predict(x_test)
        seconds = time.perf_counter() - start
        if regression:
            out[name] = {"rmse": float(np.sqrt(mean_squared_error(y_test, pred))),
                         "r2": float(r2_score(y_test, pred)), "seconds": seconds}
        else:
            out[name] = {"accuracy": 100.0 * float(accuracy_score(y_test, pred)), "seconds": seconds}
    print(json.dumps(out))


def timeseries(args):
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier
    from aeon.datasets import load_from_ts_file

    x_train, y_train = load_from_ts_file(args.train)
    x_test, y_test = load_from_ts_file(args.test)
    start = time.perf_counter()
    model = KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw")
    model.fit(x_train, y_train)
    accuracy = 100.0 * float(np.mean(model.predict(x_test) == y_test))
    print(json.dumps({"dtw_1nn": {"accuracy": accuracy, "seconds": time.perf_counter() - start}}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("tabular")
    t.add_argument("--train", required=True)
    t.add_argument("--test", required=True)
    t.add_argument("--meta", required=True)
    s = sub.add_parser("timeseries")
    s.add_argument("--train", required=True)
    s.add_argument("--test", required=True)
    args = parser.parse_args()
    try:
        (tabular if args.command == "tabular" else timeseries)(args)
    except Exception as e:  # one line that names the failure, for the Rust side
        print(f"bench_baselines {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
