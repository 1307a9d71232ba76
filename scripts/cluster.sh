#!/usr/bin/env bash
# A local nas cluster as processes: the same topology as the docker-compose
# stack (Redis with an append-only file, a scheduler, a surrogate replica,
# the dashboard, N trainers), for one machine or CI.
#
#   scripts/cluster.sh start [TRAINERS] [SLOTS]   start (default 2 trainers x 1 slot)
#   scripts/cluster.sh status                     what runs, and `nas status`
#   scripts/cluster.sh stop                       SIGTERM everything, wait
#   scripts/cluster.sh env                        print the exports that point nas at it
#
# State (pids, logs, Redis data, results, the trainers' job checkpoints)
# lives in $NAS_CLUSTER_DIR
# (default ./cluster); Redis listens on 127.0.0.1:$NAS_CLUSTER_PORT (6399),
# the dashboard on 127.0.0.1:$NAS_DASHBOARD_PORT (8080).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/steps.sh
source "$here/steps.sh"
# The daemons need libtorch's lib folder (LD_LIBRARY_PATH) from here.
# shellcheck source=scripts/env.sh
source "$here/env.sh"
dir="${NAS_CLUSTER_DIR:-$PWD/cluster}"
port="${NAS_CLUSTER_PORT:-6399}"
dashboard_port="${NAS_DASHBOARD_PORT:-8080}"
url="redis://127.0.0.1:$port/"

# The release binary, after scripts/nas has installed and built what it
# needs (quiet once done).
nas_bin() {
  "$here/nas" --version >/dev/null
  echo "$CARGO_TARGET_DIR/release/nas"
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  local trainers="${1:-2}" slots="${2:-1}" nas threads
  # Share this host's cores among the trainer slots: libtorch threads that
  # outnumber the cores spin against each other and run many times slower.
  threads=$(( $(nproc) / (trainers * slots) ))
  [ "$threads" -ge 1 ] || threads=1
  step "building nas" "see the message above"
  nas=$(nas_bin)
  step "starting the cluster in $dir" "see the logs in $dir/logs"
  mkdir -p "$dir/redis" "$dir/logs" "$dir/results"
  if ! running "$dir/redis.pid"; then
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir/redis" --appendonly yes \
      --appendfsync everysec --maxmemory-policy noeviction --save "" \
      --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/logs/redis.log"
    for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$port" ping >/dev/null 2>&1 || die "redis-server did not answer on port $port (see $dir/logs/redis.log)"
  fi
  if ! running "$dir/surrogate.pid"; then
    REDIS_URL="$url" setsid "$nas" surrogate >"$dir/logs/surrogate.log" 2>&1 &
    echo $! >"$dir/surrogate.pid"
  fi
  if ! running "$dir/scheduler.pid"; then
    REDIS_URL="$url" setsid "$nas" scheduler --results-dir "$dir/results" >"$dir/logs/scheduler.log" 2>&1 &
    echo $! >"$dir/scheduler.pid"
  fi
  if ! running "$dir/dashboard.pid"; then
    REDIS_URL="$url" setsid "$nas" dashboard --listen "127.0.0.1:$dashboard_port" >"$dir/logs/dashboard.log" 2>&1 &
    echo $! >"$dir/dashboard.pid"
  fi
  for i in $(seq 1 "$trainers"); do
    if ! running "$dir/trainer$i.pid"; then
      REDIS_URL="$url" setsid "$nas" trainer --slots "$slots" --cpu-threads "$threads" --worker-id "trainer$i" --checkpoint-dir "$dir/checkpoints" >"$dir/logs/trainer$i.log" 2>&1 &
      echo $! >"$dir/trainer$i.pid"
    fi
  done
  echo "cluster: redis $url, scheduler, surrogate, $trainers trainer(s) x $slots slot(s); logs in $dir/logs" >&2
  echo "dashboard: http://127.0.0.1:$dashboard_port/ (read-only; see $dir/logs/dashboard.log)" >&2
}

stop() {
  local f
  for f in "$dir"/trainer*.pid "$dir/scheduler.pid" "$dir/surrogate.pid" "$dir/dashboard.pid"; do
    [ -f "$f" ] || continue
    if running "$f"; then kill -TERM "$(cat "$f")" 2>/dev/null || true; fi
  done
  for f in "$dir"/trainer*.pid "$dir/scheduler.pid" "$dir/surrogate.pid" "$dir/dashboard.pid"; do
    [ -f "$f" ] || continue
    for _ in $(seq 1 100); do running "$f" || break; sleep 0.1; done
    rm -f "$f"
  done
  if running "$dir/redis.pid"; then
    redis-cli -p "$port" shutdown >/dev/null 2>&1 || kill -TERM "$(cat "$dir/redis.pid")"
  fi
  rm -f "$dir/redis.pid"
  echo "cluster: stopped" >&2
}

status() {
  local f
  for f in "$dir"/*.pid; do
    [ -f "$f" ] || continue
    if running "$f"; then echo "$(basename "$f" .pid): running (pid $(cat "$f"))"; else echo "$(basename "$f" .pid): not running"; fi
  done
  REDIS_URL="$url" "$(nas_bin)" status
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  status) status ;;
  env) echo "export REDIS_URL=$url" ;;
  *) echo "usage: $0 start [TRAINERS] [SLOTS] | status | stop | env" >&2; exit 2 ;;
esac
