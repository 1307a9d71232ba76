#!/bin/sh
# Entrypoint of the stack's Redis container: render the ACL file from the
# role passwords in the environment (render-acl.sh), then hand over to the
# redis image's own entrypoint, which makes /data the redis user's and drops
# root (when started as root), with the stack's redis.conf, the data and ACL
# file in /data (the volume), and any extra arguments (--maxmemory).
set -eu
sh /etc/nas/redis/render-acl.sh /data/users.acl
exec docker-entrypoint.sh redis-server /etc/nas/redis/redis.conf \
  --dir /data --aclfile /data/users.acl "$@"
