#!/usr/bin/env bash
# A throw-away PostgreSQL server for development and the tests, on loopback only.
#
#   bash scripts/pg-dev.sh start   # initdb + start (idempotent); prints the superuser URL
#   bash scripts/pg-dev.sh url     # the superuser URL of the running server
#   bash scripts/pg-dev.sh stop    # stop it and delete its data
#
# Then e.g. `export NURSESTATION_TEST_PG_URL=$(bash scripts/pg-dev.sh url)` for the tests
# (tests/pg_support.py) or `nursestation --db "$(bash scripts/pg-dev.sh url)"` to try the app.
# Needs Debian's `postgresql` package (`bash scripts/system-deps.sh --with-postgresql`).
#
# The cluster lives in $NURSESTATION_PG_DIR (default /tmp/nursestation-pg-$USER), listens on
# 127.0.0.1 at a free port (or $NURSESTATION_PG_PORT) and on a Unix socket inside that directory,
# and has a random superuser password. It runs without fsync: it is for tests, its data may be lost
# in a crash. initdb refuses to run as root, so as root the server runs as the `postgres` user
# the Debian package creates.
set -euo pipefail

DIR="${NURSESTATION_PG_DIR:-/tmp/nursestation-pg-$(id -un)}"
DATA="$DIR/data"

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
    echo "pg-dev: no PostgreSQL server installed (bash scripts/system-deps.sh --with-postgresql)" >&2
    exit 1
  fi
  echo "$d"
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

url() {
  [ -f "$DIR/port" ] || { echo "pg-dev: no server in $DIR (bash scripts/pg-dev.sh start)" >&2; exit 1; }
  echo "postgresql://postgres:$(cat "$DIR/password")@127.0.0.1:$(cat "$DIR/port")/postgres"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local bin port
  bin=$(bindir)
  if [ -f "$DATA/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    url
    return
  fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    mkdir -p "$DIR"
    chmod 0700 "$DIR"
    # A random superuser password, readable by whoever started the server (and its owner).
    head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/password"
    chmod 0600 "$DIR/password"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$DIR"; fi
    cp "$DIR/password" "$DIR/pwfile"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$DIR/pwfile"; fi
    as_owner "$bin/initdb" -D "$DATA" -U postgres --pwfile="$DIR/pwfile" \
      --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$DIR/pwfile"
    port="${NURSESTATION_PG_PORT:-$(free_port)}"
    # Test settings: loopback only, no durability (throw-away data), room for the tests'
    # connection pools.
    as_owner tee -a "$DATA/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$DIR'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    echo "$port" >"$DIR/port"
  fi
  as_owner "$bin/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 start >/dev/null
  url
}

stop() {
  local bin
  bin=$(bindir)
  if [ -f "$DATA/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) url ;;
  *) echo "usage: bash scripts/pg-dev.sh start|stop|url" >&2; exit 2 ;;
esac
