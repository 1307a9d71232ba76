# shellcheck shell=bash
# Sourced by the scripts that run under `set -euo pipefail` (setup.sh, nas,
# test.sh, cluster.sh, check-fresh.sh): no script of ours exits without
# saying why. `step NAME HINT` names what the script is doing; if any
# command then fails, an ERR trap prints, on stderr, the step, the failing
# command with its line and exit status, and the hint (what to do about it)
# before the script exits with that status.
#
# Only the script's own shell reports: a failure inside a command
# substitution or a subshell is reported once, by the command that ran it.

nas_script=${nas_script:-$(basename "${BASH_SOURCE[1]:-$0}")}
nas_step="starting"
nas_hint="rerun with 'bash -x' to see each command"

# Say what the script does now, and what to do if it fails.
step() {
  nas_step=$1
  nas_hint=${2:-"rerun with 'bash -x' to see each command"}
}

# A progress line on stderr, prefixed by the script's name.
say() { printf '%s: %s\n' "$nas_script" "$*" >&2; }

# Fail on purpose: the message, the step and the hint, then exit 1.
die() {
  printf '%s: %s\n  while: %s\n  what to do: %s\n' "$nas_script" "$*" "$nas_step" "$nas_hint" >&2
  exit 1
}

nas_on_error() {
  local status=$1 command=$2 line=$3
  [ "$BASHPID" = "$$" ] || return "$status"
  printf '%s: failed while %s (exit status %s)\n  command: %s (line %s)\n  what to do: %s\n' \
    "$nas_script" "$nas_step" "$status" "$command" "$line" "$nas_hint" >&2
}

set -E
trap 'nas_on_error "$?" "$BASH_COMMAND" "$LINENO"' ERR
