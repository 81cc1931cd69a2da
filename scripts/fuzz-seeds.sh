#!/usr/bin/env bash
# Regenerates fuzz/seeds/<target>/, the checked-in seed corpus of every fuzz target, from the
# project's own inputs: the channel fixtures (concierge-core/tests/fixtures), the example
# tenants (examples/tenants) and the payloads documented in docs/channels.md, plus a few small
# hand-made inputs for the targets that have no fixtures. Deterministic: same repository, same
# files, same names (`fixture-*`, `example-*`, `doc-*`, `hand-*`). Run it after adding a
# fixture and commit the result; scripts/fuzz-smoke.sh starts every run from these seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
fixtures=concierge-core/tests/fixtures
out=fuzz/seeds
rm -rf "$out"

# copy <target> <prefix> <files...>: copies each file as <prefix>-<basename>.
copy() {
  local target=$1 prefix=$2
  shift 2
  mkdir -p "$out/$target"
  for f in "$@"; do
    cp "$f" "$out/$target/$prefix-$(basename "$f")"
  done
}

# seed <target> <name>: writes stdin to the seed <name>.
seed() {
  mkdir -p "$out/$1"
  cat >"$out/$1/$2"
}

# --- Channel webhooks: every fixture of the channel -------------------------------------------
copy whatsapp fixture "$fixtures"/whatsapp/*
copy instagram fixture "$fixtures"/instagram/*
copy discord_interaction fixture "$fixtures"/discord/interaction_*
copy discord_event fixture "$fixtures"/discord/event_* "$fixtures"/discord/api_error_* \
  "$fixtures"/discord/create_message_response.json
copy email fixture "$fixtures"/email/*

# The whatsapp target also runs the GET verification handshake on the input as a query.
printf 'hub.mode=subscribe&hub.verify_token=fuzz-token&hub.challenge=1158201444' |
  seed whatsapp doc-handshake.txt
printf 'hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=%%E2%%9C%%93' |
  seed whatsapp doc-handshake-wrong-token.txt

# The button custom_ids of docs/channels.md ("Buttons"), signed with the fuzz target's key
# `fuzz-button-key` (HMAC-SHA256 over "concierge/discord-button\0" + "v1:{a|x|d|r}:{draft_id}",
# first 16 bytes, base64url), so the verified path is reached from the start.
for id in \
  v1:a:drf_01J8ZQ4X5W7T9K2M3N4P5Q6R7S:lVCdMVlzVCaaBNqDbHYj4Q \
  v1:x:drf_01J8ZQ4X5W7T9K2M3N4P5Q6R7S:pKBEsZRdW7h5u47mmza6Ig \
  v1:d:drf_01J8ZQ4X5W7T9K2M3N4P5Q6R7S:GzGFqiQ9dS_FJQHx6Z3u8Q \
  v1:r:drf_01J8ZQ4X5W7T9K2M3N4P5Q6R7S:iLlYlKkJzirV1j_01y7SSA; do
  printf '%s' "$id" | seed discord_interaction "doc-custom-id-${id:3:1}.txt"
done
sed -e 's/5YQlijB923HsKCkJ-AQTVA/lVCdMVlzVCaaBNqDbHYj4Q/' \
  -e 's/fSassEH8fq9jdZEk8DPdXQ/pKBEsZRdW7h5u47mmza6Ig/' \
  -e 's/dHl-49Mc-o7IbyOv6zd42w/GzGFqiQ9dS_FJQHx6Z3u8Q/' \
  "$fixtures"/discord/interaction_button_approve.json |
  seed discord_interaction fixture-interaction_button_approve-fuzz-key.json

# --- Graph API errors: the fixtures and the shape documented in docs/channels.md --------------
copy graph_error fixture "$fixtures"/whatsapp/error_* "$fixtures"/instagram/error_*
seed graph_error doc-graph-error.json <<'EOF'
{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_subcode":2494010,"error_data":{"messaging_product":"whatsapp","details":"More than 24 hours have passed since the recipient last replied."},"error_user_msg":"Message failed to send","is_transient":false,"fbtrace_id":"AbCdEf"}}
EOF
seed graph_error doc-graph-error-instagram-window.json <<'EOF'
{"error":{"message":"This message is sent outside of allowed window.","type":"OAuthException","code":10,"error_subcode":2534022,"is_transient":true}}
EOF
printf '{"messaging_product":"whatsapp","messages":[{"id":"wamid.HBgM"}]}' |
  seed graph_error doc-send-response.json

# --- Tenant files: the examples, the tests' minimal file, the documented email rules ----------
copy tenant_toml example examples/tenants/*.toml
seed tenant_toml hand-minimal.toml <<'EOF'
id = "corner-cafe"
name = "Corner Cafe"
currency = "USD"
starting_credits = "5"
persona.custom = "You are the Corner Cafe's assistant."

[channels.whatsapp]
phone_number_id = "1234"
[channels.whatsapp.replies]
default_rule = { kind = "prompt" }
EOF
seed tenant_toml doc-email-rules.toml <<'EOF'
id = "shop"
name = "Shop"
currency = "EUR"
persona.custom = "You answer for the shop."

[approval]
required = true
digest_cadence_mins = 15

[notifications]
email = "owner@shop.example"

[channels.email]
domains = ["shop.cncg.email"]
from_address = "hello@shop.cncg.email"

[channels.email.replies]
default_rule = { kind = "canned", text = "Thanks, we will answer soon." }

[[channels.email.rules."shop.cncg.email"]]
name = "Invoices to the accountant"
match = { subject = "*invoice*", has_attachment = true }
action = "forward_email"
to = "books@example.com"

[[channels.email.rules."shop.cncg.email"]]
name = "Orders to Discord"
match = { to = "orders@*" }
action = "forward_discord"
channel_id = "1180000000000000001"
EOF
seed tenant_toml hand-intent-embedding.toml <<'EOF'
id = "web-1"
name = "Web"
locale = "hi-IN"
currency = "INR"
starting_credits = "0.001"
persona.custom = "Hi"

[conversation]
idle_gap_mins = 6
handoff_cooldown_mins = 5
max_history_messages = 200

[channels.web]
site_key = "site_1"

[channels.web.replies]
wait_seconds = 300
default_rule = { kind = "prompt", text = "" }

[[channels.web.replies.rules]]
name = "refund"
match = { kind = "intent", description = "asks for a refund", embedding = [0.25, -1.5e-3, 1.0], model = "m", threshold = 0.8 }
reply = { kind = "prompt", text = "Hand off." }
EOF
# Regression seed: a NaN in a stored embedding once passed validation (JSON stores it as null,
# so the tenant could not be read back); it must stay a field error.
sed 's/embedding = \[0.25, -1.5e-3, 1.0\]/embedding = [nan, 1.0]/' \
  "$out"/tenant_toml/hand-intent-embedding.toml | seed tenant_toml hand-embedding-nan.toml

# --- Classifier verdicts: the strict answers and typical near misses --------------------------
n=0
for answer in \
  '{"verdict":"allow"}' \
  '{"verdict":"approve"}' \
  '{"verdict":"reject","category":"harassment"}' \
  ' {"verdict":"reject","category":"  "} ' \
  '{"verdict":"reject"}' \
  '{"verdict":"approve","note":"x"}' \
  '```json\n{"verdict":"approve"}\n```' \
  'Sure! {"verdict":"allow"}' \
  '{"verdict":"reject","category":null}' \
  '{"verdict":"\\u0061llow"}'; do
  n=$((n + 1))
  printf '%b' "$answer" | seed verdicts "hand-$n.json"
done

# --- Spans: the documented forms; a second span after a NUL is summed with the first --------
n=0
for span in 250ms 90s 15m 7h 2d 1h30m 1s500ms ' 7h ' 9223372036854775807ms 7x; do
  n=$((n + 1))
  printf '%s' "$span" | seed span_parse "hand-$n.txt"
done
printf '%s\0%s' 1d 23h59m59s999ms | seed span_parse hand-sum.txt
printf '%s\0%s' 9223372036854775807ms 1ms | seed span_parse hand-sum-overflow.txt

# --- Approval link tokens: key NUL draft NUL action NUL token NUL now_ms NUL expires_ms --------
# The tokens are sign_link_token(key, draft, action, expires): `{secs}.{hex HMAC-SHA256 of
# "approval-link\0{draft}\0{action}\0{secs}"}`.
draft=drf_01J8ZQ4X5W7T9K2M3N4P5Q6R7S
key=digest-key-0123456789abcdef
approve=1700003600.1ba01249a8a7b1499c46577bb09abacaca9921079ff1b391bb32769a6117d8df
reject=1700003600.dea98523c2dedb92d7cd36c73d559b448e8668c8419c889d75266a4269d9aa89
printf '%s\0%s\0approve\0%s\0%s\0%s' "$key" "$draft" "$approve" 1700000000000 1700003600000 |
  seed link_token hand-valid.bin
printf '%s\0%s\0reject\0%s\0%s\0%s' "$key" "$draft" "$reject" 1700003600000 1700003600000 |
  seed link_token hand-expired.bin
printf '%s\0%s\0reject\0%s\0%s\0%s' "$key" "$draft" "$approve" 1700000000000 1700003599999 |
  seed link_token hand-forged.bin
printf '%s\0%s\0%s\0%s\0%s\0%s' k d1 approve \
  100.1b628f2b48a4d5e89d4d7560e20f365897def51d0c040705e41ace4f9970d45b 99000 100000 |
  seed link_token hand-unit-test.bin
printf '\0\0\0%s\0%s\0%s' junk -1 -9223372036854775808 | seed link_token hand-malformed.bin

# --- Email rule globs: NUL-separated chunks, first byte picks the field ----------------------
# modulo 5 (0 from, 1 to, 2 subject, 3 body, 4 has_attachment; NUL is the separator, so `from`
# is written 5), globs as in docs/channels.md.
printf '\x02*invoice*\0\x04\x01' | seed email_rule_globs doc-invoices.bin
printf '\x01orders@*' | seed email_rule_globs doc-orders.bin
printf '\x05*@gmail.com\0\x03*[a-z]?cake*\0\x02{*invoice*,*receipt*}' |
  seed email_rule_globs hand-fields.bin
printf '\x03*\\*\0\x05[!x]*\0\x02*[' | seed email_rule_globs hand-escapes.bin

# --- Handoff sentinel and reply splitting ------------------------------------------------------
printf 'Let me get the owner for you. [[HANDOFF]]' | seed handoff_strip hand-trailing.txt
printf '[[handoff]] [[HAND[[HANDOFF]]OFF]] done' | seed handoff_strip hand-nested.txt
printf 'no sentinel here, just [[brackets]]' | seed handoff_strip hand-none.txt
# reply_split: first byte is the limit, the rest the text.
printf '\x05Hello world, this is a longer reply.' | seed reply_split hand-words.bin
printf '\x03👍🏽👨‍👩‍👧 é café' | seed reply_split hand-graphemes.bin
printf '\x01a\r\nb  c\td' | seed reply_split hand-whitespace.bin

# --- Knowledge documents: first byte the kind modulo 5 (0 Markdown, 1 text, 2 CSV, 3 HTML,
# 4 PDF), second byte the chunk size minus one (\x77 is 120), the rest the file.
{
  printf '\x00\x77'
  cat <<'MD'
---
title: FAQ
---
# Sweet Crumbs FAQ
## Orders
Custom cakes need **48 hours'** notice; see [our order page](https://example.com/order).

![a cake](cake.jpg) <!-- internal note -->

- Cupcakes: same day
  1. Tasting first

Delivery
--------
| Area | Fee |
|------|-----|
| Indiranagar | ₹50 |

```
Eggless: yes
```
MD
} | seed knowledge_documents hand-faq.md
printf '\x01\x1f\xef\xbb\xbfOpening hours\r\n\r\nMon-Sat 9am to 8pm.   \r\n\r\n\r\nClosed on Diwali.\r\n' |
  seed knowledge_documents hand-hours.txt
printf '\x02\x77Item,Price,Notes\r\nEggless chocolate cake,\xe2\x82\xb9900,48 h notice\r\n"Red velvet, 1 kg",\xe2\x82\xb91200,\r\n,,\r\n' |
  seed knowledge_documents hand-menu.csv
printf '\x02\x77Item;Price\nBun;40;extra\n' | seed knowledge_documents hand-ragged.csv
{
  printf '\x03\x3f'
  cat <<'HTML'
<!DOCTYPE html><html><head><title>Sweet Crumbs</title><style>p{}</style>
<script>var x = "<h1>no</h1>";</script></head><body>
<header><h1>Sweet Crumbs</h1><nav><a href="/">Home</a></nav></header>
<div id="cookie-banner">We use cookies <div>nested</div><button>OK</button></div>
<section id="menu"><h2>Cakes</h2><p>Fresh &amp; eggless&nbsp;options.</p>
<ul><li>Chocolate &ndash; &#8377;900</li></ul><table><tr><th>Size</th><td>1 kg</td></tr></table>
<h3>Custom</h3><p>Call <a href="tel:1">us</a>.<br>Or e-mail.</p><!-- c --></section>
<footer>(c) 2024</footer></body></html>
HTML
} | seed knowledge_documents hand-page.html
printf '\x04\x77%%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%%%EOF\n' |
  seed knowledge_documents hand-truncated.pdf

echo "fuzz seeds: $(find "$out" -type f | wc -l) files, $(du -sb "$out" | cut -f1) bytes in $out"
