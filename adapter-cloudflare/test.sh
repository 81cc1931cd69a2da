#!/usr/bin/env bash
# The Worker's tests on the real Workers runtime: installs what is missing (worker-build,
# wasm-bindgen-cli, wrangler, binaryen), builds the Worker, and runs
#   - tests/e2e.mjs, which starts `wrangler dev --local` with local fakes of Graph, Discord
#     and an OpenAI-compatible model;
#   - tests/store-contract.mjs, the core's store contract against the Worker's D1/KV/Durable
#     Object store (a second, test-only build with `--features store-contract` in
#     build-contract/; STORE_CONTRACT=1 ./build.sh).
# Fails when the gzipped upload (wasm + JS) is over the 1 MiB budget.
# Prints "N passed, N failed" last, the sum of both; exits non-zero on any failure.
#   SKIP_BUILD=1 ./test.sh    reuse build/ and build-contract/ from an earlier build
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
if [ "${SKIP_BUILD:-}" = 1 ] && [ -f build/index.js ]; then
  ./tools.sh
else
  ./build.sh
fi
if [ "${SKIP_BUILD:-}" != 1 ] || [ ! -f build-contract/index.js ]; then
  STORE_CONTRACT=1 ./build.sh
fi
wasm=build/index_bg.wasm
wasm_gz=$(gzip -9c "$wasm" | wc -c)
js_gz=$(gzip -9c build/index.js | wc -c)
echo "bundle: $(wc -c <"$wasm") B wasm, $wasm_gz B wasm gzip, $js_gz B JS gzip"
# The budget (docs/benchmarks.md): the upload, wasm and JS, <= 1 MB gzip in Cloudflare's unit,
# the MiB of its size-limit errors ("exceeded the size limit of 3 MiB").
budget=1048576
if [ $((wasm_gz + js_gz)) -gt "$budget" ]; then
  echo "bundle: $((wasm_gz + js_gz)) B gzip is over the budget of $budget B (docs/benchmarks.md)" >&2
  exit 1
fi
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
status=0
node tests/e2e.mjs | tee "$logs/e2e" || status=1
node tests/store-contract.mjs | tee "$logs/contract" || status=1
count() { grep -Eo '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -1 | grep -Eo '[0-9]+' | sed -n "$2p"; }
passed=$(( $(count "$logs/e2e" 1 || echo 0) + $(count "$logs/contract" 1 || echo 0) ))
failed=$(( $(count "$logs/e2e" 2 || echo 0) + $(count "$logs/contract" 2 || echo 0) ))
# A runner that died before its closing line counts as a failure too.
[ "$status" = 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "$passed passed, $failed failed"
[ "$status" = 0 ] && [ "$failed" = 0 ]
