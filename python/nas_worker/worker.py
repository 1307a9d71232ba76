"""The worker: claims jobs, runs the user's ``evaluate`` on a thread per
job, and keeps the queue informed from one control thread (lease renewal,
progress notes, heartbeats, reaping), as the Rust trainer does
(trainer/src/lib.rs). The rules it follows are in docs/PROTOCOL.md.
"""
from __future__ import annotations

import logging
import math
import os
import random
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import redis

from . import protocol
from .protocol import Lease, ProtocolError, QueueClient

log = logging.getLogger("nas_worker")


class PermanentError(Exception):
    """Raise from ``evaluate`` when the job can never succeed (bad settings,
    a genotype your code cannot build): the job is dead-lettered at once."""


class RetryableError(Exception):
    """Raise from ``evaluate`` when another attempt may succeed (out of
    memory, a file not there yet). Any other exception counts as this."""


class Diverged(Exception):
    """Raise from ``evaluate`` when training diverged (NaN loss): recorded
    as the candidate's result, not retried."""


class Cancelled(Exception):
    """Raise from ``evaluate`` (or let ``job.check_cancelled()`` raise it)
    when ``job.cancelled`` turned true: the worker is stopping or lost the
    lease, and the job is handed back or dropped."""


class Job:
    """What ``evaluate(job)`` is given.

    Attributes: ``job_id``, ``search_id``, ``attempt`` (from 1), ``kind``
    ("evaluate", or "noop"/"darts" for builtin jobs), ``payload`` (the
    job's JSON payload as it came), and for evaluations ``space`` (the
    space's JSON, e.g. ``{"kind": "nb201"}``), ``genotype`` (canonical
    text), ``hash``, ``evaluator`` (the evaluator's JSON), ``settings``
    (the spec's ``[evaluator.python.settings]``), ``seed``.
    """

    def __init__(self, lease: Lease, stop: threading.Event) -> None:
        self.job_id = lease.job_id
        self.search_id = lease.search_id
        self.attempt = lease.attempt
        self.kind = lease.kind
        self.payload = lease.payload
        p = lease.payload if isinstance(lease.payload, dict) else {}
        self.space: Dict[str, Any] = p.get("space") or {}
        self.genotype: str = p.get("genotype", "")
        self.hash: str = p.get("hash", "")
        self.evaluator: Dict[str, Any] = p.get("evaluator") or {}
        python = self.evaluator.get("python") or {}
        self.settings: Dict[str, Any] = dict(python.get("settings") or {})
        self.entry: Optional[str] = python.get("entry")
        self.seed: int = int(p.get("seed", 0))
        self._stop = stop
        self._note: Optional[Dict[str, Any]] = None
        self._lock = threading.Lock()
        self._parsed: Any = None

    @property
    def genotype_parsed(self) -> Any:
        """The genotype as nas_worker.networks parses it (needs torch)."""
        if self._parsed is None:
            from . import networks

            self._parsed = networks.parse_genotype(self.space, self.genotype)
        return self._parsed

    @property
    def cancelled(self) -> bool:
        """True once the job should stop: the worker is stopping past its
        grace, or the lease was lost. Check it between steps."""
        return self._stop.is_set()

    def check_cancelled(self) -> None:
        """Raise :class:`Cancelled` if the job should stop."""
        if self._stop.is_set():
            raise Cancelled(self.job_id)

    def report(self, progress: Dict[str, Any]) -> None:
        """Record how far the job has got (the latest note wins; the worker
        sends it to the queue at most once a second)."""
        with self._lock:
            self._note = dict(progress)

    def take_note(self) -> Optional[Dict[str, Any]]:
        with self._lock:
            return self._note


Evaluate = Callable[[Job], Dict[str, Any]]


@dataclass
class WorkerConfig:
    """How a worker runs (the same knobs as the Rust trainer's)."""

    #: This worker's name in leases, results and heartbeats.
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    #: Jobs run at once (one per GPU, typically).
    slots: int = 1
    #: Key prefix of the deployment.
    prefix: str = "nas"
    #: Lease length; renewed every third of it while a job runs.
    lease_s: float = 30.0
    #: After a stop is asked for, running jobs may finish for this long
    #: (their leases renewed); the rest are handed back.
    grace_s: float = 0.0
    #: Attempts before a failing job is dead-lettered.
    max_attempts: int = 3
    #: Retry backoff: base doubling per attempt, capped, with jitter.
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 60.0
    #: Pools served, in preference order: "python", and "builtin" to take
    #: the Rust evaluators' jobs too.
    pools: Sequence[str] = ("python",)
    #: Longest wait between claims while the queue is empty.
    max_idle_poll_s: float = 0.2
    heartbeat_s: float = 2.0
    reap_s: float = 1.0
    #: Progress notes go to the queue at most this often.
    progress_s: float = 1.0
    #: The entry this worker runs (`module:function`); a python job that
    #: names another is failed for good, with both named. None: any.
    entry: Optional[str] = None

    def backoff_ms(self, attempt: int) -> int:
        exp = self.backoff_base_s * (2 ** min(max(attempt - 1, 0), 20))
        return int(min(exp, self.backoff_cap_s) * random.uniform(0.5, 1.0) * 1000)


