#!/usr/bin/env bash
# Builds the Worker (release) into build/ offline: worker-build with the pinned wasm-bindgen,
# wasm-opt from npm binaryen and esbuild from wrangler. Size profile: opt-level z (OPT_LEVEL=s
# to trade size for speed), fat LTO, one codegen unit (set here so the workspace's release
# profile stays as it is).
#   STORE_CONTRACT=1 ./build.sh   instead, the test-only build with `--features store-contract`
#                                 into build-contract/ (for tests/store-contract.mjs; never deploy it)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tools="${TOOLS_DIR:-${CONCIERGE_TOOLS_DIR:-$HOME/.cache/concierge-tools}}"
"$here/tools.sh"
export WASM_BINDGEN_BIN="$tools/bin/wasm-bindgen"
export WASM_OPT_BIN="$here/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$here/node_modules/.bin/esbuild"
cd "$here"
if [ "${STORE_CONTRACT:-0}" = 1 ]; then
  # Its size and speed do not matter, its build time does: a profile of its own (so it
  # shares nothing with, and evicts nothing of, the release build), unoptimized, without
  # debug info, LTO or wasm-opt.
  export CARGO_PROFILE_STORE_CONTRACT_INHERITS=dev CARGO_PROFILE_STORE_CONTRACT_DEBUG=false
  exec nice -n 19 "$tools/bin/worker-build" --profile store-contract --no-opt \
    --out-dir build-contract --features store-contract
fi
export CARGO_PROFILE_RELEASE_OPT_LEVEL=${OPT_LEVEL:-z}
export CARGO_PROFILE_RELEASE_LTO=true
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
nice -n 19 "$tools/bin/worker-build" --release

# worker-build keeps the wasm name section (function names in stack traces): ~425 KB raw,
# ~130 KB gzip. Drop it unless KEEP_NAMES=1, and optimize once more for size (-Oz after
# worker-build's own pass: another ~4 KB gzip, ~20 s).
# --low-memory-unused lets wasm-opt fold a pointer's constant offset into the load or store
# (`i32.load offset=C`): the two differ only when the address wraps past 4 GiB into the first
# KiB of memory, and nothing lives there (rustc puts the 1 MiB stack first, growing down
# towards 0, then the data; Emscripten passes the same flag). ~6 KB gzip.
if [ "${KEEP_NAMES:-0}" != 1 ]; then
  features=(bulk-memory nontrapping-float-to-int sign-ext mutable-globals reference-types
    multivalue exception-handling)
  "$here/node_modules/.bin/wasm-opt" -Oz --low-memory-unused --strip-debug \
    "${features[@]/#/--enable-}" build/index_bg.wasm -o build/index_bg.wasm
fi
