#!/usr/bin/env bash
# Runs every check and test of the workspace, installing what it needs first.
# This is the README's test command, and what .ci/run runs on a clean clone.
#
#   ./scripts/test.sh            everything
#   FUZZ_SECONDS=60 ./scripts/test.sh   longer fuzz smoke (default 20 s per target)
#   LOCAL_MODEL=1 ./scripts/test.sh     also the offline model (builds candle; uses the GGUF of run-demo.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

step "format"
cargo fmt --all -- --check

step "clippy (native, all targets, -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p concierge-core --all-targets --features testing -- -D warnings

step "concierge-core builds for wasm32-unknown-unknown (clippy -D warnings)"
cargo clippy -p concierge-core --target wasm32-unknown-unknown -- -D warnings
cargo build -p concierge-core --target wasm32-unknown-unknown

step "concierge-core depends on no runtime, HTTP or SQL crate"
forbidden='^(tokio|axum|sqlx|reqwest|hyper|worker)$'
for target in x86_64-unknown-linux-gnu wasm32-unknown-unknown; do
  found=$(cargo tree -p concierge-core -e normal --target "$target" --prefix none --format '{p}' \
    | awk '{print $1}' | sort -u | grep -E "$forbidden" || true)
  if [ -n "$found" ]; then
    echo "concierge-core pulls in: $found ($target)" >&2
    exit 1
  fi
done

step "tests (the server's run against SQLite and a throwaway PostgreSQL)"
adapter-server/scripts/with-postgres.sh cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc

if [ "${LOCAL_MODEL:-0}" = 1 ]; then
  # Optional (LOCAL_MODEL=1 ./scripts/test.sh): the offline model builds candle, ~10 minutes.
  step "offline model: concierge-server --features local-model (clippy, tests)"
  cargo clippy -p concierge-server --all-targets --features local-model -- -D warnings
  gguf="$root/.tools/models/SmolLM2-135M-Instruct.Q4_1.gguf"
  if [ -s "$gguf" ]; then export CONCIERGE_TEST_LOCAL_MODEL="$gguf"; fi
  CANDLE_NUM_THREADS=1 cargo test -p concierge-server --features local-model --lib ai::
fi

step "fuzz smoke"
"$root/scripts/fuzz-smoke.sh" "${FUZZ_SECONDS:-20}"
