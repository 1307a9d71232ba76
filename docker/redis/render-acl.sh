#!/bin/sh
# Render the Redis ACL file of the nas stack from users.acl.in (beside this
# script) and the role passwords in the environment:
#   NAS_REDIS_ADMIN_PASSWORD, NAS_REDIS_SCHEDULER_PASSWORD,
#   NAS_REDIS_TRAINER_PASSWORD, NAS_REDIS_SURROGATE_PASSWORD
#   NAS_PREFIX   the key prefix the roles may touch (default nas)
#
#   render-acl.sh OUT [REDIS_SERVER]
#
# Only the passwords' SHA-256 hashes are written, to OUT (mode 600).
# Passwords must be 16+ characters of A-Z a-z 0-9 . _ ~ - (they go into
# redis:// URLs unescaped), and not the placeholders of .env.example.
# REDIS_SERVER (default redis-server) is asked its version, to grant
# CLIENT SETINFO where it exists (7.2+). The compose stack, the Kubernetes
# manifests and tests/stack.rs all render through this script.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: render-acl.sh OUT [REDIS_SERVER]}
server=${2:-redis-server}
prefix=${NAS_PREFIX:-nas}

fail() {
  echo "render-acl: $*" >&2
  exit 1
}

case $prefix in
  '' | *[!A-Za-z0-9_.-]*) fail "NAS_PREFIX '$prefix' must be letters, digits, '.', '_' or '-'" ;;
esac

# The SHA-256 of the password in the variable named $1, checked first.
hash() {
  eval "pw=\${$1:-}"
  [ -n "$pw" ] || fail "$1 is not set (see docker/.env.example)"
  case $pw in
    *[!A-Za-z0-9._~-]*) fail "$1 may hold only A-Z a-z 0-9 . _ ~ - (it goes into a redis:// URL)" ;;
    change-me*) fail "$1 is still the placeholder of .env.example; generate one: openssl rand -hex 24" ;;
  esac
  [ "${#pw}" -ge 16 ] || fail "$1 must be at least 16 characters"
  printf '%s' "$pw" | sha256sum | cut -d ' ' -f 1
}

admin=$(hash NAS_REDIS_ADMIN_PASSWORD)
scheduler=$(hash NAS_REDIS_SCHEDULER_PASSWORD)
trainer=$(hash NAS_REDIS_TRAINER_PASSWORD)
surrogate=$(hash NAS_REDIS_SURROGATE_PASSWORD)

# "Redis server v=7.4.2 sha=..." -> major 7, minor 4
version=$("$server" --version | sed -n 's/.*v=\([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p')
[ -n "$version" ] || fail "cannot tell the version of $server"
major=${version%.*}
minor=${version#*.}
setinfo=
if [ "$major" -gt 7 ] || { [ "$major" -eq 7 ] && [ "$minor" -ge 2 ]; }; then
  setinfo='+client|setinfo'
fi

tmp="$out.tmp.$$"
umask 077
sed -e '/^#/d' -e '/^[[:space:]]*$/d' \
  -e "s/@ADMIN_HASH@/$admin/" \
  -e "s/@SCHEDULER_HASH@/$scheduler/" \
  -e "s/@TRAINER_HASH@/$trainer/" \
  -e "s/@SURROGATE_HASH@/$surrogate/" \
  -e "s/@PREFIX@/$prefix/g" \
  -e "s/ @SETINFO@/${setinfo:+ $setinfo}/" \
  "$here/users.acl.in" >"$tmp"
mv "$tmp" "$out"
echo "render-acl: wrote $out (users admin, scheduler, trainer, surrogate; keys $prefix:*)" >&2
