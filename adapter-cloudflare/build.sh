#!/usr/bin/env bash
# Builds the Worker (release) into build/ offline: worker-build with the pinned wasm-bindgen,
# wasm-opt from npm binaryen and esbuild from wrangler. Size profile: opt-level z (OPT_LEVEL=s
# to trade size for speed), fat LTO, one codegen unit (set here so the workspace's release
# profile stays as it is).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tools="${TOOLS_DIR:-${CONCIERGE_TOOLS_DIR:-$HOME/.cache/concierge-tools}}"
"$here/tools.sh"
export WASM_BINDGEN_BIN="$tools/bin/wasm-bindgen"
export WASM_OPT_BIN="$here/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$here/node_modules/.bin/esbuild"
export CARGO_PROFILE_RELEASE_OPT_LEVEL=${OPT_LEVEL:-z}
export CARGO_PROFILE_RELEASE_LTO=true
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
cd "$here"
nice -n 19 "$tools/bin/worker-build" --release

# worker-build keeps the wasm name section (function names in stack traces): ~425 KB raw,
# ~130 KB gzip. Drop it unless KEEP_NAMES=1.
if [ "${KEEP_NAMES:-0}" != 1 ]; then
  features=(bulk-memory nontrapping-float-to-int sign-ext mutable-globals reference-types
    multivalue exception-handling)
  "$here/node_modules/.bin/wasm-opt" --strip-debug "${features[@]/#/--enable-}" \
    build/index_bg.wasm -o build/index_bg.wasm
fi
