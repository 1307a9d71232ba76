"""The nas queue protocol as a Python client speaks it (docs/PROTOCOL.md).

Every transition is a function of the ``nasq`` Redis Functions library,
which the Rust daemons load (queue/src/functions.rs); this module only
calls it with ``FCALL``, so no copy of the Lua lives here. It holds the key
names, the wire limits, and the encoding and checks of envelopes, results
and progress notes, mirroring queue/src/wire.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import redis

#: The version of the functions library this client speaks.
FUNCTIONS_VERSION = "2"
#: Envelope and result schema version.
SCHEMA_VERSION = 1
#: Largest payload a job may carry (bytes of JSON).
MAX_PAYLOAD_BYTES = 64 * 1024
#: Largest result the queue records (bytes of JSON).
MAX_RESULT_BYTES = 64 * 1024
#: Failure reasons are cut to this many bytes.
MAX_REASON_BYTES = 4 * 1024
#: Largest progress note a job may record.
MAX_PROGRESS_BYTES = 16 * 1024
#: Largest worker card (queue::wire::MAX_CARD_BYTES).
MAX_CARD_BYTES = 16 * 1024
#: Job kinds a worker may be handed.
JOB_KINDS = ("evaluate", "noop", "darts")
#: The longest sleep a no-op job may ask for, as the Rust trainer allows.
MAX_NOOP_SLEEP_MS = 3_600_000
#: The metrics a result may carry (queue::wire::Scores).
SCORE_FIELDS = {
    "val_acc": float,
    "val_loss": float,
    "test_acc": float,
    "val_rmse": float,
    "val_r2": float,
    "test_rmse": float,
    "test_r2": float,
    "params": int,
    "train_seconds": float,
    "images_per_s": float,
    "epochs": float,
    "device": str,
    "weights": str,
    "genotype": str,
}


class ProtocolError(Exception):
    """A message that breaks the protocol (malformed envelope, bad metrics)."""


class FunctionsVersionError(Exception):
    """Redis holds another version of the queue functions."""


class FunctionsMissing(Exception):
    """Redis holds no queue functions (no Rust daemon has loaded them yet)."""


def now_ms() -> int:
    """This machine's clock, ms since the Unix epoch (heartbeats, results)."""
    return int(time.time() * 1000)


def cut_reason(reason: str) -> str:
    """``reason`` cut to at most MAX_REASON_BYTES bytes, marked " [cut]"."""
    raw = reason.encode()
    if len(raw) <= MAX_REASON_BYTES:
        return reason
    mark = " [cut]"
    return raw[: MAX_REASON_BYTES - len(mark)].decode(errors="ignore") + mark


def genotype_hash(space_kind: str, canonical: str) -> str:
    """The system-wide deduplication key: the first 64 bits of SHA-256 over
    ``"<space>\\n<canonical text>"``, as 16 hex digits."""
    digest = hashlib.sha256(f"{space_kind}\n{canonical}".encode()).digest()
    return digest[:8].hex()


