#!/usr/bin/env bash
# A worked example of nas as a batch system, driven from a shell script:
# start Redis, two trainers and a scheduler (scripts/cluster.sh), submit a
# search, wait for it, print its results, stop the cluster.
#
#   scripts/example-search.sh [SPEC]     (default examples/evolution-nb201.toml)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
spec="${1:-$root/examples/evolution-nb201.toml}"
export NAS_CLUSTER_DIR="${NAS_CLUSTER_DIR:-$(mktemp -d -t nas-example.XXXXXX)}"

"$here/cluster.sh" start 2 2
trap '"$here/cluster.sh" stop' EXIT
eval "$("$here/cluster.sh" env)"
# shellcheck source=scripts/env.sh
source "$here/env.sh"
nas="$CARGO_TARGET_DIR/release/nas"

id=$("$nas" submit "$spec")
echo "submitted $id" >&2
while :; do
  state=$("$nas" status "$id" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["searches"][0]["state"]["status"])')
  case "$state" in
    running) sleep 1 ;;
    done) break ;;
    *) echo "search $id ended as: $state" >&2; exit 1 ;;
  esac
done
"$nas" status "$id"
echo "--- results ($NAS_CLUSTER_DIR/results/$id/evaluations.jsonl) ---"
"$nas" results "$id" --format csv | head -n 6
echo "... $("$nas" results "$id" --format csv | tail -n +2 | wc -l) evaluations"
