#!/usr/bin/env bash
# Installs what building and running the Worker offline needs, skipping what is already there:
#   worker-build and wasm-bindgen-cli (the version Cargo.lock pins) into $TOOLS_DIR (default
#   $CONCIERGE_TOOLS_DIR, default ~/.cache/concierge-tools, reused by later runs on the machine), and wrangler + binaryen from package-lock.json.
# Installs run at low priority (nice 19): they take ~13 and ~7 minutes cold on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tools="${TOOLS_DIR:-${CONCIERGE_TOOLS_DIR:-$HOME/.cache/concierge-tools}}"
worker_build_version=0.8.7
wasm_bindgen_version=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' "$root/Cargo.lock")

if ! "$tools/bin/worker-build" --version 2>/dev/null | grep -q "$worker_build_version"; then
  echo "installing worker-build $worker_build_version into $tools" >&2
  nice -n 19 cargo install --root "$tools" "worker-build@$worker_build_version"
fi
# Without --locked: a dependency locked by wasm-bindgen-cli is missing from the registry.
if ! "$tools/bin/wasm-bindgen" --version 2>/dev/null | grep -q "$wasm_bindgen_version"; then
  echo "installing wasm-bindgen-cli $wasm_bindgen_version into $tools" >&2
  nice -n 19 cargo install --root "$tools" "wasm-bindgen-cli@$wasm_bindgen_version"
fi
if [ ! -x "$here/node_modules/.bin/wrangler" ] || [ ! -x "$here/node_modules/.bin/wasm-opt" ]; then
  (cd "$here" && nice -n 19 npm ci --no-audit --no-fund)
fi
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