class Keys:
    """The Redis keys a worker touches (queue/src/keys.rs)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def job(self, job_id: str) -> str:
        return f"{self.prefix}:q:job:{job_id}"

    def log(self, search_id: str) -> str:
        return f"{self.prefix}:q:log:{search_id}"

    def rr(self, pool: str) -> str:
        """The round-robin set of ``pool`` ('builtin' or 'python')."""
        return f"{self.prefix}:q:rr" if pool == "builtin" else f"{self.prefix}:q:rr:{pool}"

    def __getattr__(self, name: str) -> str:
        if name in ("rrseq", "leases", "delayed", "dlq", "token", "stats", "workers"):
            return f"{self.prefix}:q:{name}"
        raise AttributeError(name)


@dataclass
class Lease:
    """A claimed job: what the worker holds until it ends the job."""

    job_id: str
    search_id: str
    token: str
    deadline_ms: int
    attempt: int
    kind: str
    payload: Any
    created_ms: int


def decode_envelope(text: str, job_id: str, search_id: str) -> Tuple[str, Any, int]:
    """Check an envelope as claimed under ``job_id`` of ``search_id``;
    returns (kind, payload, created ms) or raises ProtocolError."""
    if len(text.encode()) > MAX_PAYLOAD_BYTES + 1024:
        raise ProtocolError(f"envelope of job {job_id} is over the {MAX_PAYLOAD_BYTES}-byte limit")
    try:
        env = json.loads(text)
    except ValueError as e:
        raise ProtocolError(f"envelope of job {job_id} is not JSON: {e}") from None
    if not isinstance(env, dict):
        raise ProtocolError(f"envelope of job {job_id} is not a JSON object")
    if env.get("v") != SCHEMA_VERSION:
        raise ProtocolError(f"envelope of job {job_id} has schema version {env.get('v')!r}, this worker reads {SCHEMA_VERSION}")
    if env.get("job_id") != job_id or env.get("search_id") != search_id:
        raise ProtocolError(
            f"envelope names job {env.get('job_id')} of search {env.get('search_id')} "
            f"but is stored as {job_id} of search {search_id}"
        )
    kind = env.get("kind")
    if kind not in JOB_KINDS:
        raise ProtocolError(f"envelope of job {job_id} has unknown kind {kind!r}")
    created = env.get("created_ms")
    if not isinstance(created, int):
        raise ProtocolError(f"envelope of job {job_id} has no created_ms")
    return kind, env.get("payload"), created


def check_eval_payload(job_id: str, payload: Any) -> None:
    """Check an evaluate payload: its fields and that its hash matches its
    genotype (a job whose genotype was changed on the way is refused)."""
    if not isinstance(payload, dict):
        raise ProtocolError(f"job {job_id}: the evaluate payload is not an object")
    for field, kind in (("space", dict), ("genotype", str), ("hash", str), ("evaluator", dict), ("seed", int)):
        if not isinstance(payload.get(field), kind):
            raise ProtocolError(f"job {job_id}: payload field {field!r} is missing or not a {kind.__name__}")
    space = payload["space"].get("kind")
    if not isinstance(space, str):
        raise ProtocolError(f"job {job_id}: the payload's space has no kind")
    want = genotype_hash(space, payload["genotype"])
    if want != payload["hash"]:
        raise ProtocolError(
            f"job {job_id}: hash {payload['hash']} does not match genotype {payload['genotype']} (hash {want})"
        )


def scores_from_metrics(job_id: str, metrics: Any) -> Dict[str, Any]:
    """The result's scores from what ``evaluate`` returned; ProtocolError
    names what is wrong (not a dict, no val_acc, an unknown metric, a
    value of the wrong type)."""
    if not isinstance(metrics, dict):
        raise ProtocolError(f"job {job_id}: evaluate returned {type(metrics).__name__}, not a dict of metrics")
    unknown = sorted(repr(k) if not isinstance(k, str) else k for k in metrics if k not in SCORE_FIELDS)
    if unknown:
        raise ProtocolError(
            f"job {job_id}: evaluate returned unknown metrics {unknown}; known: {sorted(SCORE_FIELDS)}"
        )
    if metrics.get("val_acc") is None:
        raise ProtocolError(f"job {job_id}: evaluate returned no val_acc")
    scores: Dict[str, Any] = {}
    for name, value in metrics.items():
        if hasattr(value, "item") and not isinstance(value, (str, bytes)):
            try:
                value = value.item()  # a 0-d tensor or a numpy scalar
            except (TypeError, ValueError, RuntimeError):
                raise ProtocolError(f"job {job_id}: metric {name} must be one number, not {type(value).__name__}") from None
        if value is None:
            continue
        want = SCORE_FIELDS[name]
        if want is str:
            if not isinstance(value, str):
                raise ProtocolError(f"job {job_id}: metric {name} must be a string, not {value!r}")
        elif want is int:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                if isinstance(value, float) and value.is_integer() and value >= 0:
                    value = int(value)
                else:
                    raise ProtocolError(f"job {job_id}: metric {name} must be a whole number >= 0, not {value!r}")
        else:
            try:
                value = float(value)
            except (TypeError, ValueError, OverflowError):
                raise ProtocolError(f"job {job_id}: metric {name} must be a number, not {value!r:.100}") from None
            if not math.isfinite(value) and name != "val_acc":
                # As the Rust trainer writes it: JSON has no NaN, and a
                # missing optional score is what a reader gets either way.
                continue
        scores[name] = value
    scores.setdefault("train_seconds", 0.0)
    return scores


def encode_result(lease: Lease, worker: str, outcome: Dict[str, Any]) -> str:
    """The result-log entry for ``lease`` (queue::wire::JobResult);
    ProtocolError if it is over the queue's limit."""
    text = json.dumps(
        {
            "v": SCHEMA_VERSION,
            "job_id": lease.job_id,
            "search_id": lease.search_id,
            "attempt": lease.attempt,
            "worker": worker,
            "finished_ms": now_ms(),
            "outcome": outcome,
        },
        separators=(",", ":"),
        allow_nan=False,
    )
    size = len(text.encode())
    if size > MAX_RESULT_BYTES:
        raise ProtocolError(f"job {lease.job_id}: {size} bytes is over the {MAX_RESULT_BYTES}-byte limit")
    return text


def encode_progress(note: Dict[str, Any]) -> Optional[str]:
    """A progress note as JSON (kind "python" unless the note names one),
    non-finite numbers as null; None if it is over MAX_PROGRESS_BYTES or
    holds something that is not JSON."""
    if "kind" not in note:
        note = {"kind": "python", **note}
    try:
        text = json.dumps(_plain(note, 0), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None
    return text if len(text.encode()) <= MAX_PROGRESS_BYTES else None


def _plain(value: Any, depth: int) -> Any:
    """``value`` as plain JSON values: tensors and numpy scalars as numbers
    (or lists), non-finite floats as None; TypeError for anything else."""
    if depth > 32:
        raise TypeError("nested too deep")
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist(), depth + 1)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _missing(e: redis.RedisError) -> bool:
    text = str(e)
    return "Function not found" in text or "Library not found" in text


