#!/bin/sh
# Entrypoint of mve-local/redis, shaped like the official redis image's: arguments that start with `-`
# or name a .conf file go to redis-server. Without a config file Redis would refuse remote clients
# (protected mode); the official image turns that off, and so does this one.
set -eu
if [ $# -eq 0 ] || [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ]; then
  shift
  set -- redis-server --protected-mode no "$@"
fi
exec "$@"