@dataclass
class Report:
    """What a worker did before it stopped."""

    completed: int = 0
    failed: int = 0
    released: int = 0
    stale: int = 0


@dataclass
class _Running:
    lease: Lease
    job: Job
    stop: threading.Event
    thread: Optional[threading.Thread] = None
    outcome: Optional[tuple] = None
    done: threading.Event = field(default_factory=threading.Event)
    held_at: float = field(default_factory=time.monotonic)
    next_renew: float = 0.0
    next_note: float = 0.0
    sent_note: Optional[str] = None


class Worker:
    """A trainer of the nas queue that runs ``evaluate`` on its jobs.

    ``Worker(redis.Redis(...), evaluate, WorkerConfig(...)).run(stop)``
    runs until ``stop`` is set (SIGTERM in ``nas-worker``), then drains as
    the Rust trainer does, and returns a :class:`Report`.
    """

    def __init__(self, client: "redis.Redis", evaluate: Evaluate, config: Optional[WorkerConfig] = None) -> None:
        self.config = config or WorkerConfig()
        self.q = QueueClient(client, self.config.prefix)
        self.evaluate = evaluate
        self.report = Report()
        self._running: Dict[str, _Running] = {}
        self._wake = threading.Event()

    # ------------------------------------------------------------ main loop

    def run(self, stop: threading.Event) -> Report:
        c = self.config
        lease_ms = int(c.lease_s * 1000)
        self.q.check_functions()
        log.info("worker %s started: %d slots, pools %s", c.worker_id, c.slots, ",".join(c.pools))
        idle = 0.001
        next_claim = next_reap = next_beat = time.monotonic()
        down = False
        while not stop.is_set():
            now = time.monotonic()
            self._tend(now, draining=False)
            if now >= next_beat:
                next_beat = now + c.heartbeat_s
                self._quietly("heartbeat", lambda: self.q.heartbeat(c.worker_id))
            if now >= next_reap:
                next_reap = now + c.reap_s
                r = self._quietly("reaping", lambda: self.q.reap(c.max_attempts))
                if r and r != (0, 0):
                    log.info("reaped expired leases: %d requeued, %d dead", *r)
            free = c.slots - len(self._running)
            if free > 0 and now >= next_claim:
                try:
                    claimed = self.q.claim(c.worker_id, free, lease_ms, c.pools)
                    if down:
                        log.info("queue reachable again")
                        down = False
                    if claimed:
                        idle = 0.001
                        for raw in claimed:
                            self._start(raw)
                        next_claim = now
                    else:
                        next_claim = now + idle
                        idle = min(idle * 2, c.max_idle_poll_s)
                except (redis.RedisError, protocol.FunctionsMissing) as e:
                    idle = min(max(idle * 2, 0.1), 5.0)
                    log.warning("claim failed: %s; retrying in %.0f ms", e, idle * 1000)
                    down = True
                    next_claim = now + idle
            wait = min(next_claim if free > 0 else math.inf, next_reap, next_beat, self._next_due()) - time.monotonic()
            self._wake.wait(max(0.0, min(wait, 0.05)))
            self._wake.clear()
        self._drain()
        log.info("worker stopped: %s", self.report)
        return self.report

    def _drain(self) -> None:
        c = self.config
        log.info("worker stopping: %d jobs running, grace %.1f s", len(self._running), c.grace_s)
        until = time.monotonic() + c.grace_s
        next_beat = time.monotonic()
        while self._running:
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + c.heartbeat_s
                self._quietly("heartbeat", lambda: self.q.heartbeat(c.worker_id))
            self._tend(now, draining=True)
            if now >= until:
                for run in list(self._running.values()):
                    run.stop.set()
                    self._hand_back(run)
                break
            self._wake.wait(max(0.0, min(until - now, self._next_due() - now, 0.05)))
            self._wake.clear()

    def _next_due(self) -> float:
        dues = [min(r.next_renew, r.next_note) for r in self._running.values()]
        return min(dues, default=math.inf)

    def _quietly(self, what: str, f: Callable[[], Any]) -> Any:
        try:
            return f()
        except (redis.RedisError, protocol.FunctionsMissing) as e:
            log.warning("%s failed: %s", what, e)
            return None

    # ------------------------------------------------------------ one job

    def _start(self, raw: tuple) -> None:
        job_id, token, deadline, attempt, env, sid = raw
        try:
            kind, payload, created = protocol.decode_envelope(env, job_id, sid)
            if kind == "evaluate" and "python" in (payload or {}).get("evaluator", {}):
                protocol.check_eval_payload(job_id, payload)
                named = payload["evaluator"]["python"].get("entry")
                if self.config.entry and named != self.config.entry:
                    raise ProtocolError(
                        f"job {job_id} names the python entry {named}, but this worker runs {self.config.entry}: "
                        "run the fleet's workers with the entry the spec names"
                    )
        except ProtocolError as e:
            log.warning("dead-lettering malformed job %s of search %s: %s", job_id, sid, e)
            self._retry(job_id, "fail", lambda: self.q.fail(job_id, sid, token, str(e), False, self.config.max_attempts, 0))
            self.report.failed += 1
            return
        lease = Lease(job_id, sid, token, deadline, attempt, kind, payload, created)
        stop = threading.Event()
        run = _Running(lease, Job(lease, stop), stop)
        period = self.config.lease_s / 3
        run.next_renew = time.monotonic() + period
        run.next_note = time.monotonic() + min(self.config.progress_s, period)
        run.thread = threading.Thread(target=self._evaluate, args=(run,), name=f"job-{job_id}", daemon=True)
        self._running[job_id] = run
        log.debug("job %s started (attempt %d)", job_id, attempt)
        run.thread.start()

    def _evaluate(self, run: _Running) -> None:
        job = run.job
        try:
            if job.kind == "noop":
                run.outcome = ("ok", _noop(job))
            else:
                metrics = self.evaluate(job)
                if job.cancelled:
                    run.outcome = ("cancelled", None)
                else:
                    run.outcome = ("ok", metrics)
        except Diverged as e:
            run.outcome = ("diverged", str(e) or "training diverged")
        except Cancelled:
            run.outcome = ("cancelled", None)
        except PermanentError as e:
            run.outcome = ("permanent", f"{type(e).__name__}: {e}")
        except BaseException as e:  # noqa: BLE001 - any failure of user code is reported, never lost
            if job.cancelled:
                run.outcome = ("cancelled", None)
            else:
                tb = "".join(traceback.format_exception(type(e), e, e.__traceback__)[-6:])
                run.outcome = ("retryable", f"evaluate raised {type(e).__name__}: {e}\n{tb}")
        finally:
            run.done.set()
            self._wake.set()

    def _tend(self, now: float, draining: bool) -> None:
        """Finish ended jobs, renew due leases, publish due notes."""
        c = self.config
        period = c.lease_s / 3
        for job_id, run in list(self._running.items()):
            if run.done.is_set():
                self._publish(run)
                self._finish(run)
                del self._running[job_id]
                continue
            if now >= run.next_renew:
                run.next_renew = now + period
                try:
                    deadline = self.q.renew(run.lease, int(c.lease_s * 1000))
                    if deadline is None:
                        log.warning("job %s: lease lost; abandoning the job", job_id)
                        self._abandon(run)
                        continue
                    run.held_at = now
                except (redis.RedisError, protocol.FunctionsMissing) as e:
                    if now - run.held_at > c.lease_s:
                        log.warning("job %s: lease lapsed while Redis was out of reach (%s); stopping the job, which will be handed out again", job_id, e)
                        self._abandon(run)
                        continue
                    log.warning("job %s: lease renewal failed: %s; retrying next period", job_id, e)
            if now >= run.next_note:
                run.next_note = now + min(c.progress_s, period)
                if not self._publish(run):
                    log.warning("job %s: lease lost; abandoning the job", job_id)
                    self._abandon(run)

    def _abandon(self, run: _Running) -> None:
        run.stop.set()
        self.report.stale += 1
        self._running.pop(run.lease.job_id, None)

    def _publish(self, run: _Running) -> bool:
        """Send the job's latest note if it is new; False if the lease is lost."""
        note = run.job.take_note()
        if note is None:
            return True
        text = protocol.encode_progress(note)
        if text is None:
            log.warning("job %s: progress note dropped: not JSON or over %d bytes", run.lease.job_id, protocol.MAX_PROGRESS_BYTES)
            run.job._note = None
            return True
        if text == run.sent_note:
            return True
        try:
            if not self.q.progress(run.lease, text):
                return False
            run.sent_note = text
        except (redis.RedisError, protocol.FunctionsMissing) as e:
            log.warning("job %s: recording progress failed: %s; the next tick will try again", run.lease.job_id, e)
        return True

    def _finish(self, run: _Running) -> None:
        lease, c = run.lease, self.config
        what, value = run.outcome or ("retryable", "the job thread ended without a result")
        if what == "cancelled":
            self._hand_back(run)
            return
        if what in ("ok", "diverged"):
            try:
                if what == "ok":
                    outcome: Dict[str, Any] = {"ok": protocol.scores_from_metrics(lease.job_id, value)}
                    if not math.isfinite(outcome["ok"]["val_acc"]):
                        outcome = {"diverged": {"reason": f"val_acc is {outcome['ok']['val_acc']}"}}
                else:
                    outcome = {"diverged": {"reason": protocol.cut_reason(value)}}
                result = protocol.encode_result(lease, c.worker_id, outcome)
            except (ProtocolError, ValueError) as e:
                # Refused on every attempt alike: fail for good at once.
                what, value = "permanent", f"the queue refused the result: {e}"
            else:
                ok = self._retry(lease.job_id, "complete", lambda: self.q.complete(lease, result))
                if ok:
                    self.report.completed += 1
                else:
                    log.warning("job %s: complete refused: the lease is no longer held", lease.job_id)
                    self.report.stale += 1
                return
        retryable = what == "retryable"
        log.warning("job %s failed (attempt %d): %s", lease.job_id, lease.attempt, value.splitlines()[0] if value else "")
        r = self._retry(
            lease.job_id,
            "fail",
            lambda: self.q.fail(lease.job_id, lease.search_id, lease.token, value, retryable, c.max_attempts, c.backoff_ms(lease.attempt)),
        )
        if r in ("retrying", "dead"):
            self.report.failed += 1
        else:
            self.report.stale += 1

    def _hand_back(self, run: _Running) -> None:
        lease = run.lease
        self._running.pop(lease.job_id, None)
        if self._retry(lease.job_id, "hand-back", lambda: self.q.release(lease)):
            log.info("job %s: handed the job back", lease.job_id)
            self.report.released += 1
        else:
            self.report.stale += 1

    def _retry(self, job_id: str, what: str, f: Callable[[], Any]) -> Any:
        """Call ``f`` until it answers, retrying Redis outages with capped
        backoff (each logged) for up to 10 minutes; None if it never did."""
        delay, start = 0.1, time.monotonic()
        while True:
            try:
                return f()
            except (redis.ConnectionError, redis.TimeoutError, protocol.FunctionsMissing) as e:
                if time.monotonic() - start > 600:
                    log.warning("job %s: %s refused: %s", job_id, what, e)
                    return None
                log.warning("job %s: %s failed: %s; retrying in %.0f ms", job_id, what, e, delay * 1000)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            except redis.RedisError as e:
                log.warning("job %s: %s refused: %s", job_id, what, e)
                return None


def _noop(job: Job) -> Dict[str, Any]:
    """A no-op job, as the Rust trainer runs it: success at once, or after
    ``sleep_ms`` (benchmarks stand it in for training of a fixed length)."""
    p = job.payload if isinstance(job.payload, dict) else {}
    ms = p.get("sleep_ms") or 0
    if isinstance(ms, bool) or not isinstance(ms, int) or not 0 <= ms <= protocol.MAX_NOOP_SLEEP_MS:
        raise PermanentError(f"noop payload: sleep_ms {ms} must be a whole number of milliseconds from 0 to {protocol.MAX_NOOP_SLEEP_MS}")
    if ms and job._stop.wait(ms / 1000):
        raise Cancelled(job.job_id)
    return {"val_acc": 0.0, "train_seconds": ms / 1000, "device": "none"}


def load_entry(entry: str) -> Evaluate:
    """Import ``module.path:function``; ValueError names what is wrong."""
    import importlib

    module, sep, name = entry.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"entry {entry!r} is not module.path:function")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise ValueError(f"entry {entry!r}: cannot import {module}: {e}") from None
    f = getattr(mod, name, None)
    if not callable(f):
        raise ValueError(f"entry {entry!r}: {module} has no function {name}")
    return f
