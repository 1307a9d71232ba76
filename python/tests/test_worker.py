"""The Worker class embedded in a process, against the test Redis: jobs
enqueued through the library's own enqueue function, as the scheduler
enqueues them, and evaluated by functions defined here."""
import json
import threading
import time

import nas_worker
from nas_worker import Worker, WorkerConfig, protocol

GENOTYPE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def enqueue(q, search, n, settings=None):
    """n python jobs of `search`, through nasq_enqueue (pool python)."""
    payload = {
        "space": {"kind": "nb201"},
        "genotype": GENOTYPE,
        "hash": protocol.genotype_hash("nb201", GENOTYPE),
        "evaluator": {"python": {"entry": "tests:evaluate", "settings": settings or {}}},
        "seed": 1,
    }
    args = [q.keys.prefix, search, "python"]
    for i in range(n):
        env = {"v": 1, "job_id": "@@ID@@", "search_id": search, "kind": "evaluate", "attempt": 0,
               "created_ms": protocol.now_ms(), "payload": payload}
        args += [f"k{i}", 0, json.dumps(env)]
    k = q.keys
    out = q._fcall("enqueue", [f"{k.prefix}:dedupe:{search}", f"{k.prefix}:jobseq:{search}", f"{k.prefix}:cancelled"], args)
    return [protocol._s(row[0]) for row in out]


def results(q, search):
    return [json.loads(r) for r in q.r.lrange(q.keys.log(search), 0, -1)]


def run_worker(q, evaluate, **kw):
    stop = threading.Event()
    w = Worker(q.r, evaluate, WorkerConfig(prefix=q.keys.prefix, worker_id="embedded", **kw))
    t = threading.Thread(target=w.run, args=(stop,), daemon=True)
    t.start()
    return w, stop, t


def wait_for(cond, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_an_embedded_worker_evaluates_reports_and_records_once(queue):
    seen = []

    def evaluate(job):
        seen.append((job.job_id, job.genotype, job.settings, job.attempt))
        job.report({"epoch": 1, "epochs": 1})
        time.sleep(0.3)
        return {"val_acc": 88.5, "params": 12}

    ids = enqueue(queue, "emb", 2, {"epochs": 1})
    w, stop, t = run_worker(queue, evaluate, slots=2, lease_s=0.6)
    done = wait_for(lambda: len(results(queue, "emb")) == 2 and results(queue, "emb"))
    stop.set()
    t.join(10)
    assert sorted(r["job_id"] for r in done) == sorted(ids)
    for r in done:
        assert r["worker"] == "embedded" and r["attempt"] == 1
        assert r["outcome"] == {"ok": {"val_acc": 88.5, "params": 12, "train_seconds": 0.0}}
    assert sorted(s[0] for s in seen) == sorted(ids)
    assert all(s[2] == {"epochs": 1} and s[1] == GENOTYPE for s in seen)
    note = json.loads(queue.r.hget(queue.keys.job(ids[0]), "progress"))
    assert note == {"kind": "python", "epoch": 1, "epochs": 1}
    assert (w.report.completed, w.report.failed, w.report.stale) == (2, 0, 0)


def test_a_job_that_checks_cancelled_is_handed_back_when_the_worker_stops(queue):
    started = threading.Event()

    def evaluate(job):
        started.set()
        while True:
            job.check_cancelled()
            time.sleep(0.02)

    ids = enqueue(queue, "stopme", 1)
    w, stop, t = run_worker(queue, evaluate, grace_s=0.1)
    assert started.wait(20)
    stop.set()
    t.join(10)
    assert not t.is_alive()
    state, attempt = queue.r.hmget(queue.keys.job(ids[0]), "state", "attempt")
    assert (state, attempt) == (b"queued", b"0")
    assert w.report.released == 1
    assert results(queue, "stopme") == []


def test_bad_returns_and_bad_payloads_fail_their_job_and_the_worker_goes_on(queue):
    calls = []

    def evaluate(job):
        calls.append(job.settings.get("case"))
        case = job.settings.get("case")
        if case == "none":
            return {"val_acc": None}
        if case == "keys":
            return {"val_acc": 1.0, 3: 4}
        if case == "nan-note":
            job.report({"loss": float("nan")})
            return {"val_acc": 5.0, "val_loss": float("nan")}
        if case == "spurious-cancel":
            raise nas_worker.Cancelled("not asked")
        return {"val_acc": 7.0}

    ids = [enqueue(queue, f"bad-{c}", 1, {"case": c})[0] for c in ("none", "keys", "nan-note", "spurious-cancel", "good")]
    # A payload whose evaluator is not an object: malformed, dead at once.
    k = queue.keys
    env = {"v": 1, "job_id": "@@ID@@", "search_id": "bad-payload", "kind": "evaluate", "attempt": 0,
           "created_ms": 1, "payload": {"evaluator": {"python": 1}, "seed": None}}
    queue._fcall("enqueue", [f"{k.prefix}:dedupe:bad-payload", f"{k.prefix}:jobseq:bad-payload", f"{k.prefix}:cancelled"],
                 [k.prefix, "bad-payload", "python", "x", 0, json.dumps(env)])
    w, stop, t = run_worker(queue, evaluate, max_attempts=1)
    wait_for(lambda: all(results(queue, s) for s in ("bad-none", "bad-keys", "bad-nan-note", "bad-spurious-cancel", "bad-good", "bad-payload")))
    stop.set()
    t.join(10)
    assert not t.is_alive()
    outcome = {s: results(queue, s)[0]["outcome"] for s in ("bad-none", "bad-keys", "bad-nan-note", "bad-spurious-cancel", "bad-good", "bad-payload")}
    assert "no val_acc" in outcome["bad-none"]["dead"]["reason"]
    assert "unknown metrics" in outcome["bad-keys"]["dead"]["reason"]
    assert outcome["bad-nan-note"] == {"ok": {"val_acc": 5.0, "train_seconds": 0.0}}
    note = json.loads(queue.r.hget(queue.keys.job(ids[2]), "progress"))
    assert note == {"kind": "python", "loss": None}
    # Cancelled while not cancelled is a failure, not a hand-back forever.
    assert "Cancelled while the job was not cancelled" in outcome["bad-spurious-cancel"]["dead"]["reason"]
    assert outcome["bad-good"] == {"ok": {"val_acc": 7.0, "train_seconds": 0.0}}
    assert "payload field 'space' is missing" in outcome["bad-payload"]["dead"]["reason"]
