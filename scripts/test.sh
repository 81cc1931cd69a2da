#!/usr/bin/env bash
# Runs every check and test of the workspace, installing what it needs first.
# This is the README's test command, and what .ci/run runs on a clean clone.
#
#   ./scripts/test.sh            everything
#   FUZZ_SECONDS=60 ./scripts/test.sh   longer fuzz smoke (default 20 s per target)
#   SKIP_CLOUDFLARE=1 ./scripts/test.sh skip the Worker's tests on local workerd (they install
#                                       worker-build + wasm-bindgen-cli once: ~20 min cold)
#   LOCAL_MODEL=1 ./scripts/test.sh     also the offline model (builds candle; uses the GGUF of run-demo.sh)
# Tools built once (cargo-fuzz, worker-build, wasm-bindgen-cli) live in $CONCIERGE_TOOLS_DIR,
# default ~/.cache/concierge-tools, so later runs on the same machine reuse them.
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
logs=$(mktemp -d)
adapter-server/scripts/with-postgres.sh cargo nextest run --workspace --no-fail-fast 2>&1 | tee "$logs/nextest"
cargo test --workspace --doc 2>&1 | tee "$logs/doc"
passed=$(grep -Eo '[0-9]+ tests run: [0-9]+ passed' "$logs/nextest" | tail -1 | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+')
doc_passed=$(grep -Eo 'test result: ok\. [0-9]+ passed' "$logs/doc" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')

step "Cloudflare Worker: clippy for wasm32 (-D warnings), then its tests on local workerd"
cargo clippy -p concierge-cloudflare --target wasm32-unknown-unknown -- -D warnings
cf_passed=0
if [ "${SKIP_CLOUDFLARE:-0}" = 1 ]; then
  echo "skipped (SKIP_CLOUDFLARE=1)"
else
  "$root/adapter-cloudflare/test.sh" 2>&1 | tee "$logs/cloudflare"
  cf_passed=$(grep -Eo '^[0-9]+ passed, 0 failed' "$logs/cloudflare" | tail -1 | grep -Eo '^[0-9]+')
fi

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

# One closing line for the whole run (every failure above has already stopped the script).
echo "tests: $((passed + doc_passed + cf_passed)) passed, 0 failed"
