#!/usr/bin/env bash
# The newcomer's path, checked on every CI run (.ci/run runs it before the
# tests): in a shell with nothing of ours in its environment and NAS_CACHE at
# an empty temporary folder, run scripts/setup.sh, then the README's entry
# point scripts/nas (first build into that fresh cache, then a second run
# that must be quiet), and check that the binary loads libtorch from the
# fresh venv. Only the package managers' own caches (apt's, pip's, cargo's
# registry) are shared with this machine, as a newcomer's would be.
# It fails, with a message, if any step fails or prints nothing while failing.
#
#   scripts/check-fresh.sh            (keeps nothing: the folder is removed)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/steps.sh
source "$here/steps.sh"

fresh=$(mktemp -d -t nas-fresh.XXXXXX)
trap 'rm -rf "$fresh"' EXIT
cache="$fresh/cache"
newcomer=(env -i "HOME=$HOME" "PATH=$PATH" "TERM=${TERM:-dumb}" "NAS_CACHE=$cache")

# Runs a stage as a newcomer, its output shown and kept in $fresh/NAME.log;
# a non-zero exit with no output at all is named as the silent failure it is.
stage() {
  local name=$1 start=$SECONDS status=0
  shift
  step "$name" "the stage's own message above says what failed"
  say "--- $name"
  "${newcomer[@]}" "$@" >"$fresh/$name.log" 2>&1 || status=$?
  cat "$fresh/$name.log" >&2
  if [ "$status" -ne 0 ]; then
    [ -s "$fresh/$name.log" ] || die "$name exited with status $status and printed nothing"
    die "$name exited with status $status"
  fi
  say "--- $name: ok in $((SECONDS - start)) s"
}

stage setup bash "$here/setup.sh"
libtorch=$("${newcomer[@]}" bash -c "set -euo pipefail; source '$here/env.sh'; printf %s \"\$LIBTORCH\"")
case $libtorch in
  "$cache"/venv/lib/python3*/site-packages/torch) ;;
  *) die "env.sh resolves LIBTORCH to $libtorch, not into the fresh venv under $cache" ;;
esac
[ -f "$libtorch/lib/libtorch_cpu.so" ] || die "the fresh venv has no libtorch at $libtorch/lib"

stage first-run bash "$here/nas" --version
grep -q "building nas in release mode" "$fresh/first-run.log" \
  || die "the first run of scripts/nas did not say that it builds nas"
stage second-run bash "$here/nas" space list
"${newcomer[@]}" bash -c "source '$here/env.sh' && \"\$CARGO_TARGET_DIR/release/nas\" space list" >"$fresh/direct.log" 2>&1
diff "$fresh/direct.log" "$fresh/second-run.log" >&2 \
  || die "the second run of scripts/nas printed more than nas's own output (the diff above)"
# The binary must load libtorch from the fresh venv, and run a network on it.
stage libtorch bash -c "source '$here/env.sh' && ldd \"\$CARGO_TARGET_DIR/release/nas\" | grep 'libtorch_cpu' && \"\$CARGO_TARGET_DIR/release/nas\" arch params --space nb201 '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'"
grep -q "$libtorch/lib/libtorch_cpu.so" "$fresh/libtorch.log" \
  || die "the fresh build does not load libtorch_cpu.so from $libtorch/lib"
say "the newcomer's path works on an empty cache: setup, first build and run, quiet second run ($SECONDS s in all)"
