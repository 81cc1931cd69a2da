#!/usr/bin/env bash
# Concierge on local workerd: builds the Worker offline, applies the D1 migrations locally,
# serves it with `wrangler dev --local` on 127.0.0.1:8787 and loads the example tenants.
#
# Secrets are read from the environment (only those that are set are passed on, through a
# private temporary env file that is removed on exit):
#   WHATSAPP_APP_SECRET WHATSAPP_VERIFY_TOKEN INSTAGRAM_APP_SECRET INSTAGRAM_VERIFY_TOKEN
#   META_ACCESS_TOKEN DISCORD_PUBLIC_KEY DISCORD_BOT_TOKEN DISCORD_BOT_USER_ID
#   SIGNING_KEY (a random one is made when unset) OPENAI_API_KEY ENCRYPTION_KEY
#   CONCIERGE_ADMIN_TOKEN (a random one is made and printed when unset)
# Settings that override wrangler.toml's [vars] when set:
#   AI_PROVIDER (default here: "openai" if OPENAI_BASE_URL is set, else "none", since Workers
#   AI does not run locally) OPENAI_BASE_URL AI_MODEL AI_FAST_MODEL EMBEDDING_MODEL
#   GRAPH_API_BASE DISCORD_API_BASE PUBLIC_BASE_URL SYSTEM_FROM INJECTION_SCAN
#   RECONCILE_WINDOW_SECS DEMO_PER_MINUTE DRY_RUN
# Options: PORT (8787), PERSIST_DIR (.wrangler/state), SKIP_BUILD=1,
#   TENANTS (default: ../examples/tenants/*.toml), READY_FILE (touched once serving).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$here"
export WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true CLOUDFLARE_CF_FETCH_ENABLED=false
port=${PORT:-8787}
persist=${PERSIST_DIR:-$here/.wrangler/state}
wrangler="$here/node_modules/.bin/wrangler"

if [ "${SKIP_BUILD:-}" = 1 ]; then
  "$here/tools.sh"
else
  "$here/build.sh"
fi

"$wrangler" d1 migrations apply DB --local --persist-to "$persist" >/dev/null
echo "D1 migrations applied ($persist)"

if [ -z "${CONCIERGE_ADMIN_TOKEN:-}" ]; then
  CONCIERGE_ADMIN_TOKEN=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  echo "CONCIERGE_ADMIN_TOKEN=$CONCIERGE_ADMIN_TOKEN (generated for this run)"
fi
if [ -z "${SIGNING_KEY:-}" ]; then
  # The Worker refuses to serve without one; a run-local key lasts for this run only.
  SIGNING_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  echo "SIGNING_KEY generated for this run (approval links from it expire with it)"
fi
export SIGNING_KEY
if [ -z "${AI_PROVIDER:-}" ]; then
  if [ -n "${OPENAI_BASE_URL:-}" ]; then AI_PROVIDER=openai; else AI_PROVIDER=none; fi
fi
export CONCIERGE_ADMIN_TOKEN AI_PROVIDER

envfile=$(mktemp)
chmod 600 "$envfile"
server_pid=
cleanup() {
  rm -f "$envfile"
  if [ -n "$server_pid" ]; then kill -- -"$server_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for name in WHATSAPP_APP_SECRET WHATSAPP_VERIFY_TOKEN INSTAGRAM_APP_SECRET INSTAGRAM_VERIFY_TOKEN \
  META_ACCESS_TOKEN DISCORD_PUBLIC_KEY DISCORD_BOT_TOKEN DISCORD_BOT_USER_ID SIGNING_KEY \
  OPENAI_API_KEY CONCIERGE_ADMIN_TOKEN AI_PROVIDER OPENAI_BASE_URL AI_MODEL AI_FAST_MODEL \
  EMBEDDING_MODEL GRAPH_API_BASE DISCORD_API_BASE PUBLIC_BASE_URL SYSTEM_FROM INJECTION_SCAN \
  ENCRYPTION_KEY RECONCILE_WINDOW_SECS DEMO_PER_MINUTE DRY_RUN; do
  value=${!name:-}
  [ -n "$value" ] || continue
  case "$value" in
    *"'"* | *$'\n'*) echo "$name must not contain a single quote or a newline" >&2; exit 2 ;;
  esac
  printf "%s='%s'\n" "$name" "$value" >>"$envfile"
done

# Own process group, so the whole tree (wrangler, workerd) stops with it.
setsid "$wrangler" dev --local --ip 127.0.0.1 --port "$port" --persist-to "$persist" \
  --env-file "$envfile" --show-interactive-dev-session=false &
server_pid=$!

for _ in $(seq 1 150); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then echo "wrangler dev exited" >&2; exit 1; fi
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null
rm -f "$envfile"

shopt -s nullglob
tenants=(${TENANTS:-$root/examples/tenants/*.toml})
for file in "${tenants[@]}"; do
  printf 'tenant %s: ' "$(basename "$file" .toml)"
  curl -fsS -X PUT "http://127.0.0.1:$port/api/v1/tenants" \
    -H "authorization: Bearer $CONCIERGE_ADMIN_TOKEN" \
    -H 'content-type: application/toml' --data-binary @"$file"
  echo
done
echo "Concierge is serving on http://127.0.0.1:$port (Ctrl-C stops it)"
[ -z "${READY_FILE:-}" ] || touch "$READY_FILE"
wait "$server_pid"
