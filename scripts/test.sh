#!/usr/bin/env bash
# The project's test command (the README's second command; .ci/run calls it):
# runs setup, starts a private redis-server on a free loopback port for the
# run (REDIS_URL is exported to the tests), runs the workspace's tests, and
# stops redis afterwards, also on failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
# shellcheck source=scripts/steps.sh
source "$here/steps.sh"
step "installing what the tests need (scripts/setup.sh)" "see setup's message above"
"$here/setup.sh"
# shellcheck source=scripts/env.sh
source "$here/env.sh"

workdir=$(mktemp -d -t nas-test.XXXXXX)
redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT INT TERM

step "starting a private redis-server" "see redis-server's log above; is the redis-server package installed (scripts/setup.sh)?"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
redis-server --bind 127.0.0.1 --port "$port" --dir "$workdir" --save "" --appendonly no \
  --daemonize no --loglevel warning >"$workdir/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 1 100); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
if ! redis-cli -p "$port" ping >/dev/null; then
  cat "$workdir/redis.log" >&2
  die "redis-server did not start on port $port"
fi
export REDIS_URL="redis://127.0.0.1:$port/"
say "redis-server on $REDIS_URL, cargo target dir $CARGO_TARGET_DIR"

cd "$root"
step "running the tests" "the failing tests are named above; 'cargo test --workspace --locked NAME' reruns one (with REDIS_URL set)"
cargo test --workspace --locked "$@"

# The Python trainer's own tests (python/tests), on the same Redis; NAS_BIN
# loads the queue functions there if no Rust test has. Skipped when cargo was
# given a filter or a single target, which names Rust tests only.
if [ $# -eq 0 ] || [ "$*" = "--no-fail-fast" ]; then
  step "running the Python tests (python/tests)" \
    "the failing tests are named above; '$NAS_VENV/bin/python -m pytest python/tests' reruns them (with REDIS_URL set)"
  NAS_BIN="$CARGO_TARGET_DIR/debug/nas" "$NAS_VENV/bin/python" -m pytest -q -p no:cacheprovider python/tests
fi
