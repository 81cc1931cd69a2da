#!/usr/bin/env bash
# Server benchmarks against PostgreSQL, all in one run on one throwaway cluster:
#   1. pgbench: bare single-row INSERT transactions per second (the baseline);
#   2. the release concierge-server on that cluster, driven by examples/loadgen.rs:
#      a. idle RSS;
#      b. ingress req/s and p50/p99 ack latency on an ingress-only replica
#         (CONCIERGE_WORKERS=0), as deployments with separate ingress replicas run it;
#      c. a full server drains that backlog (end-to-end rate, RSS with one session per
#         customer), then ack → outbound request at a Graph fake at half the end-to-end rate;
#      d. ingress again while that process also runs the turns ("busy").
#
#   adapter-server/bench/ingress.sh                 # defaults below
#   REQUESTS=20000 CONCURRENCY=32 BENCH_SECONDS=30 adapter-server/bench/ingress.sh
#   INGRESS_ONLY=1 adapter-server/bench/ingress.sh  # pgbench and 2b only (a quick A/B)
#   SERVER_BIN=/path/to/concierge-server ...        # measure another build of the server
#
# The cluster keeps PostgreSQL's default durability (fsync on, synchronous_commit on), the
# same for pgbench and the server. Figures go to docs/benchmarks.md ("Server").
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

REQUESTS=${REQUESTS:-20000}
CONCURRENCY=${CONCURRENCY:-32}
SECONDS_MAX=${BENCH_SECONDS:-30}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-15}
LATENCY_SECONDS=${LATENCY_SECONDS:-15}
WORKERS=${WORKERS:-4}

find_bin() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
    done
    return 1
}
PGBIN="$(find_bin || true)"
if [ -z "$PGBIN" ]; then
    echo "bench: installing PostgreSQL (apt-get)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    PGBIN="$(find_bin)"
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
as_pg() { if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

echo "==> building (release)" >&2
nice -n 19 cargo build --release -q -p concierge-server --bin concierge-server --example loadgen
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
server_bin="${SERVER_BIN:-$target/release/concierge-server}"
loadgen_bin="$target/release/examples/loadgen"

PGDIR="$(mktemp -d /tmp/concierge-bench-pg.XXXXXX)"
[ "$(id -u)" = "0" ] && chown postgres:postgres "$PGDIR"
PGPORT=$(free_port)
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$PGDIR"
}
trap cleanup EXIT

echo "==> PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT (default durability)" >&2
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U postgres >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -w -l "$PGDIR/log" \
    -o "-k $PGDIR -p $PGPORT -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
psql() { "$PGBIN/psql" -q -h 127.0.0.1 -p "$PGPORT" -U postgres "$@"; }
psql -c "CREATE DATABASE pgbench" -c "CREATE DATABASE concierge"

echo "==> pgbench: single-row INSERT, $CONCURRENCY clients, ${PGBENCH_SECONDS}s" >&2
psql -d pgbench -c "CREATE TABLE ingress (id bigserial PRIMARY KEY, idem_key text UNIQUE, payload text NOT NULL)"
cat > "$PGDIR/insert.sql" <<'SQL'
INSERT INTO ingress (idem_key, payload) VALUES (md5(random()::text || clock_timestamp()::text), repeat('x', 600));
SQL
pgbench_out=$("$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -n -c "$CONCURRENCY" -j 2 \
    -T "$PGBENCH_SECONDS" -r -f "$PGDIR/insert.sql" pgbench 2>&1)
pgbench_tps=$(echo "$pgbench_out" | awk '/^tps/ {print $3; exit}')
pgbench_lat=$(echo "$pgbench_out" | awk '/latency average/ {print $4; exit}')
echo "pgbench_tps=$pgbench_tps"
echo "pgbench_latency_avg_ms=$pgbench_lat"

SERVER_PORT=$(free_port)
GRAPH_PORT=$(free_port)
ADMIN=bench-admin-token-0123456789
SECRET=bench-app-secret
# start_server WORKERS: the release server on the cluster (WORKERS=0: an ingress-only replica).
start_server() {
    env -i PATH="$PATH" RUST_LOG=warn \
        DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/concierge" \
        CONCIERGE_BIND="127.0.0.1:$SERVER_PORT" \
        CONCIERGE_ADMIN_TOKEN="$ADMIN" WHATSAPP_APP_SECRET="$SECRET" \
        ENCRYPTION_KEY="$(printf '33%.0s' $(seq 32))" \
        CONCIERGE_GRAPH_API_URL="http://127.0.0.1:$GRAPH_PORT" \
        CONCIERGE_INJECTION_SCAN=0 CONCIERGE_WORKERS="$1" \
        "$server_bin" >> "$PGDIR/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        curl -fsS "http://127.0.0.1:$SERVER_PORT/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "bench: the server did not start" >&2; cat "$PGDIR/server.log" >&2; exit 1
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }
loadgen() {
    "$loadgen_bin" --base "http://127.0.0.1:$SERVER_PORT" --pid "$SERVER_PID" \
        --admin-token "$ADMIN" --app-secret "$SECRET" --graph-port "$GRAPH_PORT" \
        --requests "$REQUESTS" --concurrency "$CONCURRENCY" --seconds "$SECONDS_MAX" \
        --latency-seconds "$LATENCY_SECONDS" "$@"
}

echo "==> idle RSS of concierge-server (release, $WORKERS workers)" >&2
start_server "$WORKERS"
sleep 1
echo "rss_idle_kib=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status")"
stop_server

echo "==> ingress: an ingress-only replica (CONCIERGE_WORKERS=0); $REQUESTS webhooks max, $CONCURRENCY in flight, ${SECONDS_MAX}s max" >&2
start_server 0
loadgen --phases ingress --run 1 | grep -v '^rss_idle' | tee "$PGDIR/ingress.out"
requests=$(awk -F= '/^ingress_requests=/ {print $2}' "$PGDIR/ingress.out")
stop_server
if [ "${INGRESS_ONLY:-0}" = "1" ]; then
    rps=$(awk -F= '/^ingress_rps=/ {print $2}' "$PGDIR/ingress.out")
    python3 -c "print('ingress_vs_pgbench=%.2f' % ($rps / $pgbench_tps))"
    exit 0
fi

echo "==> drain: $WORKERS workers run the $requests stored turns; then ack -> outbound" >&2
start_server "$WORKERS"
loadgen --phases drain,latency --run 2 --customers "$requests" | grep -v '^rss_idle'

echo "==> ingress while the same process runs turns ($WORKERS workers)" >&2
loadgen --phases ingress --run 3 | grep -v '^rss_idle' | sed 's/^ingress_/busy_ingress_/' | tee "$PGDIR/busy.out"

rps=$(awk -F= '/^ingress_rps=/ {print $2}' "$PGDIR/ingress.out")
busy=$(awk -F= '/^busy_ingress_rps=/ {print $2}' "$PGDIR/busy.out")
python3 -c "print('ingress_vs_pgbench=%.2f' % ($rps / $pgbench_tps)); print('busy_ingress_vs_pgbench=%.2f' % ($busy / $pgbench_tps))"
echo "machine: $(nproc) CPUs, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo) RAM, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
