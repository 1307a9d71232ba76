"""Fixtures: the test Redis of scripts/test.sh (REDIS_URL), a key prefix
per test, and the queue functions loaded there (by `nas migrate-keys`,
the Rust binary at $NAS_BIN, when no Rust test has loaded them yet)."""
import itertools
import os
import subprocess

import pytest
import redis

from nas_worker import protocol

_n = itertools.count()


@pytest.fixture
def redis_url():
    url = os.environ.get("REDIS_URL")
    assert url, "REDIS_URL is not set: run the tests through scripts/test.sh, which starts a private redis-server"
    return url


@pytest.fixture
def queue(redis_url):
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    prefix = f"pytest-{os.getpid()}-{next(_n)}"
    q = protocol.QueueClient(client, prefix)
    try:
        q.check_functions()
    except protocol.FunctionsMissing:
        nas = os.environ.get("NAS_BIN")
        assert nas, "the queue functions are not loaded and NAS_BIN is not set: run through scripts/test.sh"
        subprocess.run([nas, "migrate-keys", "--redis", redis_url, "--prefix", prefix], check=True)
        q.check_functions()
    yield q
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
