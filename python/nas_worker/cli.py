"""``nas-worker``: run a user's ``evaluate`` function as a trainer of the
nas queue until SIGTERM or SIGINT, then drain as the Rust trainer does."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from typing import List, Optional

import redis

from . import protocol
from .worker import Worker, WorkerConfig, load_entry

log = logging.getLogger("nas_worker")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="nas-worker",
        description="Run your own evaluate(job) -> metrics function as a trainer of a nas search fleet.",
    )
    env = os.environ
    p.add_argument("--redis", default=env.get("NAS_REDIS_URL") or env.get("REDIS_URL") or "redis://127.0.0.1:6379",
                   help="Redis URL, redis:// or rediss://, with an ACL user if any (env NAS_REDIS_URL or REDIS_URL, as nas)")
    p.add_argument("--password-file", default=env.get("NAS_REDIS_PASSWORD_FILE"),
                   help="read the Redis password from this file, keeping it off the command line (env NAS_REDIS_PASSWORD_FILE)")
    p.add_argument("--ca-file", help="PEM CA certificate to trust for rediss://")
    p.add_argument("--prefix", default=os.environ.get("NAS_PREFIX", "nas"), help="the deployment's key prefix")
    p.add_argument("--entry", required=True, help="your function, as module.path:function")
    p.add_argument("--slots", type=int, default=1, help="jobs run at once (one per GPU, typically)")
    p.add_argument("--worker-id", help="this worker's name (default: <host>-<pid>)")
    p.add_argument("--lease-s", type=float, default=30.0, help="lease length, renewed every third of it")
    p.add_argument("--grace-s", type=float, default=0.0,
                   help="on SIGTERM, running jobs may finish for this long; the rest are handed back")
    p.add_argument("--max-attempts", type=int, default=3, help="attempts before a failing job is dead-lettered")
    p.add_argument("--backoff-ms", type=int, default=500,
                   help="a failed job's first retry waits about this long, doubling per attempt up to 60 s")
    p.add_argument("--builtin", action="store_true",
                   help="also take the builtin evaluators' jobs (table lookups, noop), which your function then sees")
    p.add_argument("--connect-timeout-s", type=float, default=60.0,
                   help="how long to wait for Redis and for the scheduler to load the queue functions")
    p.add_argument("--log-level", default=os.environ.get("NAS_LOG", "info"))
    args = p.parse_args(argv)
    if args.slots < 1:
        p.error("--slots must be at least 1")
    if args.lease_s < 0.05:
        p.error("--lease-s must be at least 0.05")
    if args.grace_s < 0 or args.max_attempts < 1 or args.backoff_ms < 0:
        p.error("--grace-s and --backoff-ms must be >= 0, --max-attempts >= 1")
    return args


def connect(args: argparse.Namespace) -> "redis.Redis":
    """A client for ``--redis``, with timeouts shorter than a renewal period
    so that a cut-off Redis fails a call instead of hanging the worker."""
    kw = {}
    if args.password_file:
        with open(args.password_file, encoding="utf-8") as f:
            kw["password"] = f.read().strip()
    if args.ca_file:
        kw["ssl_ca_certs"] = args.ca_file
    timeout = max(0.05, min(5.0, args.lease_s / 3))
    return redis.Redis.from_url(args.redis, socket_timeout=timeout, socket_connect_timeout=5.0, **kw)


def wait_for_functions(client: "redis.Redis", prefix: str, give_up_s: float, stop: threading.Event) -> bool:
    """Wait (logging each try) until Redis is up and holds the queue
    functions; raise on another version or when ``give_up_s`` has passed.
    False if ``stop`` was set meanwhile."""
    q = protocol.QueueClient(client, prefix)
    start, delay = time.monotonic(), 0.2
    while True:
        try:
            q.check_functions()
            return True
        except (protocol.FunctionsMissing, redis.ConnectionError, redis.TimeoutError) as e:
            if time.monotonic() - start + delay > give_up_s:
                raise
            what = ("the nasq queue functions are not loaded yet (the scheduler loads them)"
                    if isinstance(e, protocol.FunctionsMissing) else f"redis unreachable: {e}")
            log.warning("%s; retrying in %.1f s", what, delay)
            if stop.wait(delay):
                return False
            delay = min(delay * 2, 5.0)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        evaluate = load_entry(args.entry)
    except ValueError as e:
        log.error("%s", e)
        return 2
    config = WorkerConfig(
        slots=args.slots,
        prefix=args.prefix,
        lease_s=args.lease_s,
        grace_s=args.grace_s,
        max_attempts=args.max_attempts,
        backoff_base_s=args.backoff_ms / 1000,
        pools=("python", "builtin") if args.builtin else ("python",),
        entry=args.entry,
    )
    if args.worker_id:
        config.worker_id = args.worker_id
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        client = connect(args)
        if not wait_for_functions(client, args.prefix, args.connect_timeout_s, stop):
            return 0
        report = Worker(client, evaluate, config).run(stop)
    except protocol.FunctionsVersionError as e:
        log.error("%s", e)
        return 2
    except (protocol.FunctionsMissing, redis.RedisError, OSError) as e:
        log.error("cannot serve the queue at %s: %s", _shown(args.redis), e)
        return 1
    log.info("completed %d, failed %d, handed back %d, lost %d", report.completed, report.failed, report.released, report.stale)
    return 0


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    u = urlsplit(url)
    if u.password is None:
        return url
    netloc = u.netloc.replace(f":{u.password}@", ":***@")
    return urlunsplit((u.scheme, netloc, u.path, u.query, u.fragment))


if __name__ == "__main__":
    sys.exit(main())
