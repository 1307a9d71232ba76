"""NAS-Bench-201 table lookups, as the Rust trainer's nb201 evaluator does
them: ``nas-worker --builtin --entry nas_worker.nb201:evaluate`` serves a
table search from Python (a cheap evaluator for trying a Python fleet, and
the benchmark's reference entry). The tables are the converted JSON files
of scripts/convert_nb201.py, in ``$NAS_NB201_DIR`` (or the settings' ``dir``).
"""
from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Dict, List, Tuple

from .worker import Cancelled, Job, PermanentError, RetryableError

_tables: Dict[str, Tuple[List[str], Dict[str, Any]]] = {}
_lock = threading.Lock()


def table(directory: str, dataset: str) -> Tuple[List[str], Dict[str, Any]]:
    """The (ops, cells) of ``dataset``'s table, loaded once per process."""
    with _lock:
        if dataset not in _tables:
            path = os.path.join(directory, f"{dataset}.json")
            try:
                with open(path, encoding="utf-8") as f:
                    doc = json.load(f)
            except OSError as e:
                raise RetryableError(f"loading the NAS-Bench-201 table {path}: {e}") from None
            except ValueError as e:
                raise PermanentError(f"the NAS-Bench-201 table {path} is not JSON: {e}") from None
            _tables[dataset] = (doc["ops"], doc["cells"])
        return _tables[dataset]


def cell_key(ops: List[str], genotype: str) -> str:
    """The table's key of a cell: each edge's op index, in text order."""
    edges = [e.split("~")[0] for node in genotype.split("+") for e in node.strip("|").split("|")]
    try:
        return "".join(str(ops.index(op)) for op in edges)
    except ValueError:
        raise PermanentError(f"{genotype} is not a NAS-Bench-201 cell") from None


def evaluate(job: Job) -> Dict[str, Any]:
    """Look the job's cell up; the nb201 evaluator's ``time_scale`` sleeps
    that share of the recorded training time, as the Rust trainer does."""
    spec = job.evaluator.get("nb201") or {}
    dataset = spec.get("dataset") or job.settings.get("dataset", "cifar10")
    directory = job.settings.get("dir") or os.environ.get("NAS_NB201_DIR", "/var/cache/nas/nasbench201")
    if job.space.get("kind") != "nb201":
        raise PermanentError(f"the nb201 evaluator takes nb201 cells, not {job.space.get('kind')} genotypes")
    ops, cells = table(directory, dataset)
    entry = cells[cell_key(ops, job.genotype)]
    run = job.seed % len(entry["val_acc"])
    seconds = entry["train_time"][run]
    scale = float(spec.get("time_scale") or 0.0)
    end = time.monotonic() + seconds * scale
    while time.monotonic() < end:
        if job.cancelled:
            raise Cancelled(job.job_id)
        time.sleep(min(0.05, end - time.monotonic()))
    return {
        "val_acc": entry["val_acc"][run],
        "params": round(entry["model_size"][run] * 1e6),
        "train_seconds": seconds,
        "device": "table",
    }
