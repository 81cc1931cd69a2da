#!/usr/bin/env bash
# The Worker's tests on the real Workers runtime: installs what is missing (worker-build,
# wasm-bindgen-cli, wrangler, binaryen), builds the Worker, and runs tests/e2e.mjs, which
# starts `wrangler dev --local` with local fakes of Graph, Discord and an OpenAI-compatible
# model. Prints "N passed, N failed" last; exits non-zero on any failure.
#   SKIP_BUILD=1 ./test.sh    reuse build/ from an earlier build
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
if [ "${SKIP_BUILD:-}" = 1 ] && [ -f build/index.js ]; then
  ./tools.sh
else
  ./build.sh
fi
wasm=build/index_bg.wasm
echo "bundle: $(wc -c <"$wasm") B wasm, $(gzip -9c "$wasm" | wc -c) B wasm gzip, $(gzip -9c build/index.js | wc -c) B JS gzip"
exec node tests/e2e.mjs
