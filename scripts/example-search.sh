#!/usr/bin/env bash
# A worked example of nas as a batch system, driven from a shell script:
# start Redis, two trainers and a scheduler (scripts/cluster.sh), submit a
# search, wait for it, print its results, stop the cluster.
#
#   scripts/example-search.sh [SPEC]     (default examples/evolution-nb201.toml)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
# shellcheck source=scripts/steps.sh
source "$here/steps.sh"
spec="${1:-$root/examples/evolution-nb201.toml}"
export NAS_CLUSTER_DIR="${NAS_CLUSTER_DIR:-$(mktemp -d -t nas-example.XXXXXX)}"

"$here/cluster.sh" start 2 2
trap '"$here/cluster.sh" stop' EXIT
eval "$("$here/cluster.sh" env)"
# shellcheck source=scripts/env.sh
source "$here/env.sh"
nas="$CARGO_TARGET_DIR/release/nas"

step "submitting $spec" "the cluster's logs are in $NAS_CLUSTER_DIR/logs"
id=$("$nas" submit "$spec")
echo "submitted $id" >&2
while :; do
  state=$("$nas" status "$id" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["searches"][0]["state"]["status"])')
  case "$state" in
    running) sleep 1 ;;
    done) break ;;
    *) die "search $id ended as: $state" ;;
  esac
done
"$nas" status "$id"
echo "--- results ($NAS_CLUSTER_DIR/results/$id/evaluations.jsonl) ---"
# Into a file first: `nas results | head` would end nas with a broken pipe,
# which pipefail turns into this script's failure.
"$nas" results "$id" --format csv >"$NAS_CLUSTER_DIR/results.csv"
sed -n '1,6p' "$NAS_CLUSTER_DIR/results.csv"
echo "... $(($(wc -l <"$NAS_CLUSTER_DIR/results.csv") - 1)) evaluations"
