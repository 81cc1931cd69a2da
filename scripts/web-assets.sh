#!/usr/bin/env bash
# Installs the pages' front-end files from npm (web/package.json: htmx) into web/node_modules,
# where concierge-core/build.rs picks them up and bakes them into the binary and the Worker.
# Run before building; scripts/test.sh and scripts/run-demo.sh do. Without them the pages
# still work, as plain forms (GET /assets/htmx.min.js is a 404).
set -euo pipefail
cd "$(dirname "$0")/../web"
command -v npm >/dev/null || { echo "web-assets: npm is needed (Node.js 20+)" >&2; exit 1; }
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
