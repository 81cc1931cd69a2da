#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster:
#   adapter-server/scripts/with-postgres.sh cargo test -p concierge-server
# Installs PostgreSQL with apt-get if it is missing, starts a cluster in a temp dir on a free
# port (as user `postgres` when run as root: initdb refuses root), exports
# CONCIERGE_TEST_DATABASE_URL, runs the command, and stops and removes the cluster.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi

find_bin() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

PGBIN="$(find_bin || true)"
if [ -z "$PGBIN" ]; then
    echo "with-postgres: installing PostgreSQL (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq postgresql >/dev/null
    PGBIN="$(find_bin)"
fi

PGDIR="$(mktemp -d /tmp/concierge-pg.XXXXXX)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"

as_pg() {
    if [ "$(id -u)" = "0" ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if [ "$(id -u)" = "0" ]; then
    chown postgres:postgres "$PGDIR"
fi

cleanup() {
    as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PGDIR"
}
trap cleanup EXIT

as_pg "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U postgres >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -w -l "$PGDIR/log" \
    -o "-k $PGDIR -p $PORT -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null

export CONCIERGE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
echo "with-postgres: PostgreSQL ($PGBIN) on 127.0.0.1:$PORT" >&2

set +e
"$@"
status=$?
set -e
exit "$status"
