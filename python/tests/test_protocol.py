"""The wire rules of nas_worker.protocol, against the Rust side's golden
values and limits (queue/src/wire, space/src/hash.rs)."""
import json

import pytest

from nas_worker import protocol
from nas_worker.protocol import Lease, ProtocolError


def lease(job_id="s.0000000001", search_id="s"):
    return Lease(job_id, search_id, "17", 0, 1, "evaluate", {}, 0)


@pytest.mark.parametrize(
    "space,text,golden",
    [
        ("nb201", "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         "cf605f704531ed31"),
        ("macro", "3x3:24 5x5:36<0 3x7:48<0,1", "1e18bbbaaa7ee731"),
        ("seq", "|conv_5~0|+|sep_conv_3~0|skip_connect~1|+|none~0|max_pool_3~1|dil_conv_3~2|", "f839b6aa38db495a"),
    ],
)
def test_genotype_hashes_match_the_rust_golden_values(space, text, golden):
    # space/tests/spaces.rs: hashes_are_stable_golden_values (texts already canonical)
    assert protocol.genotype_hash(space, text) == golden


def test_an_evaluate_payload_whose_hash_does_not_match_is_refused():
    text = "3x3:24 5x5:36<0 3x7:48<0,1"
    payload = {"space": {"kind": "macro", "layers": 3}, "genotype": text, "hash": "1e18bbbaaa7ee731",
               "evaluator": {"python": {"entry": "m:f"}}, "seed": 1}
    protocol.check_eval_payload("s.0000000001", payload)
    payload["genotype"] = "3x3:24 5x5:36<0 3x7:64<0,1"
    with pytest.raises(ProtocolError, match="does not match genotype"):
        protocol.check_eval_payload("s.0000000001", payload)
    with pytest.raises(ProtocolError, match="'seed' is missing"):
        protocol.check_eval_payload("s.0000000001", {**payload, "seed": "x"})


def test_envelopes_are_checked_against_where_they_are_stored():
    env = {"v": 1, "job_id": "s.0000000001", "search_id": "s", "kind": "evaluate", "attempt": 0,
           "created_ms": 5, "payload": {}}
    kind, payload, created = protocol.decode_envelope(json.dumps(env), "s.0000000001", "s")
    assert (kind, payload, created) == ("evaluate", {}, 5)
    with pytest.raises(ProtocolError, match="stored as s.0000000002 of search s"):
        protocol.decode_envelope(json.dumps(env), "s.0000000002", "s")
    with pytest.raises(ProtocolError, match="schema version 2"):
        protocol.decode_envelope(json.dumps({**env, "v": 2}), "s.0000000001", "s")
    with pytest.raises(ProtocolError, match="unknown kind 'train'"):
        protocol.decode_envelope(json.dumps({**env, "kind": "train"}), "s.0000000001", "s")
    with pytest.raises(ProtocolError, match="not JSON"):
        protocol.decode_envelope("{", "s.0000000001", "s")


def test_metrics_become_scores_or_a_named_error():
    s = protocol.scores_from_metrics("j", {"val_acc": 91, "params": 1200.0, "device": "cuda:0", "test_acc": None})
    assert s == {"val_acc": 91.0, "params": 1200, "device": "cuda:0", "train_seconds": 0.0}
    with pytest.raises(ProtocolError, match="no val_acc"):
        protocol.scores_from_metrics("j", {"val_loss": 1.0})
    with pytest.raises(ProtocolError, match=r"unknown metrics \['acc'\]"):
        protocol.scores_from_metrics("j", {"val_acc": 1.0, "acc": 2})
    with pytest.raises(ProtocolError, match="params must be a whole number"):
        protocol.scores_from_metrics("j", {"val_acc": 1.0, "params": -3})
    with pytest.raises(ProtocolError, match="val_acc must be a number"):
        protocol.scores_from_metrics("j", {"val_acc": "high"})
    with pytest.raises(ProtocolError, match="not a dict"):
        protocol.scores_from_metrics("j", [1.0])


def test_results_over_the_queue_s_limit_are_refused():
    ok = protocol.encode_result(lease(), "w", {"ok": {"val_acc": 1.0, "train_seconds": 0.0}})
    doc = json.loads(ok)
    assert doc["v"] == 1 and doc["attempt"] == 1 and doc["worker"] == "w"
    with pytest.raises(ProtocolError, match="over the 65536-byte limit"):
        protocol.encode_result(lease(), "w", {"ok": {"val_acc": 1.0, "genotype": "x" * 70000}})


def test_reasons_are_cut_at_4_kib_on_a_character_boundary():
    assert protocol.cut_reason("short") == "short"
    cut = protocol.cut_reason("é" * 5000)
    assert len(cut.encode()) <= protocol.MAX_REASON_BYTES and cut.endswith(" [cut]")


def test_progress_notes_get_a_kind_and_a_size_limit():
    assert json.loads(protocol.encode_progress({"epoch": 1})) == {"kind": "python", "epoch": 1}
    assert json.loads(protocol.encode_progress({"kind": "train", "step": 1, "steps": 2, "loss": 0.5}))["kind"] == "train"
    assert protocol.encode_progress({"blob": "x" * 20000}) is None
    assert protocol.encode_progress({"f": object()}) is None


def test_keys_follow_the_rust_layout():
    k = protocol.Keys("nas")
    assert k.job("s.0000000001") == "nas:q:job:s.0000000001"
    assert (k.rr("builtin"), k.rr("python")) == ("nas:q:rr", "nas:q:rr:python")
    assert (k.leases, k.workers, k.log("s")) == ("nas:q:leases", "nas:q:workers", "nas:q:log:s")


def test_odd_metrics_are_named_errors_not_crashes():
    import math

    for bad, why in (
        ({"val_acc": None}, "no val_acc"),
        ({"val_acc": 10**400}, "val_acc must be a number"),
        ({"val_acc": 1.0, 3: 4}, r"unknown metrics \['3'\]"),
        ({"val_acc": [1.0, 2.0]}, "val_acc must be a number"),
    ):
        with pytest.raises(ProtocolError, match=why):
            protocol.scores_from_metrics("j", bad)
    s = protocol.scores_from_metrics("j", {"val_acc": 10.0, "val_loss": float("nan"), "test_acc": float("inf")})
    assert s == {"val_acc": 10.0, "train_seconds": 0.0}, "non-finite optional scores are left out, as Rust writes them"
    assert math.isnan(protocol.scores_from_metrics("j", {"val_acc": float("nan")})["val_acc"])


def test_tensors_and_non_finite_numbers_in_notes_and_metrics():
    torch = pytest.importorskip("torch")
    s = protocol.scores_from_metrics("j", {"val_acc": torch.tensor(91.5), "params": torch.tensor(12)})
    assert s["val_acc"] == 91.5 and s["params"] == 12
    with pytest.raises(ProtocolError, match="must be one number"):
        protocol.scores_from_metrics("j", {"val_acc": torch.tensor([1.0, 2.0])})
    note = json.loads(protocol.encode_progress({"loss": float("nan"), "alphas": torch.tensor([0.25, 0.75])}))
    assert note == {"kind": "python", "loss": None, "alphas": [0.25, 0.75]}
