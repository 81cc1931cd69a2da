#!/usr/bin/env bash
# Sends one customer message to the demo server of scripts/run-demo.sh, as WhatsApp would
# (a signed webhook), waits for the reply and prints it from the dry-run outbox.
#
#   ./scripts/send-demo-message.sh "Do you have eggless cakes?"
#   FROM=919800000001 ./scripts/send-demo-message.sh "hi"     # another customer
#
# Environment (the run-demo.sh defaults): CONCIERGE_BIND, WHATSAPP_APP_SECRET,
# CONCIERGE_ADMIN_TOKEN, FROM (the customer's WhatsApp number), WAIT_SECONDS (default 120).
set -euo pipefail

text="${1:?usage: $0 \"message text\"}"
base="http://${CONCIERGE_BIND:-127.0.0.1:8080}"
secret="${WHATSAPP_APP_SECRET:-demo-secret}"
admin="${CONCIERGE_ADMIN_TOKEN:-demo-admin-token-123456}"
from="${FROM:-16505551234}"
wait_seconds="${WAIT_SECONDS:-120}"
phone_number_id=106540352242922 # the bakery's number, examples/tenants/sunrise-bakery.toml

# JSON string escaping for the message text.
json_text=$(printf '%s' "$text" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' | awk 'NR>1{printf "\\n"} {printf "%s", $0}')
id="wamid.demo.$(date +%s%N).$RANDOM"
body='{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"'$phone_number_id'"},"contacts":[{"profile":{"name":"Demo customer"},"wa_id":"'$from'"}],"messages":[{"from":"'$from'","id":"'$id'","timestamp":"'$(date +%s)'","type":"text","text":{"body":"'$json_text'"}}]}}]}]}'
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.* //')

outbox() {
  curl -fsS -H "Authorization: Bearer $admin" "$base/api/v1/tenants/sunrise-bakery/outbox"
}
count() {
  local json
  json=$(outbox) || { echo "send-demo-message: the admin API at $base does not answer (is ./scripts/run-demo.sh running?)" >&2; exit 1; }
  printf '%s' "$json" | { grep -o '"dry_run"' || true; } | wc -l
}

before=$(count)
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/webhook/whatsapp" \
  -H "X-Hub-Signature-256: sha256=$sig" -H 'content-type: application/json' --data-binary "$body")
echo "POST /webhook/whatsapp → $status (message $id)"
[ "$status" = 200 ] || exit 1

echo "waiting for the reply (the bakery buffers bursts for 3 s, then the model writes)…"
deadline=$((SECONDS + wait_seconds))
while [ "$SECONDS" -lt "$deadline" ]; do
  if [ "$(count)" -gt "$before" ]; then
    json=$(outbox)
    if command -v python3 >/dev/null 2>&1; then
      printf '%s' "$json" | python3 -c '
import json, sys
rows = json.load(sys.stdin)["outbox"][int(sys.argv[1]):]
for row in rows:
    body = (row.get("message") or {}).get("body") or {}
    text = body.get("text") if isinstance(body, dict) else None
    print("reply recorded in the dry-run outbox (%s, %s):" % (row.get("channel"), row.get("key")))
    print()
    print("  " + (text if isinstance(text, str) else json.dumps(row.get("message"))).replace("\n", "\n  "))
' "$before"
    else
      printf '%s\n' "$json"
    fi
    exit 0
  fi
  sleep 1
done
echo "no reply within ${wait_seconds}s; see the server log and: curl -s -H 'Authorization: Bearer $admin' $base/api/v1/dead-letters" >&2
exit 1
