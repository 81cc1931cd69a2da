#!/usr/bin/env bash
# Idle CPU of a concierge-server: starts it with the embedded defaults (SQLite in a temporary
# directory, 4 job workers, no traffic), waits for it to settle, and prints the CPU time it used
# over IDLE_SECONDS as a percentage of one core.
#
#   adapter-server/bench/idle.sh [path/to/concierge-server]   # default: target/release
#   IDLE_SECONDS=60 adapter-server/bench/idle.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "${1:-target/release/concierge-server}")
[ -x "$bin" ] || { cargo build --release -p concierge-server; bin=$(realpath target/release/concierge-server); }
seconds=${IDLE_SECONDS:-30}
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
(cd "$dir" && CONCIERGE_BIND=127.0.0.1:$port exec "$bin" >server.log 2>&1) &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
sleep 5
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t0=$(ticks)
sleep "$seconds"
t1=$(ticks)
hz=$(getconf CLK_TCK)
awk -v t="$((t1 - t0))" -v hz="$hz" -v s="$seconds" \
  'BEGIN { printf "idle CPU: %.2f%% of one core (%d ms over %d s)\n", 100 * t / hz / s, 1000 * t / hz, s }'