class QueueClient:
    """The transitions a worker calls, over one redis-py client (thread
    safe: its connection pool serves the control loop and the job threads)."""

    def __init__(self, client: "redis.Redis", prefix: str = "nas") -> None:
        self.r = client
        self.keys = Keys(prefix)

    def functions_version(self) -> str:
        """The version of the functions in Redis; FunctionsMissing if none."""
        try:
            v = self.r.execute_command("FCALL_RO", "nasq_version", 0)
        except redis.ResponseError as e:
            if _missing(e):
                raise FunctionsMissing(str(e)) from None
            raise
        return v.decode() if isinstance(v, bytes) else str(v)

    def check_functions(self) -> None:
        """Refuse another version of the functions (FunctionsVersionError)."""
        found = self.functions_version()
        if found != FUNCTIONS_VERSION:
            raise FunctionsVersionError(
                f"redis holds version {found} of the nasq queue functions, this worker speaks version "
                f"{FUNCTIONS_VERSION}: upgrade nas-worker or the nas daemons so that they match"
            )

    def _fcall(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return self.r.execute_command("FCALL", f"nasq_{name}", len(keys), *keys, *args)
        except redis.ResponseError as e:
            if _missing(e):
                raise FunctionsMissing(str(e)) from None
            raise

    def claim(self, worker: str, max_jobs: int, lease_ms: int, pools: Sequence[str]) -> List[Tuple[str, str, int, int, str, str]]:
        """Lease up to ``max_jobs`` jobs from ``pools`` (in preference order):
        (job id, token, deadline ms, attempt, envelope JSON, search id)."""
        k = self.keys
        raw = self._fcall(
            "claim",
            [k.rrseq, k.leases, k.token, *[k.rr(p) for p in pools]],
            [k.prefix, worker, lease_ms, max_jobs],
        )
        out = []
        for job_id, token, deadline, attempt, env, sid in raw:
            out.append((_s(job_id), _s(token), int(deadline), int(attempt), _s(env), _s(sid)))
        return out

    def renew(self, lease: Lease, lease_ms: int) -> Optional[int]:
        """The new deadline, or None if the lease is no longer ours."""
        k = self.keys
        r = int(self._fcall("renew", [k.job(lease.job_id), k.leases], [lease.job_id, lease.token, lease_ms, k.prefix]))
        return None if r < 0 else r

    def progress(self, lease: Lease, note: str) -> bool:
        """Record the job's latest progress note; False if the lease is lost."""
        return int(self._fcall("progress", [self.keys.job(lease.job_id)], [lease.token, note])) == 1

    def complete(self, lease: Lease, result: str) -> bool:
        """Acknowledge the job with its result; False if the lease is lost."""
        k = self.keys
        r = self._fcall(
            "complete",
            [k.job(lease.job_id), k.leases, k.log(lease.search_id)],
            [k.prefix, lease.job_id, lease.token, result],
        )
        return int(r) == 1

    def fail(self, job_id: str, search_id: str, token: str, reason: str, retryable: bool, max_attempts: int, delay_ms: int) -> str:
        """Fail the job: "retrying", "dead", or "stale" (the lease is lost)."""
        k = self.keys
        r = self._fcall(
            "fail",
            [k.job(job_id), k.leases, k.delayed, k.dlq, k.log(search_id)],
            [k.prefix, job_id, token, cut_reason(reason), 1 if retryable else 0, max_attempts, delay_ms],
        )
        first = int(r[0])
        return {-1: "stale", 0: "dead", 1: "retrying"}.get(first, "stale")

    def release(self, lease: Lease) -> bool:
        """Hand the job back (the attempt does not count); False if lost."""
        k = self.keys
        return int(self._fcall("release", [k.job(lease.job_id), k.leases], [k.prefix, lease.job_id, lease.token])) >= 0

    def reap(self, max_attempts: int) -> Tuple[int, int]:
        """Requeue or dead-letter expired leases: (requeued, dead)."""
        k = self.keys
        requeued, dead = self._fcall("reap", [k.leases, k.dlq, k.stats], [k.prefix, max_attempts, 1000])
        return int(requeued), int(dead)

    def heartbeat(self, worker: str) -> None:
        """Announce that ``worker`` is alive (its clock, ms)."""
        self.r.zadd(self.keys.workers, {worker: now_ms()})

    def announce(self, card: Dict[str, Any], ttl_ms: int) -> None:
        """Publish a worker's card (docs/schemas/worker-card.schema.json)
        for the dashboard; it expires after ``ttl_ms`` unless published
        again. Advisory: no transition reads it."""
        text = json.dumps(card, separators=(",", ":"))
        if len(text.encode()) > MAX_CARD_BYTES:
            raise ProtocolError(f"worker card of {len(text.encode())} bytes is over the {MAX_CARD_BYTES}-byte limit")
        self.r.set(f"{self.keys.prefix}:q:worker:{card['id']}", text, px=max(1, int(ttl_ms)))


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
