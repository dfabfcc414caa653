#!/bin/sh
# Entrypoint of mve-local/mariadb. It honours the environment of the official mariadb image so that the
# harness can run either: MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD,
# MARIADB_RANDOM_ROOT_PASSWORD, MARIADB_DATABASE, MARIADB_USER, MARIADB_PASSWORD, and their MYSQL_*
# spellings. Like the official image it initialises an empty data directory once, then runs the server.
set -eu

if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then set -- mariadbd "$@"; fi
if [ "$1" != mariadbd ] && [ "$1" != mysqld ]; then exec "$@"; fi

env_or() { eval "v=\${MARIADB_$1:-\${MYSQL_$2:-}}"; printf '%s' "$v"; }
sql_str() { printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")"; }
sql_id() { printf '`%s`' "$(printf '%s' "$1" | sed -e 's/`/``/g')"; }

DATADIR=/var/lib/mysql
TEMPLATE=/var/lib/mysql-initialised
mkdir -p /run/mysqld "$DATADIR"
chown mysql:mysql /run/mysqld "$DATADIR"

if [ ! -d "$DATADIR/mysql" ]; then
  root_pw=$(env_or ROOT_PASSWORD ROOT_PASSWORD)
  allow_empty=$(env_or ALLOW_EMPTY_ROOT_PASSWORD ALLOW_EMPTY_PASSWORD)
  random_root=$(env_or RANDOM_ROOT_PASSWORD RANDOM_ROOT_PASSWORD)
  database=$(env_or DATABASE DATABASE)
  user=$(env_or USER USER)
  password=$(env_or PASSWORD PASSWORD)
  if [ -n "$random_root" ]; then
    root_pw=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
    echo "GENERATED ROOT PASSWORD: $root_pw"
  fi
  if [ -z "$root_pw" ] && [ -z "$allow_empty" ]; then
    echo "error: database is uninitialized and password option is not specified" >&2
    echo "  You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD" >&2
    exit 1
  fi
  # The image carries the system tables mariadb-install-db made when it was built (scripts/setup):
  # copying them costs a fraction of the two CPU seconds a fresh install takes, on every start of
  # every test's MariaDB.
  if [ -d "$TEMPLATE/mysql" ]; then
    cp -a "$TEMPLATE/." "$DATADIR/"
  else
    mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db \
      --auth-root-authentication-method=normal >/tmp/install-db.log 2>&1 \
      || { cat /tmp/install-db.log >&2; exit 1; }
  fi
  init=/run/mysqld/init.sql
  {
    # Like the official image: root exists only as root@localhost and root@'%' (the install also
    # made anonymous users and root at the host names of wherever it ran).
    echo "DELETE FROM mysql.global_priv WHERE NOT (Host = 'localhost' AND User IN ('root', 'mysql', 'mariadb.sys'));"
    echo "DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';"
    echo "FLUSH PRIVILEGES;"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(sql_str "$root_pw");"
    echo "CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY $(sql_str "$root_pw");"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    if [ -n "$database" ]; then echo "CREATE DATABASE IF NOT EXISTS $(sql_id "$database");"; fi
    if [ -n "$user" ]; then
      echo "CREATE USER IF NOT EXISTS $(sql_str "$user")@'%' IDENTIFIED BY $(sql_str "$password");"
      if [ -n "$database" ]; then echo "GRANT ALL ON $(sql_id "$database").* TO $(sql_str "$user")@'%';"; fi
    fi
    echo "FLUSH PRIVILEGES;"
  } > "$init"
  chown mysql:mysql "$init"
  set -- "$@" --init-file="$init"
fi

# jemalloc, not glibc's malloc: under the soak's steady load glibc's per-thread arenas kept growing
# (MariaDB's resident memory 112 -> 375 MB in 2 h on 2026-12-07, with its own Memory_used flat), which
# over 48 h is a leak in all but name. jemalloc returns freed pages; the image carries it (scripts/setup).
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[ -f "$JEMALLOC" ] || { echo "error: $JEMALLOC missing: rebuild the image with scripts/setup" >&2; exit 1; }
export LD_PRELOAD="$JEMALLOC"
exec "$@" --user=mysql --datadir="$DATADIR"
