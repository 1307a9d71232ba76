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
import sys
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
        p = _dict(lease.payload)
        self.space: Dict[str, Any] = _dict(p.get("space"))
        self.genotype: str = p.get("genotype") if isinstance(p.get("genotype"), str) else ""
        self.hash: str = p.get("hash") if isinstance(p.get("hash"), str) else ""
        self.evaluator: Dict[str, Any] = _dict(p.get("evaluator"))
        python = _dict(self.evaluator.get("python"))
        self.settings: Dict[str, Any] = dict(_dict(python.get("settings")))
        self.entry: Optional[str] = python.get("entry") if isinstance(python.get("entry"), str) else None
        seed = p.get("seed")
        self.seed: int = seed if isinstance(seed, int) and not isinstance(seed, bool) else 0
        self._stop = stop
        self._note: Optional[str] = None
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
        sends it to the queue at most once a second). Non-finite numbers
        are sent as null; a note that is not JSON, or over 16 KiB, is
        dropped with a warning."""
        text = protocol.encode_progress(progress) if isinstance(progress, dict) else None
        if text is None:
            log.warning("job %s: progress note dropped: not a JSON object or over %d bytes", self.job_id, protocol.MAX_PROGRESS_BYTES)
            return
        with self._lock:
            self._note = text

    def latest_note(self) -> Optional[str]:
        """The latest note, as JSON text."""
        with self._lock:
            return self._note


def _dict(v: Any) -> Dict[str, Any]:
    return v if isinstance(v, dict) else {}


Evaluate = Callable[[Job], Dict[str, Any]]

#: How long a stopped worker waits for evaluations it handed back to return
#: (they check ``job.cancelled``), as the Rust trainer waits for its threads.
THREAD_STOP_WAIT_S = 60.0


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
    """A job between its claim and its end. The control thread renews it
    and records its notes until the job thread takes over to finish it
    (``finishing``), or hands it back or drops it (``given_up``); the lock
    makes the two exclusive, so a job is ended once, by one thread."""

    lease: Lease
    job: Job
    stop: threading.Event
    thread: Optional[threading.Thread] = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    finishing: bool = False
    given_up: bool = False
    #: How the job ended (a Report field name), once ``done`` is set.
    end: Optional[str] = None
    done: threading.Event = field(default_factory=threading.Event)
    held_at: float = field(default_factory=time.monotonic)
    next_renew: float = 0.0
    next_note: float = 0.0
    sent_note: Optional[str] = None


def _version() -> str:
    from . import __version__

    return __version__


class Worker:
    """A trainer of the nas queue that runs ``evaluate`` on its jobs.

    ``Worker(redis.Redis(...), evaluate, WorkerConfig(...)).run(stop)``
    runs until ``stop`` is set (SIGTERM in ``nas-worker``), then drains as
    the Rust trainer does, and returns a :class:`Report`. Each job runs on
    a thread of its own, which also records its end (with retries while
    Redis is away); one control thread claims, renews leases, records
    progress, sends heartbeats and reaps, and never waits on a job.
    """

    def __init__(self, client: "redis.Redis", evaluate: Evaluate, config: Optional[WorkerConfig] = None) -> None:
        self.config = config or WorkerConfig()
        # A call that hangs on a cut-off Redis would stall every renewal:
        # give the client a timeout shorter than a renewal period if it
        # has none.
        kwargs = client.connection_pool.connection_kwargs
        if kwargs.get("socket_timeout") is None:
            kwargs["socket_timeout"] = max(0.05, min(5.0, self.config.lease_s / 3))
        self.q = QueueClient(client, self.config.prefix)
        self.evaluate = evaluate
        self.report = Report()
        self._running: Dict[str, _Running] = {}
        self._threads: List[threading.Thread] = []
        self._wake = threading.Event()
        self._fatal: Optional[Exception] = None
        self._started_ms = protocol.now_ms()

    # ------------------------------------------------------------ main loop

    def run(self, stop: threading.Event) -> Report:
        """Serve until ``stop`` is set; FunctionsVersionError if Redis holds
        (or comes to hold) another version of the queue functions."""
        c = self.config
        lease_ms = int(c.lease_s * 1000)
        self.q.check_functions()
        log.info("worker %s started: %d slots, pools %s", c.worker_id, c.slots, ",".join(c.pools))
        idle = 0.001
        next_claim = next_reap = next_beat = time.monotonic()
        down = False
        while not stop.is_set() and self._fatal is None:
            now = time.monotonic()
            self._tend(now)
            if now >= next_beat:
                next_beat = now + c.heartbeat_s
                self._beat()
            if now >= next_reap:
                next_reap = now + c.reap_s
                r = self._quietly("reaping", lambda: self.q.reap(c.max_attempts))
                if r and r != (0, 0):
                    log.info("reaped expired leases: %d requeued, %d dead", *r)
            free = c.slots - len(self._running)
            if free > 0 and now >= next_claim and self._fatal is None:
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
        if self._fatal is not None:
            raise self._fatal
        return self.report

    def _card(self) -> Dict[str, Any]:
        """This worker's card: what the dashboard's fleet page shows."""
        c = self.config
        torch = sys.modules.get("torch")
        device = "cpu"
        try:
            if torch is not None and torch.cuda.is_available():
                device = ",".join(f"cuda:{i}" for i in range(torch.cuda.device_count()))
        except Exception:  # a broken CUDA setup is the job's to report
            pass
        return {
            "id": c.worker_id,
            "kind": "python",
            "host": socket.gethostname(),
            "device": device,
            "slots": c.slots,
            "pools": list(c.pools),
            "jobs": sorted(self._running),
            "started_ms": self._started_ms,
            "version": _version(),
        }

    def _heartbeat(self) -> None:
        """Say this worker is alive and publish its card (which lives a
        few heartbeats)."""
        c = self.config
        self._quietly("heartbeat", lambda: self.q.heartbeat(c.worker_id))
        ttl_ms = int(max(c.heartbeat_s * 5, 10.0) * 1000)
        self._quietly("publishing the worker's card", lambda: self.q.announce(self._card(), ttl_ms))

    def _beat(self) -> None:
        """Heartbeat, and check that the library is still this worker's
        version (``nas migrate-keys`` may have replaced it)."""
        self._heartbeat()
        try:
            self.q.check_functions()
        except protocol.FunctionsVersionError as e:
            log.error("%s; stopping", e)
            self._fatal = e
        except (redis.RedisError, protocol.FunctionsMissing):
            pass  # an outage: the calls that matter say so

    def _drain(self) -> None:
        c = self.config
        log.info("worker stopping: %d jobs running, grace %.1f s", len(self._running), c.grace_s)
        until = time.monotonic() + c.grace_s
        next_beat = time.monotonic()
        while self._running:
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + c.heartbeat_s
                self._heartbeat()
            self._tend(now)
            if now >= until:
                # Past the grace: hand back what is still running; a job
                # already finishing keeps its result.
                for run in list(self._running.values()):
                    if self._give_up(run):
                        self._hand_back(run)
            # Past the grace, only finishing jobs are left: poll them.
            grace_left = until - now if until > now else 0.05
            self._wake.wait(max(0.001, min(grace_left, self._next_due() - now, 0.05)))
            self._wake.clear()
        # Evaluations handed back were told to stop; wait until they have,
        # since a process that exits under a running torch thread may crash.
        deadline = time.monotonic() + THREAD_STOP_WAIT_S
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        busy = sum(t.is_alive() for t in self._threads)
        if busy:
            log.warning("%d evaluations still running after the stop; exiting under them", busy)

    def _next_due(self) -> float:
        dues = [min(r.next_renew, r.next_note) for r in self._running.values() if not r.finishing]
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
            if kind == "evaluate" and "python" in _dict(_dict(payload).get("evaluator")):
                protocol.check_eval_payload(job_id, payload)
                named = payload["evaluator"]["python"].get("entry")
                if self.config.entry and named != self.config.entry:
                    raise ProtocolError(
                        f"job {job_id} names the python entry {named}, but this worker runs {self.config.entry}: "
                        "run the fleet's workers with the entry the spec names"
                    )
            lease = Lease(job_id, sid, token, deadline, attempt, kind, payload, created)
            stop = threading.Event()
            run = _Running(lease, Job(lease, stop), stop)
        except Exception as e:  # noqa: BLE001 - whatever is wrong with a job fails that job, never the worker
            reason = str(e) if isinstance(e, ProtocolError) else f"malformed job: {type(e).__name__}: {e}"
            log.warning("dead-lettering malformed job %s of search %s: %s", job_id, sid, reason)
            c = self.config
            self._retry(job_id, "fail", lambda: self.q.fail(job_id, sid, token, reason, False, c.max_attempts, 0), budget_s=5.0)
            self.report.failed += 1
            return
        period = self.config.lease_s / 3
        run.next_renew = time.monotonic() + period
        run.next_note = time.monotonic() + min(self.config.progress_s, period)
        run.thread = threading.Thread(target=self._job_main, args=(run,), name=f"job-{job_id}", daemon=True)
        self._running[job_id] = run
        self._threads = [t for t in self._threads if t.is_alive()] + [run.thread]
        log.debug("job %s started (attempt %d)", job_id, attempt)
        run.thread.start()

    def _job_main(self, run: _Running) -> None:
        """The job's thread: evaluate, then record the end, unless the
        control thread has given the job up meanwhile."""
        try:
            outcome = self._outcome(run)
            with run.lock:
                if run.given_up:
                    return
                run.finishing = True
            # The last note goes before the result, as the Rust trainer
            # sends it, so that it is never lost to the throttle.
            self._publish(run)
            run.end = self._finish(run, outcome)
        except Exception as e:  # noqa: BLE001 - a bug here must not lose the job silently
            log.exception("job %s: finishing failed: %s; its lease will lapse and it will be handed out again", run.lease.job_id, e)
            run.end = "stale"
        finally:
            run.done.set()
            self._wake.set()

    def _outcome(self, run: _Running) -> tuple:
        """Evaluate, and turn what happened into the call that ends the job:
        ("complete", result JSON), ("fail", reason, retryable) or ("release",)."""
        job, lease = run.job, run.lease
        try:
            metrics = _noop(job) if job.kind == "noop" else self.evaluate(job)
            if job.cancelled:
                return ("release",)
            scores = protocol.scores_from_metrics(lease.job_id, metrics)
            if not math.isfinite(scores["val_acc"]):
                outcome: Dict[str, Any] = {"diverged": {"reason": f"val_acc is {scores['val_acc']}"}}
            else:
                outcome = {"ok": scores}
            return ("complete", protocol.encode_result(lease, self.config.worker_id, outcome))
        except Diverged as e:
            reason = protocol.cut_reason(str(e) or "training diverged")
            try:
                return ("complete", protocol.encode_result(lease, self.config.worker_id, {"diverged": {"reason": reason}}))
            except ProtocolError as refused:
                return ("fail", f"the queue refused the result: {refused}", False)
        except ProtocolError as e:
            # Refused on every attempt alike: fail for good at once.
            return ("fail", f"the queue refused the result: {e}", False)
        except PermanentError as e:
            return ("fail", f"{type(e).__name__}: {e}", False)
        except BaseException as e:  # noqa: BLE001 - any failure of user code is reported, never lost
            if job.cancelled:
                return ("release",)
            if isinstance(e, Cancelled):
                return ("fail", "evaluate raised Cancelled while the job was not cancelled", True)
            tb = "".join(traceback.format_exception(type(e), e, e.__traceback__)[-6:])
            return ("fail", f"evaluate raised {type(e).__name__}: {e}\n{tb}", True)

    def _finish(self, run: _Running, outcome: tuple) -> str:
        """Record the job's end; the Report field it counts in."""
        lease, c = run.lease, self.config
        if outcome[0] == "release":
            return self._release(lease)
        if outcome[0] == "complete":
            ok = self._retry(lease.job_id, "complete", lambda: self.q.complete(lease, outcome[1]))
            if not ok:
                log.warning("job %s: complete refused: the lease is no longer held", lease.job_id)
                return "stale"
            return "completed"
        _, reason, retryable = outcome
        log.warning("job %s failed (attempt %d): %s", lease.job_id, lease.attempt, reason.splitlines()[0] if reason else "")
        r = self._retry(
            lease.job_id,
            "fail",
            lambda: self.q.fail(lease.job_id, lease.search_id, lease.token, reason, retryable, c.max_attempts, c.backoff_ms(lease.attempt)),
        )
        return "failed" if r in ("retrying", "dead") else "stale"

    def _tend(self, now: float) -> None:
        """Count ended jobs; renew due leases and record due notes of the
        jobs still running."""
        c = self.config
        period = c.lease_s / 3
        for job_id, run in list(self._running.items()):
            if run.done.is_set():
                del self._running[job_id]
                if run.end:
                    setattr(self.report, run.end, getattr(self.report, run.end) + 1)
                continue
            if run.finishing:
                continue
            try:
                if now >= run.next_renew:
                    run.next_renew = now + period
                    self._renew(run, now)
                if job_id in self._running and now >= run.next_note:
                    run.next_note = now + min(c.progress_s, period)
                    if not self._publish(run):
                        log.warning("job %s: lease lost; abandoning the job", job_id)
                        self._drop(run)
            except Exception as e:  # noqa: BLE001 - one job's trouble must not stop the others' renewals
                log.exception("job %s: tending failed: %s", job_id, e)

    def _renew(self, run: _Running, now: float) -> None:
        c, job_id = self.config, run.lease.job_id
        try:
            deadline = self.q.renew(run.lease, int(c.lease_s * 1000))
        except (redis.RedisError, protocol.FunctionsMissing) as e:
            if now - run.held_at > c.lease_s:
                log.warning("job %s: lease lapsed while Redis was out of reach (%s); stopping the job, which will be handed out again", job_id, e)
                self._drop(run)
            else:
                log.warning("job %s: lease renewal failed: %s; retrying next period", job_id, e)
            return
        if deadline is None:
            log.warning("job %s: lease lost; abandoning the job", job_id)
            self._drop(run)
        else:
            run.held_at = now

    def _give_up(self, run: _Running) -> bool:
        """Take the job from its thread (which then records nothing) and
        tell it to stop; False if it is already finishing."""
        with run.lock:
            if run.finishing:
                return False
            run.given_up = True
        run.stop.set()
        self._running.pop(run.lease.job_id, None)
        return True

    def _drop(self, run: _Running) -> None:
        """The lease is lost: stop the job and write nothing for it."""
        if self._give_up(run):
            self.report.stale += 1

    def _hand_back(self, run: _Running) -> None:
        end = self._release(run.lease)
        setattr(self.report, end, getattr(self.report, end) + 1)

    def _release(self, lease: Lease) -> str:
        if self._retry(lease.job_id, "hand-back", lambda: self.q.release(lease)):
            log.info("job %s: handed the job back", lease.job_id)
            return "released"
        return "stale"

    def _publish(self, run: _Running) -> bool:
        """Send the job's latest note if it is new; False if the lease is lost."""
        text = run.job.latest_note()
        if text is None or text == run.sent_note:
            return True
        try:
            if not self.q.progress(run.lease, text):
                return False
            run.sent_note = text
        except (redis.RedisError, protocol.FunctionsMissing) as e:
            log.warning("job %s: recording progress failed: %s; the next tick will try again", run.lease.job_id, e)
        return True

    def _retry(self, job_id: str, what: str, f: Callable[[], Any], budget_s: float = 600.0) -> Any:
        """Call ``f`` until it answers, retrying Redis outages with capped
        backoff (each logged) for up to ``budget_s``; None if it never did.
        Runs on a job's thread, never holding up the control thread's
        renewals (but for a malformed job's short one)."""
        delay, start = 0.1, time.monotonic()
        while True:
            try:
                return f()
            except (redis.ConnectionError, redis.TimeoutError, protocol.FunctionsMissing) as e:
                if time.monotonic() - start > budget_s:
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
    p = _dict(job.payload)
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
