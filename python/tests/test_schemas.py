"""The protocol's JSON Schemas (docs/schemas): valid examples pass, each
invalid example fails, and what the Python worker writes passes."""
import importlib.util
import json
import pathlib

import pytest

from nas_worker import protocol

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_schemas", ROOT / "scripts" / "check_schemas.py")
check_schemas = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_schemas)
VALIDATORS = check_schemas.validators()
EXAMPLES = ROOT / "docs" / "schemas" / "examples"


def schema_of(path):
    return VALIDATORS[path.name.split(".")[0]]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_valid_examples_pass(path):
    assert check_schemas.errors(schema_of(path), json.loads(path.read_text())) == []


@pytest.mark.parametrize("path", sorted((EXAMPLES / "invalid").glob("*.json")), ids=lambda p: p.name)
def test_invalid_examples_fail(path):
    assert check_schemas.errors(schema_of(path), json.loads(path.read_text())) != []


def test_what_the_python_worker_writes_passes():
    lease = protocol.Lease("s.0000000001", "s", "1", 0, 2, "evaluate", {}, 0)
    scores = protocol.scores_from_metrics("s.0000000001", {"val_acc": 90.5, "params": 1000, "device": "cuda:0",
                                                          "epochs": 1, "val_loss": 0.3})
    for outcome in ({"ok": scores}, {"diverged": {"reason": "nan"}}):
        doc = json.loads(protocol.encode_result(lease, "py-1", outcome))
        assert check_schemas.errors(VALIDATORS["result"], doc) == []
    note = json.loads(protocol.encode_progress({"epoch": 1, "loss": 0.25}))
    assert check_schemas.errors(VALIDATORS["progress"], note) == []


def test_the_python_workers_card_passes():
    import redis as redis_lib

    from nas_worker import Worker, WorkerConfig

    w = Worker(redis_lib.Redis(), lambda job: {"val_acc": 1.0}, WorkerConfig(worker_id="py-card", slots=3))
    card = w._card()
    assert check_schemas.errors(VALIDATORS["worker-card"], card) == []
    assert (card["kind"], card["slots"], card["jobs"]) == ("python", 3, [])
