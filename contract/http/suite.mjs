// The HTTP contract suite: the same requests, expected statuses, bodies and effects for every
// deploy target (the server binary and the Worker on local workerd), the way
// `store_contract_tests!` runs one store contract against every store. run.mjs starts a target
// with SETTINGS, the fakes of fakes.mjs and TENANT, then runs CASES in order.
//
// A case is `{ name, run(t), expectFail? }`. `t` (see run.mjs) gives `request`, `admin`, the
// fakes' recordings, wire-format builders, `until(what, check)` for effects that must happen
// and `settled(what, check)` for effects that must NOT happen (or must not happen twice): those
// checks run once, after every case ran and the target had time to do anything it was going
// to do, so waiting for "nothing" costs one pause per run instead of one per case.
// `expectFail: { worker: 'why' }` marks a case whose target behaviour that target lacks today:
// its failure is reported as expected, and a pass is reported as a failure (drop the mark).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { MODEL_REPLY } from './fakes.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/// The one configuration both targets run with (run.mjs maps it onto each target's settings).
export const SETTINGS = {
  metaAppSecret: 'contract-meta-app-secret',
  metaVerifyToken: 'contract-verify-token',
  adminToken: 'contract-admin-token-0123456789',
  emailSecret: 'contract-email-secret',
  signingKey: 'contract-signing-key-0123456789abcdef',
  encryptionKey: '5a'.repeat(32),
  discordBotToken: 'contract-bot-token',
  discordBotUserId: '1170000000000000000',
  aiKey: 'contract-model-key',
};

export const TENANT_ID = 'contract-shop';
export const WA_PHONE = '106540352240001';
export const IG_PAGE = '17841405822300001';
export const GUILD = '1190000000000000500';
export const FORWARD_CHANNEL = '1190000000000000509';
export const WA_REPLY = 'Thanks for writing to Contract Shop! We open at 9am.';
export const IG_REPLY = 'Thanks for your DM! Contract Shop will answer soon.';
/// The tenant's per-account channel tokens, set through PUT /api/v1/tenants/{t}/secrets/{account}.
export const WA_TOKEN = 'contract-tenant-wa-token';
export const IG_TOKEN = 'contract-tenant-ig-token';

/// The tenant every case runs against: canned replies only (no model call in any turn).
export const TENANT = `
id = "${TENANT_ID}"
name = "Contract Shop"
locale = "en-US"
currency = "USD"
starting_credits = "5"

[persona]
custom = "You are the assistant of Contract Shop, a corner shop. Answer briefly."

[conversation]
idle_gap_mins = 240
handoff_cooldown_mins = 30
max_history_messages = 12

[notifications]
discord_channel_id = "1190000000000000501"

[channels.whatsapp]
phone_number_id = "${WA_PHONE}"

[channels.whatsapp.replies]
default_rule = { kind = "canned", text = "${WA_REPLY}" }

[channels.instagram]
page_id = "${IG_PAGE}"

[channels.instagram.replies]
default_rule = { kind = "canned", text = "${IG_REPLY}" }

[channels.discord]
guild_id = "${GUILD}"
inbound_mentions = true

[channels.discord.replies]
default_rule = { kind = "canned", text = "Hello from Contract Shop." }

[channels.email]
domains = ["contract.test"]

[channels.email.replies]
default_rule = { kind = "canned", text = "Thanks for your email, we will answer soon." }

[[channels.email.rules."contract.test"]]
name = "invoices to discord"
match = { subject = "*invoice*" }
action = "forward_discord"
channel_id = "${FORWARD_CHANNEL}"
`;

// ---------- wire formats ----------
let wamid = 0;
const runTag = Date.now().toString(36);
/// A WhatsApp Cloud API `messages` webhook for `phoneId` from `from`.
export function waBody(phoneId, from, text) {
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{
      id: '102290129340398',
      changes: [{
        field: 'messages',
        value: {
          messaging_product: 'whatsapp',
          metadata: { display_phone_number: '15550783881', phone_number_id: phoneId },
          contacts: [{ profile: { name: 'Priya' }, wa_id: from }],
          messages: [{
            from,
            id: `wamid.HBgLMTU1NTA3ODM4ODEVAgASGBQzContract${runTag}${++wamid}`,
            timestamp: String(Math.floor(Date.now() / 1000)),
            type: 'text',
            text: { body: text },
          }],
        },
      }],
    }],
  });
}

let mid = 0;
/// An Instagram Messaging webhook to `pageId` from `sender`.
export function igBody(pageId, sender, text) {
  const now = Date.now();
  return JSON.stringify({
    object: 'instagram',
    entry: [{
      id: pageId,
      time: now,
      messaging: [{
        sender: { id: sender },
        recipient: { id: pageId },
        timestamp: now,
        message: { mid: `aWdfZAG1faXRlbToxOklHTWVzc2FnZAContract${runTag}${++mid}`, text },
      }],
    }],
  });
}

/// A Discord interaction of `type` (1 PING, 2 APPLICATION_COMMAND) in the tenant's guild.
export function discordInteraction(type, data) {
  return JSON.stringify({
    type,
    id: '1180000000000000101',
    application_id: SETTINGS.discordBotUserId,
    token: `interaction-token-${type}`,
    version: 1,
    ...(type === 1 ? {} : {
      guild_id: GUILD,
      channel_id: '1190000000000000510',
      member: { user: { id: '1160000000000000001', username: 'frontdesk' } },
      data,
    }),
  });
}

/// An RFC 5322 message.
export function mail({ from = 'Vendor Billing <billing@vendor.test>', to = 'accounts@contract.test', subject, id, body }) {
  return [
    `From: ${from}`,
    `To: ${to}`,
    `Subject: ${subject}`,
    `Message-ID: <${id}@vendor.test>`,
    `Date: ${new Date().toUTCString()}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    body,
    '',
  ].join('\r\n');
}

// ---------- assertions ----------
export function assert(cond, message) {
  if (!cond) throw new Error(message);
}
/// `value` as JSON with every object's keys sorted: the targets' serializers may order keys
/// differently, which no JSON client can tell apart.
export function canonical(value) {
  const sort = (v) => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])]));
    return v;
  };
  return JSON.stringify(sort(value));
}
export function eq(actual, expected, what) {
  const a = canonical(actual);
  const e = canonical(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}
/// A JSON error answer: `status`, `content-type: application/json` and exactly `body`.
export function errorIs(r, status, body, what) {
  eq(r.status, status, `${what}: status (${r.text.slice(0, 200)})`);
  assert((r.headers.get('content-type') ?? '').startsWith('application/json'),
    `${what}: content-type ${r.headers.get('content-type')}`);
  if (body !== undefined) eq(r.json(), body, `${what}: body`);
}

const UNAUTHORIZED = { error: 'missing or wrong bearer token' };

/// Text that must never reach a client in an error body: storage, runtime and code internals.
export const INTERNAL_TEXT = /sqlx|sqlite|\bD1_|panick|backtrace|\.rs:\d|RustError|JsValue|wasm|worker::|tokio|reqwest|hyper|called `|unwrap\(|stack trace|127\.0\.0\.1|constraint failed|no such table/i;

// ---------- the dashboard: a browser with a cookie jar ----------
export const OWNER_EMAIL = 'owner@contract.test';
export const OWNER_PASSWORD = 'contract owner password';
const LIMITED_EMAIL = 'limited@contract.test';
const OPERATOR_EMAIL = 'ops@contract.test';
const OPERATOR_PASSWORD = 'contract operator password';
const SESSION_COOKIE = '__Host-concierge_session';
const CSRF_COOKIE = '__Host-concierge_csrf';

/// The value of the hidden input `name` of an HTML page.
function hidden(r, name) {
  return r.text.match(new RegExp(`name="${name}" value="([^"]*)"`))?.[1];
}

/// A browser over `t.request`: keeps cookies, posts forms, signs in as the contract owner.
function browser(t) {
  const jar = new Map();
  const send = async (method, url, { body, headers = {} } = {}) => {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const r = await t.request(method, url, { body, headers: { ...(cookie ? { cookie } : {}), ...headers } });
    for (const line of r.headers.getSetCookie()) {
      const pair = line.split(';')[0];
      const i = pair.indexOf('=');
      if (/Max-Age=0(;|$)/.test(line)) jar.delete(pair.slice(0, i));
      else jar.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return r;
  };
  const b = {
    cookie: (name) => jar.get(name),
    get: (url, headers) => send('GET', url, { headers }),
    post: (url, form, headers = {}) => send('POST', url, {
      body: new URLSearchParams(form).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    }),
    /// Signs in to the operator panel with an operator account (given that password first,
    /// through the admin API, so the account exists whichever case runs first).
    async operatorLogin(email = OPERATOR_EMAIL, password = OPERATOR_PASSWORD, { create = true } = {}) {
      if (create) {
        const made = await t.admin('PUT', '/operators', JSON.stringify({ email, password }));
        assert(made.status === 200 || made.status === 201, `operator account: ${made.status} ${made.text}`);
      }
      const form = await b.get('/manage/login');
      return b.post('/manage/login', { csrf: hidden(form, 'csrf'), email, password });
    },
    async login(email = OWNER_EMAIL, password = OWNER_PASSWORD) {
      const form = await b.get('/dashboard/login');
      return b.post('/dashboard/login', { csrf: hidden(form, 'csrf'), email, password });
    },
  };
  return b;
}

// ---------- the cases ----------
const sendsTo = (t, pathSuffix, pick) => t.graph.filter((g) => g.path.endsWith(pathSuffix) && pick(g.body));
const waSends = (t, to) => sendsTo(t, `/${WA_PHONE}/messages`, (b) => b.to === to);
const igSends = (t, to) => sendsTo(t, '/me/messages', (b) => b.recipient?.id === to);

export const CASES = [
  {
    name: 'GET /healthz → 200 ok',
    run: async (t) => {
      const r = await t.request('GET', '/healthz');
      eq(r.status, 200, 'status');
      eq(r.text.trim(), 'ok', 'body');
    },
  },
  {
    name: 'PUT /api/v1/tenants imports the tenant (created, then updated)',
    setup: true,
    run: async (t) => {
      const r = await t.admin('PUT', '/tenants', TENANT, { 'content-type': 'application/toml' });
      eq(r.status, 200, `import (${r.text})`);
      eq(r.json().created, true, 'created');
      const again = await t.admin('PUT', '/tenants', TENANT, { 'content-type': 'application/toml' });
      eq(again.status, 200, `re-import (${again.text})`);
      eq(again.json().created, false, 'created on the second import');
      eq(again.json().credits_granted, false, 'starting credits granted twice');
    },
  },
  {
    name: 'per-tenant channel tokens: PUT /secrets/{account} → 204, and sends carry the tenant token',
    run: async (t) => {
      const wa = await t.admin('PUT', `/tenants/${TENANT_ID}/secrets/wa_phone:${WA_PHONE}`, JSON.stringify({ token: WA_TOKEN }));
      eq(wa.status, 204, `wa_phone secret (${wa.text})`);
      const ig = await t.admin('PUT', `/tenants/${TENANT_ID}/secrets/ig_page:${IG_PAGE}`, JSON.stringify({ token: IG_TOKEN }));
      eq(ig.status, 204, `ig_page secret (${ig.text})`);
      const customer = '919800000100';
      eq((await t.postWa(waBody(WA_PHONE, customer, 'token check'))).status, 200, 'webhook');
      const [sent] = await t.until('the reply', () => waSends(t, customer).length > 0 && waSends(t, customer));
      eq(sent.auth, `Bearer ${WA_TOKEN}`, 'Graph authorization');
    },
  },
  {
    name: 'channel secrets are validated: another account → 422 with fields, an empty token → 422, unknown tenant → 404',
    run: async (t) => {
      const other = await t.admin('PUT', `/tenants/${TENANT_ID}/secrets/wa_phone:999`, JSON.stringify({ token: 'x' }));
      errorIs(other, 422, { error: 'invalid input', fields: [{ field: 'account', message: "not one of the tenant's channel accounts" }] }, 'foreign account');
      const empty = await t.admin('PUT', `/tenants/${TENANT_ID}/secrets/wa_phone:${WA_PHONE}`, JSON.stringify({ token: '  ' }));
      errorIs(empty, 422, { error: 'invalid input', fields: [{ field: 'token', message: 'must not be empty' }] }, 'empty token');
      const unknown = await t.admin('PUT', `/tenants/nobody-shop/secrets/wa_phone:${WA_PHONE}`, JSON.stringify({ token: 'x' }));
      errorIs(unknown, 404, { error: 'tenant nobody-shop not found' }, 'unknown tenant');
      const bad = await t.admin('PUT', `/tenants/${TENANT_ID}/secrets/wa_phone:${WA_PHONE}`, '{"token": 1}');
      errorIs(bad, 400, undefined, 'not a token');
    },
  },
  {
    name: 'Meta handshake: right token → 200 with the challenge, wrong token → 403 (WhatsApp and Instagram)',
    run: async (t) => {
      for (const app of ['whatsapp', 'instagram']) {
        const q = (token, challenge) => `/webhook/${app}?hub.mode=subscribe&hub.verify_token=${token}&hub.challenge=${challenge}`;
        const ok = await t.request('GET', q(SETTINGS.metaVerifyToken, '1158201444'));
        eq(ok.status, 200, `${app} status`);
        eq(ok.text, '1158201444', `${app} challenge`);
        const wrong = await t.request('GET', q('nope', '1'));
        errorIs(wrong, 403, undefined, `${app} wrong token`);
        const missing = await t.request('GET', `/webhook/${app}?hub.mode=subscribe&hub.verify_token=${SETTINGS.metaVerifyToken}`);
        errorIs(missing, 400, { error: 'malformed payload: missing `hub.challenge` parameter' }, `${app} no challenge`);
      }
    },
  },
  {
    name: 'a signed WhatsApp message → 200 and exactly one reply reaches Graph',
    run: async (t) => {
      const customer = '919800000101';
      t.shared.firstWa = waBody(WA_PHONE, customer, 'When do you open?');
      const r = await t.postWa(t.shared.firstWa);
      eq(r.status, 200, 'status');
      eq(r.text, '', 'empty body');
      const [sent] = await t.until('the reply', () => waSends(t, customer).length > 0 && waSends(t, customer));
      eq(sent.body.text?.body, WA_REPLY, 'reply text');
      eq(sent.body.messaging_product, 'whatsapp', 'messaging_product');
      assert(/^Bearer \S+$/.test(sent.auth ?? ''), `authorization ${sent.auth}`);
      t.settled('still exactly one reply', () => eq(waSends(t, customer).length, 1, 'replies'));
    },
  },
  {
    name: 'the same WhatsApp webhook redelivered → 200 and still one reply',
    run: async (t) => {
      assert(t.shared.firstWa, 'needs the previous case');
      eq((await t.postWa(t.shared.firstWa)).status, 200, 'redelivery');
      eq((await t.postWa(t.shared.firstWa)).status, 200, 'second redelivery');
      t.settled('one reply for three deliveries', () => eq(waSends(t, '919800000101').length, 1, 'replies'));
    },
  },
  {
    name: 'unsigned and tampered WhatsApp webhooks → 401 and no send',
    run: async (t) => {
      const customer = '919800000102';
      const body = waBody(WA_PHONE, customer, 'hello?');
      const none = await t.request('POST', '/webhook/whatsapp', { body, headers: { 'content-type': 'application/json' } });
      errorIs(none, 401, undefined, 'no signature header');
      const empty = await t.postWa(body, '');
      errorIs(empty, 401, undefined, 'empty signature');
      const garbage = await t.postWa(body, 'sha256=zz');
      errorIs(garbage, 401, undefined, 'garbage signature');
      const tampered = await t.postWa(body.replace('hello?', 'HELLO!'), t.sign(body));
      errorIs(tampered, 401, undefined, 'tampered body');
      t.settled('no send for refused webhooks', () => eq(waSends(t, customer).length, 0, 'sends'));
    },
  },
  {
    name: 'a signed malformed WhatsApp webhook → 400 and no send',
    run: async (t) => {
      const r = await t.postWa('{"object": "whatsapp_business_account", "entry": [');
      errorIs(r, 400, undefined, 'truncated JSON');
      assert(/^malformed payload/.test(r.json().error), `error: ${r.json().error}`);
      const wrongShape = await t.postWa('[1, 2, 3]');
      errorIs(wrongShape, 400, undefined, 'not an object');
    },
  },
  {
    name: 'an oversized body (> 3 MiB) → 413, signed or not',
    run: async (t) => {
      const big = JSON.stringify({ object: 'whatsapp_business_account', pad: 'x'.repeat(3 * 1024 * 1024 + 16) });
      const signed = await t.postWa(big);
      errorIs(signed, 413, undefined, 'signed');
      assert(/exceeds the limit/.test(signed.json().error), `error: ${signed.json().error}`);
      const unsigned = await t.request('POST', '/webhook/whatsapp', { body: big });
      errorIs(unsigned, 413, undefined, 'unsigned');
      const admin = await t.admin('PUT', '/tenants', big);
      errorIs(admin, 413, undefined, 'admin import');
    },
  },
  {
    name: 'a message for an account no tenant owns → 200 and no send',
    run: async (t) => {
      const r = await t.postWa(waBody('100000000000001', '919800000103', 'anyone there?'));
      eq(r.status, 200, 'status');
      t.settled('no send from an unknown account', () =>
        eq(t.graph.filter((g) => g.path.includes('/100000000000001/') || g.body.to === '919800000103').length, 0, 'sends'));
    },
  },
  {
    name: 'Instagram: a signed DM → 200 and one reply; unsigned and tampered → 401 and no send',
    run: async (t) => {
      const customer = '6738393219630101';
      const body = igBody(IG_PAGE, customer, 'Are you open on Sunday?');
      const r = await t.postMeta('instagram', body);
      eq(r.status, 200, `status (${r.text})`);
      const [sent] = await t.until('the reply', () => igSends(t, customer).length > 0 && igSends(t, customer));
      eq(sent.body.message?.text, IG_REPLY, 'reply text');
      eq((await t.postMeta('instagram', body)).status, 200, 'redelivery');
      t.settled('one Instagram reply', () => eq(igSends(t, customer).length, 1, 'replies'));
      const quiet = '6738393219630102';
      const other = igBody(IG_PAGE, quiet, 'hi');
      errorIs(await t.request('POST', '/webhook/instagram', { body: other }), 401, undefined, 'unsigned');
      errorIs(await t.postMeta('instagram', other.replace('"hi"', '"HI"'), t.sign(other)), 401, undefined, 'tampered');
      errorIs(await t.postMeta('instagram', '{"object":"instagram","entry":{}}'), 400, undefined, 'malformed');
      t.settled('no Instagram send for refused DMs', () => eq(igSends(t, quiet).length, 0, 'sends'));
    },
  },
  {
    name: 'Discord: unsigned, tampered and stale-timestamp interactions → 401',
    run: async (t) => {
      const ping = discordInteraction(1);
      const none = await t.request('POST', '/discord/interactions', { body: ping, headers: { 'content-type': 'application/json' } });
      errorIs(none, 401, undefined, 'unsigned');
      const h = t.discordHeaders(ping);
      errorIs(await t.postDiscord(ping.replace('"version":1', '"version":2'), h), 401, undefined, 'tampered');
      const stale = t.discordHeaders(ping, String(Math.floor(Date.now() / 1000) - 3600));
      errorIs(await t.postDiscord(ping, stale), 401, undefined, 'stale timestamp');
      const future = t.discordHeaders(ping, String(Math.floor(Date.now() / 1000) + 3600));
      errorIs(await t.postDiscord(ping, future), 401, undefined, 'future timestamp');
      errorIs(await t.request('POST', '/discord/events', { body: '{"version":1,"type":0}' }), 401, undefined, 'unsigned event');
    },
  },
  {
    name: 'Discord: a signed PING → 200 {"type":1}; a signed event PING → 204',
    run: async (t) => {
      const r = await t.postDiscord(discordInteraction(1));
      eq(r.status, 200, `status (${r.text})`);
      eq(r.json(), { type: 1 }, 'PONG');
      assert((r.headers.get('content-type') ?? '').startsWith('application/json'), 'JSON');
      const event = JSON.stringify({ version: 1, application_id: SETTINGS.discordBotUserId, type: 0 });
      const e = await t.postDiscord(event, t.discordHeaders(event), '/discord/events');
      eq(e.status, 204, `event status (${e.text})`);
    },
  },
  {
    name: 'Discord: the /status slash command → an ephemeral answer about the tenant',
    run: async (t) => {
      const r = await t.postDiscord(discordInteraction(2, { id: '1150000000000000001', name: 'status', type: 1 }));
      eq(r.status, 200, `status (${r.text})`);
      const reply = r.json();
      eq(reply.type, 4, 'CHANNEL_MESSAGE_WITH_SOURCE');
      eq(reply.data.flags, 64, 'ephemeral');
      assert(reply.data.content.includes('Contract Shop'), `content: ${reply.data.content}`);
      assert(reply.data.content.includes('Drafts waiting for approval: 0'), `content: ${reply.data.content}`);
    },
  },
  {
    name: 'email ingress: no or wrong bearer → 401, no recipient → 400, bad MIME → 400, nothing routed',
    run: async (t) => {
      const raw = mail({ subject: 'Invoice 7 (refused)', id: 'refused-7', body: 'Total: $7.' });
      const to = '/email/inbound?to=accounts%40contract.test';
      errorIs(await t.request('POST', to, { body: raw }), 401, undefined, 'no bearer');
      errorIs(await t.request('POST', to, { body: raw, headers: { authorization: 'Bearer nope' } }), 401, undefined, 'wrong bearer');
      const auth = { authorization: `Bearer ${SETTINGS.emailSecret}` };
      errorIs(await t.request('POST', '/email/inbound', { body: raw, headers: auth }), 400,
        { error: 'the envelope recipient (?to=address) is required' }, 'no recipient');
      errorIs(await t.request('POST', '/email/inbound?to=not-an-address', { body: raw, headers: auth }), 400,
        { error: 'the envelope recipient (?to=address) is required' }, 'recipient without @');
      // The MIME structure that tripped mail-parser (multipart parts holding message/rfc822
      // without a boundary, no sender): a clear 400, not a dropped connection.
      const repro = fs.readFileSync(path.join(root, 'concierge-core/tests/fixtures/email/nested_rfc822_no_boundary.eml'));
      const bad = await t.request('POST', to, { body: repro, headers: auth });
      errorIs(bad, 400, undefined, 'bad MIME');
      assert(bad.json().error.includes('no sender address'), `error: ${bad.json().error}`);
      errorIs(await t.request('POST', to, { body: '', headers: auth }), 400, { error: 'malformed payload: empty email' }, 'empty');
      eq((await t.request('GET', '/healthz')).status, 200, 'still serving');
      t.settled('nothing routed for refused mail', () =>
        eq(t.discord.filter((d) => JSON.stringify(d.body).includes('Invoice 7')).length, 0, 'Discord posts'));
    },
  },
  {
    name: 'email ingress: a valid mail → 202, routed by its rule to Discord once (redelivery included)',
    run: async (t) => {
      const raw = mail({ subject: 'Invoice 42 for October', id: `invoice-42-${runTag}`, body: 'Please find invoice 42 attached. Total: $120.' });
      const req = () => t.request('POST', '/email/inbound?to=accounts%40contract.test', {
        body: raw,
        headers: { authorization: `Bearer ${SETTINGS.emailSecret}`, 'content-type': 'message/rfc822' },
      });
      const r = await req();
      eq(r.status, 202, `status (${r.text})`);
      const posts = () => t.discord.filter((d) => d.path === `/api/v10/channels/${FORWARD_CHANNEL}/messages`
        && JSON.stringify(d.body).includes('Invoice 42'));
      const [post] = await t.until('the Discord post', () => posts().length > 0 && posts());
      eq(post.auth, `Bot ${SETTINGS.discordBotToken}`, 'bot token');
      eq((await req()).status, 202, 'redelivery');
      t.settled('one Discord post for two deliveries', () => eq(posts().length, 1, 'posts'));
    },
  },
  {
    name: 'admin API: no token → 401, wrong token → 401, the same body',
    run: async (t) => {
      errorIs(await t.request('GET', '/api/v1/tenants'), 401, UNAUTHORIZED, 'no token');
      errorIs(await t.request('GET', '/api/v1/tenants', { headers: { authorization: 'Bearer not-the-token-at-all' } }), 401, UNAUTHORIZED, 'wrong token');
      errorIs(await t.request('GET', '/api/v1/tenants', { headers: { authorization: SETTINGS.adminToken } }), 401, UNAUTHORIZED, 'no Bearer scheme');
      errorIs(await t.request('PUT', '/api/v1/tenants', { body: TENANT }), 401, UNAUTHORIZED, 'import without token');
      errorIs(await t.request('GET', '/api/v1/nowhere'), 401, UNAUTHORIZED, 'unknown admin route without token');
    },
  },
  {
    name: 'admin API: GET /tenants lists the imported tenant; GET /tenants/{t} exports its file',
    run: async (t) => {
      const r = await t.admin('GET', '/tenants');
      eq(r.status, 200, 'status');
      assert(r.json().tenants.includes(TENANT_ID), `tenants: ${r.text}`);
      const file = await t.admin('GET', `/tenants/${TENANT_ID}`);
      eq(file.status, 200, 'export');
      assert((file.headers.get('content-type') ?? '').startsWith('application/toml'), `content-type ${file.headers.get('content-type')}`);
      assert(file.text.includes(`phone_number_id = "${WA_PHONE}"`), `export: ${file.text}`);
      assert(['pending', 'approved'].includes(file.headers.get('x-persona-status')), `x-persona-status ${file.headers.get('x-persona-status')}`);
    },
  },
  {
    name: 'admin API: bad TOML → 400, an invalid tenant → 422 with fields, nothing imported',
    run: async (t) => {
      const bad = await t.admin('PUT', '/tenants', 'id = "x"\nthis is not = [toml');
      errorIs(bad, 400, undefined, 'bad TOML');
      const notUtf8 = await t.admin('PUT', '/tenants', Buffer.from([0x69, 0x64, 0x20, 0x3d, 0x20, 0xff, 0xfe]));
      errorIs(notUtf8, 400, { error: 'the tenant file must be UTF-8 TOML' }, 'not UTF-8');
      const invalid = TENANT.replace(`id = "${TENANT_ID}"`, 'id = "invalid-shop"').replace('idle_gap_mins = 240', 'idle_gap_mins = 2');
      const r = await t.admin('PUT', '/tenants', invalid);
      errorIs(r, 422, undefined, 'invalid tenant');
      eq(r.json().error, 'invalid input', 'error');
      assert(Array.isArray(r.json().fields) && r.json().fields.length > 0, `fields: ${r.text}`);
      for (const f of r.json().fields) eq(Object.keys(f).sort(), ['field', 'message'], 'a field error');
      assert(r.json().fields.some((f) => f.field.includes('idle_gap_mins')), `fields name idle_gap_mins: ${r.text}`);
      const list = await t.admin('GET', '/tenants');
      assert(!list.json().tenants.includes('invalid-shop'), 'the invalid tenant was not imported');
    },
  },
  {
    name: 'admin API: unknown tenant → 404 on every tenant route, bad tenant id → 422',
    run: async (t) => {
      const notFound = { error: 'tenant nobody-shop not found' };
      errorIs(await t.admin('GET', '/tenants/nobody-shop'), 404, notFound, 'export');
      errorIs(await t.admin('GET', '/tenants/nobody-shop/persona'), 404, notFound, 'persona');
      errorIs(await t.admin('GET', '/tenants/nobody-shop/credits'), 404, notFound, 'credits');
      errorIs(await t.admin('POST', '/tenants/nobody-shop/credits', JSON.stringify({ grant_id: 'g', amount: '1' })), 404, notFound, 'grant');
      errorIs(await t.admin('GET', '/tenants/nobody-shop/outbox'), 404, notFound, 'outbox');
      errorIs(await t.admin('GET', '/tenants/nobody-shop/conversations/c_1/messages'), 404, notFound, 'conversation messages');
      errorIs(await t.admin('PUT', '/tenants/nobody-shop/conversation', '{"idle_gap_mins": 300}'), 404, { error: 'tenant nobody-shop not found' }, 'conversation');
      const badId = await t.admin('GET', '/tenants/Not%20A%20Tenant');
      errorIs(badId, 422, undefined, 'bad id');
      eq(badId.json().fields?.[0]?.field, 'tenant', 'field');
    },
  },
  {
    name: 'wrong method → 405 with Allow',
    run: async (t) => {
      const cases = [
        ['DELETE', '/api/v1/tenants', 'GET, PUT', true],
        ['POST', `/api/v1/tenants/${TENANT_ID}`, 'GET', true],
        ['GET', `/api/v1/tenants/${TENANT_ID}/conversation`, 'PUT', true],
        ['DELETE', `/api/v1/tenants/${TENANT_ID}/credits`, 'GET, POST', true],
        ['PATCH', '/webhook/whatsapp', 'GET, POST', false],
        ['GET', '/discord/interactions', 'POST', false],
        ['GET', '/email/inbound', 'POST', false],
        ['POST', '/healthz', 'GET', false],
        ['POST', '/demo/personas', 'GET', false],
      ];
      for (const [method, url, allow, admin] of cases) {
        const r = admin ? await t.admin(method, url.replace('/api/v1', '')) : await t.request(method, url);
        errorIs(r, 405, { error: 'method not allowed' }, `${method} ${url}`);
        eq(r.headers.get('allow'), allow, `${method} ${url}: Allow`);
      }
    },
  },
  {
    name: 'unknown routes → 404 JSON',
    run: async (t) => {
      for (const url of ['/nowhere', '/webhook/telegram', '/webhook/whatsapp/extra', '/api/v2/tenants']) {
        errorIs(await t.request('GET', url), 404, { error: 'route not found' }, url);
      }
      errorIs(await t.admin('GET', '/nowhere'), 404, { error: 'route not found' }, '/api/v1/nowhere');
      errorIs(await t.request('POST', '/nowhere', { body: '{}' }), 404, { error: 'route not found' }, 'POST /nowhere');
    },
  },
  {
    name: 'conversation settings out of range → 422 and nothing saved; in range → saved',
    run: async (t) => {
      const section = async () => {
        const r = await t.admin('GET', `/tenants/${TENANT_ID}`);
        eq(r.status, 200, 'export');
        const m = r.text.match(/\[conversation\][^[]*/);
        assert(m, `a [conversation] section in ${r.text}`);
        return m[0].trim();
      };
      const before = await section();
      assert(before.includes('idle_gap_mins = 240'), `before: ${before}`);
      const put = (value) => t.admin('PUT', `/tenants/${TENANT_ID}/conversation`, JSON.stringify(value));
      for (const [value, field] of [
        [{ idle_gap_mins: 2 }, 'idle_gap_mins'],
        [{ idle_gap_mins: 5000 }, 'idle_gap_mins'],
        [{ max_history_messages: 0 }, 'max_history_messages'],
        [{ max_history_messages: 500 }, 'max_history_messages'],
        [{ idle_gap_mins: 60, handoff_cooldown_mins: 90 }, 'idle_gap_mins'],
      ]) {
        const r = await put(value);
        errorIs(r, 422, undefined, JSON.stringify(value));
        eq(r.json().error, 'invalid input', 'error');
        assert(r.json().fields.some((f) => f.field.includes(field)), `${JSON.stringify(value)} names ${field}: ${r.text}`);
      }
      errorIs(await put('sixty'), 400, undefined, 'not an object');
      errorIs(await t.admin('PUT', `/tenants/${TENANT_ID}/conversation`, '{"idle_gap_mins": '), 400, undefined, 'bad JSON');
      eq(await section(), before, 'nothing saved');
      const ok = await put({ idle_gap_mins: 300, handoff_cooldown_mins: 30, max_history_messages: 12 });
      eq(ok.status, 200, `in range (${ok.text})`);
      eq(ok.json(), { saved: true }, 'answer');
      assert((await section()).includes('idle_gap_mins = 300'), 'saved');
    },
  },
  {
    name: 'reply rules: PUT /rules/{channel} saves and exports; a channel not connected or unknown → 422',
    run: async (t) => {
      const rules = {
        default_rule: { kind: 'canned', text: 'Hello from Contract Shop, now with rules.' },
        rules: [{ name: 'hours', match: { kind: 'keywords', keywords: ['hours'] }, reply: { kind: 'canned', text: 'We open at 9am.' } }],
      };
      const put = (channel, body) => t.admin('PUT', `/tenants/${TENANT_ID}/rules/${channel}`, body);
      const ok = await put('discord', JSON.stringify(rules));
      eq(ok.status, 200, `save (${ok.text})`);
      eq(ok.json(), { saved: true, unembedded_rules: [] }, 'answer');
      const file = await t.admin('GET', `/tenants/${TENANT_ID}`);
      assert(file.text.includes('now with rules'), 'exported');
      errorIs(await put('email', JSON.stringify({ ...rules, rules: [{ ...rules.rules[0], name: '' }] })), 422, undefined, 'a nameless rule');
      const web = await put('web', JSON.stringify(rules));
      errorIs(web, 422, { error: 'invalid input', fields: [{ field: 'channel', message: 'web is not connected' }] }, 'not connected');
      const unknown = await put('telegram', JSON.stringify(rules));
      errorIs(unknown, 422, undefined, 'unknown channel');
      eq(unknown.json().fields?.[0]?.field, 'channel', 'field');
      errorIs(await put('discord', '{"default_rule": {"kind": "shout"}}'), 400, undefined, 'bad JSON shape');
      errorIs(await t.admin('GET', `/tenants/${TENANT_ID}/rules/discord`), 405, { error: 'method not allowed' }, 'GET');
    },
  },
  {
    name: 'credits: a grant adds to the balance once; a bad grant → 400 or 422',
    run: async (t) => {
      const balance = async () => {
        const r = await t.admin('GET', `/tenants/${TENANT_ID}/credits`);
        eq(r.status, 200, `balance (${r.text})`);
        eq(r.json().tenant, TENANT_ID, 'tenant');
        return r.json().balance;
      };
      const before = await balance();
      eq(before, '5', 'starting credits');
      const grant = JSON.stringify({ grant_id: `pay-${runTag}`, amount: '2.5', reason: 'contract test' });
      const first = await t.admin('POST', `/tenants/${TENANT_ID}/credits`, grant);
      eq(first.status, 200, `grant (${first.text})`);
      eq(first.json(), { outcome: 'granted', balance: '7.5' }, 'first grant');
      const second = await t.admin('POST', `/tenants/${TENANT_ID}/credits`, grant);
      eq(second.json(), { outcome: 'already_granted', balance: '7.5' }, 'the same grant again');
      eq(await balance(), '7.5', 'balance');
      const zero = await t.admin('POST', `/tenants/${TENANT_ID}/credits`, JSON.stringify({ grant_id: 'zero', amount: '0' }));
      assert([400, 422].includes(zero.status), `zero grant: ${zero.status} ${zero.text}`);
      errorIs(await t.admin('POST', `/tenants/${TENANT_ID}/credits`, '{"grant_id": "x", "amount": "lots"}'), 400, undefined, 'bad amount');
      errorIs(await t.admin('POST', `/tenants/${TENANT_ID}/credits`, '{"grant_id": "x", "amount": "1", "extra": 1}'), 400, undefined, 'unknown field');
      eq(await balance(), '7.5', 'balance after refused grants');
    },
  },
  {
    name: 'audit log: state changes are recorded as admin-api, newest first, never a token; paged and filtered; bad query → 422',
    run: async (t) => {
      errorIs(await t.request('GET', '/api/v1/audit'), 401, UNAUTHORIZED, 'no token');
      const r = await t.admin('GET', `/audit?tenant=${TENANT_ID}`);
      eq(r.status, 200, `list (${r.text})`);
      const entries = r.json().entries;
      const actions = entries.map((e) => e.action);
      for (const a of ['tenant.put', 'secret.put', 'credits.grant', 'conversation.put', 'rules.put']) {
        assert(actions.includes(a), `${a} in ${actions}`);
      }
      // The repeated grant of the credits case changed nothing and is not recorded.
      eq(actions.filter((a) => a === 'credits.grant').length, 1, 'one grant recorded');
      for (const e of entries) {
        eq(Object.keys(e).sort(), ['action', 'actor', 'at', 'detail', 'seq', 'tenant'], 'an entry');
        eq(e.actor, 'admin-api', 'actor');
        eq(e.tenant, TENANT_ID, 'tenant');
      }
      const seqs = entries.map((e) => e.seq);
      eq(seqs, [...seqs].sort((a, b) => b - a), 'newest first');
      assert(!r.text.includes(WA_TOKEN) && !r.text.includes(IG_TOKEN), 'no channel token in the log');
      assert(entries.some((e) => e.action === 'secret.put' && e.detail === `token sealed for wa_phone:${WA_PHONE}`), `secret detail: ${r.text}`);
      const one = await t.admin('GET', `/audit?tenant=${TENANT_ID}&limit=1`);
      eq(one.json().entries.length, 1, 'limit');
      eq(one.json().next_before, seqs[0], 'cursor');
      const next = await t.admin('GET', `/audit?tenant=${TENANT_ID}&limit=1&before=${seqs[0]}`);
      eq(next.json().entries[0].seq, seqs[1], 'the next page');
      eq((await t.admin('GET', '/audit?tenant=nobody-shop')).json(), { entries: [], next_before: null }, 'another tenant');
      const badTenant = await t.admin('GET', '/audit?tenant=Not%20A%20Tenant');
      errorIs(badTenant, 422, undefined, 'bad tenant');
      eq(badTenant.json().fields?.[0]?.field, 'tenant', 'field');
      errorIs(await t.admin('GET', '/audit?limit=many'), 422, { error: 'invalid input', fields: [{ field: 'limit', message: 'must be a whole number' }] }, 'bad limit');
      errorIs(await t.admin('POST', '/audit'), 405, { error: 'method not allowed' }, 'POST');
    },
  },
  {
    name: 'pricing: GET lists the defaults; a bad PUT → 422 with fields, nothing saved; a good one is listed and audited',
    run: async (t) => {
      errorIs(await t.request('GET', '/api/v1/pricing'), 401, UNAUTHORIZED, 'no token');
      errorIs(await t.request('PUT', '/api/v1/pricing', { body: '{"currency":"GBP","price":"1"}' }), 401, UNAUTHORIZED, 'PUT without token');
      const list = async () => {
        const r = await t.admin('GET', '/pricing');
        eq(r.status, 200, `list (${r.text})`);
        return r.json().pricing;
      };
      const before = await list();
      const usd = before.find((p) => p.currency === 'USD');
      eq(usd, { currency: 'USD', per_ai_reply: '0.02', default: '0.02', updated_at: null }, 'the USD default');
      const put = (body) => t.admin('PUT', '/pricing', body);
      errorIs(await put('{"currency":"gbp","price":"0"}'), 422, {
        error: 'invalid input',
        fields: [
          { field: 'currency', message: 'must be a three-letter ISO 4217 code in capitals, e.g. INR' },
          { field: 'price', message: 'must be more than 0 credits' },
        ],
      }, 'bad code and zero price');
      errorIs(await put('{"currency":"GBP","price":"lots"}'), 422, undefined, 'not a number');
      errorIs(await put('{"currency":"GBP","price":"2000000"}'), 422, undefined, 'too expensive');
      errorIs(await put('{"currency":"GBP"'), 400, undefined, 'bad JSON');
      errorIs(await put('{"currency":"GBP","price":"1","x":1}'), 400, undefined, 'unknown field');
      eq(await list(), before, 'nothing saved');
      // GBP: no tenant of the suite bills in it, so later cases charge as before.
      const ok = await put('{"currency":"GBP","price":"0.05"}');
      eq(ok.status, 200, `save (${ok.text})`);
      eq(ok.json(), { currency: 'GBP', previous: null, per_ai_reply: '0.05' }, 'answer');
      const gbp = (await list()).find((p) => p.currency === 'GBP');
      eq([gbp.per_ai_reply, gbp.default], ['0.05', null], 'listed');
      assert(Number.isInteger(gbp.updated_at), `updated_at ${gbp.updated_at}`);
      const log = (await t.admin('GET', '/audit?limit=1')).json().entries[0];
      eq([log.action, log.actor, log.tenant, log.detail], ['pricing.set', 'admin-api', null, 'GBP: 0.05 per AI reply (was not priced)'], 'audited');
      errorIs(await t.admin('DELETE', '/pricing'), 405, { error: 'method not allowed' }, 'DELETE');
    },
  },
  {
    name: 'dead letters: an empty list, a bad limit → 422, an unknown id → 404, GET retry → 405',
    run: async (t) => {
      const list = await t.admin('GET', `/dead-letters?tenant=${TENANT_ID}`);
      eq(list.status, 200, `list (${list.text})`);
      eq(list.json(), { dead_letters: [] }, 'nothing dead');
      const limit = await t.admin('GET', '/dead-letters?limit=lots');
      errorIs(limit, 422, { error: 'invalid input', fields: [{ field: 'limit', message: 'must be a whole number' }] }, 'bad limit');
      errorIs(await t.admin('GET', '/dead-letters?tenant=Not%20A%20Tenant'), 422, undefined, 'bad tenant');
      for (const id of ['999999', 'no-such-letter']) {
        errorIs(await t.admin('POST', `/dead-letters/${id}/retry`), 404, { error: `dead letter ${id} not found` }, `retry ${id}`);
      }
      const get = await t.admin('GET', '/dead-letters/999999/retry');
      errorIs(get, 405, { error: 'method not allowed' }, 'GET retry');
      eq(get.headers.get('allow'), 'POST', 'Allow');
    },
  },
  {
    name: 'GET /tenants/{t}/outbox shows the sent WhatsApp reply, the same fields on every target',
    run: async (t) => {
      const rows = await t.until('the reply sent in the outbox', async () => {
        const r = await t.admin('GET', `/tenants/${TENANT_ID}/outbox`);
        eq(r.status, 200, `outbox (${r.text})`);
        const sent = r.json().outbox.filter((row) => row.channel === 'whatsapp' && row.state === 'sent');
        return sent.length > 0 && r.json().outbox;
      });
      const row = rows.find((x) => x.channel === 'whatsapp' && x.state === 'sent');
      eq(row.tenant, TENANT_ID, 'tenant');
      eq(row.purpose, 'reply', 'purpose');
      eq(row.dry_run, false, 'dry_run');
      eq(row.parts_sent, 1, 'parts_sent');
      assert(typeof row.key === 'string' && row.key.startsWith('reply:'), `key ${row.key}`);
      // Canned replies are not stamped with a conversation (only the AI flow is).
      eq(row.conversation_id, null, 'conversation_id');
      const ids = JSON.parse(row.provider_ids);
      assert(Array.isArray(ids) && ids.length === 1 && ids[0].startsWith('wamid.'), `provider_ids ${row.provider_ids}`);
      eq(Object.keys(row).sort(), ['channel', 'conversation_id', 'dry_run', 'in_doubt_part', 'in_doubt_since',
        'key', 'parts_sent', 'provider_ids', 'purpose', 'state', 'tenant'], 'fields');
    },
  },
  {
    name: 'demo: GET /demo/personas lists personas with prompts; POST /demo/chat answers, bad JSON → 400, unknown persona → 422',
    run: async (t) => {
      const list = await t.request('GET', '/demo/personas');
      eq(list.status, 200, 'personas');
      const { personas } = list.json();
      assert(personas.length > 0, 'personas');
      for (const p of personas) {
        eq(Object.keys(p).sort(), ['description', 'greeting', 'label', 'prompt', 'slug'], `${p.slug} fields`);
        assert(p.prompt.includes('BEGIN BUSINESS PERSONA'), `${p.slug} prompt is the envelope`);
      }
      const post = (body) => t.request('POST', '/demo/chat', { body, headers: { 'content-type': 'application/json' } });
      errorIs(await post('not json'), 400, undefined, 'bad JSON');
      const unknown = await post(JSON.stringify({ persona: 'nope', history: [], message: 'hi', handoff: false }));
      errorIs(unknown, 422, undefined, 'unknown persona');
      eq(unknown.json().fields?.[0]?.field, 'persona', 'field');
      const chat = await post(JSON.stringify({ persona: personas[0].slug, history: [], message: 'Do you have eggless cakes?', handoff: false }));
      eq(chat.status, 200, `chat (${chat.text})`);
      eq(chat.json(), { reply: MODEL_REPLY, handoff: false }, 'answer');
    },
  },
  {
    name: 'operator accounts: PUT /operators → 201 then 200, bad input → 422 nothing saved; the panel signs in by email and password; a new password, sign out everywhere and a removed account end its sessions',
    run: async (t) => {
      const b = browser(t);
      const email = 'accounts@contract.test';
      const before = (await t.admin('GET', '/operators')).json().operators.length;
      errorIs(await t.request('GET', '/api/v1/operators'), 401, UNAUTHORIZED, 'no token');
      for (const [body, field] of [
        [{ email: 'not-an-email', password: 'long enough password' }, 'email'],
        [{ email, password: 'short' }, 'password'],
      ]) {
        const bad = await t.admin('PUT', '/operators', JSON.stringify(body));
        errorIs(bad, 422, undefined, `bad ${field}`);
        eq(bad.json().fields?.[0]?.field, field, `${field} marked`);
      }
      eq((await t.admin('GET', '/operators')).json().operators.length, before, 'nothing saved');
      const made = await t.admin('PUT', '/operators', JSON.stringify({ email: 'Accounts@Contract.Test', password: 'first password 123' }));
      eq([made.status, made.json().operator.email, made.json().created], [201, email, true], 'created, email normalized');
      const listed = (await t.admin('GET', '/operators')).json().operators;
      assert(listed.some((o) => o.email === email), 'listed');
      assert(!JSON.stringify(listed).includes('argon2'), 'no hash in the list');

      const wrong = await b.operatorLogin(email, 'not the password', { create: false });
      eq(wrong.status, 401, 'a wrong password');
      assert(wrong.text.includes('id="manage-login-error"'), 'says so');
      eq((await b.post('/manage/login', { email, password: 'first password 123' })).status, 403, 'login without CSRF');
      const ok = await b.operatorLogin(email, 'first password 123', { create: false });
      eq([ok.status, ok.headers.get('location')], [303, '/manage'], 'signed in');
      eq((await b.get('/manage')).status, 200, 'the panel');
      const audit = (await t.admin('GET', '/audit?limit=1')).json().entries[0];
      eq([audit.actor, audit.action], [`operator:${email}`, 'operator.login'], 'audited as the operator');

      const again = await t.admin('PUT', '/operators', JSON.stringify({ email, password: 'second password 456' }));
      eq([again.status, again.json().created], [200, false], 'a new password');
      eq((await b.get('/manage')).status, 303, 'the old session ended');
      eq((await b.operatorLogin(email, 'second password 456', { create: false })).status, 303, 'the new password signs in');
      const csrf = hidden(await b.get('/manage'), 'csrf');
      eq((await b.post('/manage/logout-everywhere', { csrf })).status, 303, 'sign out everywhere');
      eq((await b.get('/manage')).status, 303, 'signed out');

      eq((await b.operatorLogin(email, 'second password 456', { create: false })).status, 303, 'in again');
      eq((await t.admin('DELETE', `/operators/${encodeURIComponent(email)}`)).status, 204, 'removed');
      eq((await b.get('/manage')).status, 303, 'a removed account signs no one in');
      errorIs(await t.admin('DELETE', `/operators/${encodeURIComponent(email)}`), 404, undefined, 'removed twice');
    },
  },
  {
    name: 'personas catalog: a new entry is a draft off the demo until its review approves it; bad input → 422, nothing saved; no CSRF → 403; the system persona is never deleted',
    run: async (t) => {
      const b = browser(t);
      eq((await b.operatorLogin()).status, 303, 'operator signed in');
      const list = await b.get('/manage/personas');
      eq(list.status, 200, 'the catalog page');
      for (const slug of ['bakery', 'concierge', 'dental-clinic']) assert(list.text.includes(`id="catalog-${slug}"`), `${slug} seeded`);
      const csrf = hidden(list, 'csrf');
      const offered = async (get = (u) => t.request('GET', u)) => (await get('/demo/personas')).json().personas.map((p) => p.slug);
      const bad = await b.post('/manage/personas', { csrf, slug: 'Not OK', label: '', greeting: '', mode: 'custom', custom: '' });
      eq(bad.status, 422, 'a bad entry');
      for (const field of ['slug', 'label', 'greeting', 'custom']) assert(bad.text.includes(`id="${field}-error"`), `${field} marked`);
      const taken = await b.post('/manage/personas', { csrf, slug: 'bakery', label: 'Other', greeting: 'Hi', mode: 'custom', custom: 'Sell bread.' });
      eq(taken.status, 422, 'a taken slug');
      eq(JSON.stringify(await offered()), JSON.stringify(['bakery', 'concierge', 'dental-clinic']), 'nothing saved');

      const marker = 'CONTRACT-CAFE-REVIEW';
      const release = t.holdReviews(marker);
      const made = await b.post('/manage/personas', {
        csrf, slug: 'contract-cafe', label: 'Contract Cafe', description: 'Coffee', greeting: 'Hello!',
        mode: 'custom', custom: `You answer for a small cafe. ${marker}`,
      });
      eq(made.status, 303, `created (${made.text.slice(0, 200)})`);
      eq(made.headers.get('location'), '/manage/personas/contract-cafe?done=queued', 'a draft, review queued');
      assert(!(await offered()).includes('contract-cafe'), 'a draft is not offered');
      release();
      await t.until('the review approves it', async () => (await offered((u) => t.peek(u))).includes('contract-cafe'));
      const page = await b.get('/manage/personas/contract-cafe');
      assert(page.text.includes('<span class="badge approved" id="catalog-review"'), 'approved on the page');

      eq((await b.post('/manage/personas/contract-cafe/review', { action: 'reject' })).status, 403, 'no CSRF');
      assert((await offered()).includes('contract-cafe'), 'nothing changed');
      eq((await b.post('/manage/personas/contract-cafe/review', { csrf, action: 'reject' })).status, 303, 'rejected by the operator');
      assert(!(await offered()).includes('contract-cafe'), 'a rejected entry is not offered');
      eq((await b.post('/manage/personas/concierge/delete', { csrf })).status, 422, 'the system persona stays');
      eq((await b.post('/manage/personas/contract-cafe/delete', { csrf })).status, 303, 'deleted');
      eq((await b.post('/manage/personas/contract-cafe/delete', { csrf })).status, 404, 'gone');
      const actions = (await t.admin('GET', '/audit?limit=5')).json().entries.map((e) => e.action);
      eq(actions.slice(0, 3).join(' '), 'catalog.delete catalog.reject catalog.save', 'audited');
    },
  },
  {
    name: 'dashboard owners: PUT /tenants/{t}/owners → 201 then 200; bad input → 422 with fields, unknown tenant → 404, no token → 401',
    run: async (t) => {
      const put = (tenant, body) => t.admin('PUT', `/tenants/${tenant}/owners`, JSON.stringify(body), { 'content-type': 'application/json' });
      const bad = await put(TENANT_ID, { email: 'not-an-email', password: 'short' });
      errorIs(bad, 422, undefined, 'bad input');
      eq(bad.json().fields.map((f) => f.field), ['email', 'password'], 'fields');
      errorIs(await put(TENANT_ID, {}), 422, undefined, 'missing fields');
      errorIs(await put('no-such-tenant', { email: OWNER_EMAIL, password: OWNER_PASSWORD }), 404, undefined, 'unknown tenant');
      errorIs(await t.request('PUT', `/api/v1/tenants/${TENANT_ID}/owners`, { body: JSON.stringify({ email: OWNER_EMAIL, password: OWNER_PASSWORD }) }),
        401, UNAUTHORIZED, 'no token');
      errorIs(await t.admin('GET', `/tenants/${TENANT_ID}/owners`), 405, undefined, 'GET');
      const created = await put(TENANT_ID, { email: ` ${OWNER_EMAIL.toUpperCase()} `, password: 'a first password' });
      eq(created.status, 201, `create (${created.text})`);
      eq(created.json().created, true, 'created');
      eq(created.json().owner.email, OWNER_EMAIL, 'the email, normalized');
      eq(Object.keys(created.json().owner).sort(), ['email', 'id', 'tenant'], 'owner fields');
      const again = await put(TENANT_ID, { email: OWNER_EMAIL, password: OWNER_PASSWORD });
      eq(again.status, 200, `new password (${again.text})`);
      eq(again.json().created, false, 'created');
    },
  },
  {
    name: 'dashboard login: the form sets a CSRF cookie; a wrong password → 401; the right one → 303 with a Secure HttpOnly session; signed out → 303 to login',
    run: async (t) => {
      const b = browser(t);
      const out = await b.get('/dashboard/rules');
      eq(out.status, 303, 'signed out');
      eq(out.headers.get('location'), '/dashboard/login?next=%2Fdashboard%2Frules', 'to the login page');
      const htmx = await b.get('/dashboard/rules', { 'hx-request': 'true' });
      errorIs(htmx, 401, { error: 'sign in required' }, 'htmx');
      eq(htmx.headers.get('hx-redirect'), '/dashboard/login?next=%2Fdashboard%2Frules', 'HX-Redirect');
      errorIs(await b.post('/dashboard/persona', {}), 401, { error: 'sign in required' }, 'POST signed out');

      const form = await b.get('/dashboard/login?next=%2Fdashboard');
      eq(form.status, 200, 'login form');
      assert((form.headers.get('content-type') ?? '').startsWith('text/html'), 'HTML');
      assert(form.text.includes('id="login-form"'), 'the form');
      const csrfCookie = form.headers.getSetCookie().find((c) => c.startsWith(CSRF_COOKIE));
      assert(csrfCookie && /; Secure; SameSite=Lax; Path=\/; Max-Age=604800$/.test(csrfCookie), `CSRF cookie ${csrfCookie}`);
      eq(hidden(form, 'csrf'), b.cookie(CSRF_COOKIE), 'the form carries the cookie token');

      const wrong = await b.post('/dashboard/login', { csrf: hidden(form, 'csrf'), email: OWNER_EMAIL, password: 'not the password' });
      eq(wrong.status, 401, 'wrong password');
      assert(wrong.text.includes('id="login-error"'), 'one vague message');
      assert(!wrong.headers.getSetCookie().some((c) => c.startsWith(SESSION_COOKIE)), 'no session');
      const unknown = await b.post('/dashboard/login', { csrf: hidden(form, 'csrf'), email: 'nobody@contract.test', password: 'not the password' });
      eq(unknown.status, 401, 'unknown email');

      const ok = await b.post('/dashboard/login', { csrf: hidden(form, 'csrf'), email: OWNER_EMAIL, password: OWNER_PASSWORD, next: '//evil.example' });
      eq(ok.status, 303, `login (${ok.text.slice(0, 200)})`);
      eq(ok.headers.get('location'), '/dashboard', 'never off-site');
      const session = ok.headers.getSetCookie().find((c) => c.startsWith(SESSION_COOKIE));
      assert(session && /^__Host-concierge_session=[A-Za-z0-9_-]{43}; HttpOnly; Secure; SameSite=Lax; Path=\/; Max-Age=604800$/.test(session), `session cookie ${session}`);
      const page = await b.get('/dashboard');
      eq(page.status, 200, 'the dashboard');
      eq(hidden(page, 'csrf'), b.cookie(CSRF_COOKIE), 'forms carry the session token');
      assert(b.cookie(CSRF_COOKIE) !== hidden(form, 'csrf'), 'the session has its own token');
      const back = await b.get('/dashboard/login');
      eq(back.status, 303, 'the login page, signed in');
    },
  },
  {
    name: 'dashboard CSRF: login without the token → 403; logout without or with a wrong token → 403 and nothing changes; cross-site → 403',
    run: async (t) => {
      const b = browser(t);
      const form = await b.get('/dashboard/login');
      errorIs(await b.post('/dashboard/login', { email: OWNER_EMAIL, password: OWNER_PASSWORD }), 403,
        { error: 'missing or wrong CSRF token' }, 'login without the token');
      errorIs(await b.post('/dashboard/login', { csrf: hidden(form, 'csrf'), email: OWNER_EMAIL, password: OWNER_PASSWORD }, { origin: 'https://evil.example' }),
        403, { error: 'cross-site request refused' }, 'login from another site');
      eq((await b.login()).status, 303, 'login');
      const stale = hidden(form, 'csrf');
      errorIs(await b.post('/dashboard/logout', {}), 403, { error: 'missing or wrong CSRF token' }, 'logout without the token');
      errorIs(await b.post('/dashboard/logout', { csrf: stale }), 403, { error: 'missing or wrong CSRF token' }, 'a wrong token');
      errorIs(await b.post('/dashboard/logout-everywhere', {}, { 'x-csrf-token': stale }), 403, { error: 'missing or wrong CSRF token' }, 'a wrong header');
      errorIs(await b.post('/dashboard/logout', { csrf: b.cookie(CSRF_COOKIE) }, { 'sec-fetch-site': 'cross-site' }),
        403, { error: 'cross-site request refused' }, 'cross-site');
      eq((await b.get('/dashboard')).status, 200, 'still signed in');
    },
  },
  {
    name: 'dashboard logout → 303 and the session stops working; logout everywhere ends every session; GET logout → 405',
    run: async (t) => {
      const phone = browser(t);
      const laptop = browser(t);
      const tablet = browser(t);
      for (const b of [phone, laptop, tablet]) eq((await b.login()).status, 303, 'login');
      errorIs(await phone.get('/dashboard/logout'), 405, undefined, 'GET logout');
      eq((await phone.get('/dashboard')).status, 200, 'GET changed nothing');
      const out = await phone.post('/dashboard/logout', { csrf: phone.cookie(CSRF_COOKIE) });
      eq(out.status, 303, 'logout');
      eq(out.headers.get('location'), '/dashboard/login', 'to the login page');
      eq((await phone.get('/dashboard')).status, 303, 'the session ended');
      eq((await laptop.get('/dashboard')).status, 200, 'other sessions go on');
      const all = await laptop.post('/dashboard/logout-everywhere', {}, { 'x-csrf-token': laptop.cookie(CSRF_COOKIE) });
      eq(all.status, 303, 'logout everywhere (htmx header)');
      eq((await laptop.get('/dashboard')).status, 303, 'this session ended');
      eq((await tablet.get('/dashboard')).status, 303, 'every session ended');
      eq((await tablet.login()).status, 303, 'a new login works');
      eq((await tablet.get('/dashboard')).status, 200, 'signed in again');
    },
  },
  {
    name: 'dashboard login rate limit: 5 failures for an email → the 6th attempt is 429 with Retry-After',
    run: async (t) => {
      const b = browser(t);
      const form = await b.get('/dashboard/login');
      const csrf = hidden(form, 'csrf');
      for (let i = 0; i < 5; i++) {
        eq((await b.post('/dashboard/login', { csrf, email: LIMITED_EMAIL, password: `wrong password ${i}` })).status, 401, `failure ${i + 1}`);
      }
      const limited = await b.post('/dashboard/login', { csrf, email: LIMITED_EMAIL, password: 'wrong password 6' });
      eq(limited.status, 429, 'rate limited');
      const retry = Number(limited.headers.get('retry-after'));
      assert(retry >= 1 && retry <= 900, `Retry-After ${limited.headers.get('retry-after')}`);
      assert(limited.text.includes('id="login-error"'), 'the form says so');
      eq((await b.login()).status, 303, 'another email is not limited');
    },
  },
  {
    name: 'dashboard forms: bad input → 422 with the field marked and nothing saved (timing card, persona, rules, channels); a valid timing save → 200',
    run: async (t) => {
      const b = browser(t);
      eq((await b.login()).status, 303, 'signed in');
      const stored = async () => (await t.admin('GET', `/tenants/${TENANT_ID}`)).text;
      const before = await stored();
      const settings = await b.get('/dashboard/settings');
      eq(settings.status, 200, 'settings page');
      const csrf = hidden(settings, 'csrf');
      assert(csrf, 'the card carries the CSRF token');
      const htmx = { 'hx-request': 'true', 'x-csrf-token': csrf };
      const put = (form) => t.request('PUT', '/dashboard/settings/conversation', {
        body: new URLSearchParams(form).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `${SESSION_COOKIE}=${b.cookie(SESSION_COOKIE)}; ${CSRF_COOKIE}=${b.cookie(CSRF_COOKIE)}`, ...htmx },
      });
      for (const [form, field] of [
        [{ idle_gap_mins: '30', handoff_cooldown_mins: '60' }, 'idle_gap_mins'],
        [{ max_history_messages: '500' }, 'max_history_messages'],
        [{ handoff_cooldown_mins: 'soon' }, 'handoff_cooldown_mins'],
      ]) {
        const r = await put(form);
        eq(r.status, 422, `timing ${JSON.stringify(form)}`);
        assert(r.text.includes(`id="${field}-error"`), `${field} marked inline`);
        assert(r.text.startsWith('<section'), 'htmx gets the card, not a page');
        eq(await stored(), before, 'nothing saved');
      }
      const persona = await b.post('/dashboard/persona', { csrf, mode: 'builder', voice: 'warm', business_name: '', business_type: '', goal: '' });
      eq(persona.status, 422, 'persona without a name');
      assert(persona.text.includes('id="business_name-error"'), 'business name marked');
      const rules = await b.post(`/dashboard/rules/whatsapp`, {
        csrf, action: 'save', rows: '1', 'rule-0-name': '', 'rule-0-matcher': 'keywords', 'rule-0-keywords': '',
        'rule-0-reply': 'canned', 'rule-0-text': '', default_reply: 'prompt', default_text: '', enabled: '1',
      });
      eq(rules.status, 422, 'an empty rule');
      assert(rules.text.includes('id="rules-failed"'), 'the form says so');
      const channel = await b.post('/dashboard/channels/whatsapp', { csrf, action: 'save', phone_number_id: 'not an id' });
      eq(channel.status, 422, 'a phone number id with spaces');
      assert(channel.text.includes('id="channels-errors"'), 'the errors are listed');
      eq(await stored(), before, 'nothing saved by any bad form');
      const ok = await put({ idle_gap_mins: '120', handoff_cooldown_mins: '', max_history_messages: '' });
      eq(ok.status, 200, 'a valid timing save');
      assert(ok.text.includes('id="timing-saved"'), 'saved');
      assert((await stored()).includes('idle_gap_mins = 120'), 'stored');
    },
  },
  {
    name: 'owner sign-in with Google and Facebook: state checked, the code exchanged, the owner found by verified email; refusals sign no one in',
    run: async (t) => {
      const OAUTH_COOKIE = '__Host-concierge_oauth';
      // Start at /auth/{provider}, consent at the provider (for `email`), come back.
      const signIn = async (b, provider, email, next = '/dashboard/rules') => {
        const start = await b.get(`/auth/${provider}?next=${encodeURIComponent(next)}`);
        eq(start.status, 303, `${provider}: to the provider`);
        const cookie = start.headers.getSetCookie().find((c) => c.startsWith(OAUTH_COOKIE));
        assert(cookie && /; HttpOnly; Secure; SameSite=Lax; Path=\/; Max-Age=600$/.test(cookie), `state cookie ${cookie}`);
        const to = new URL(start.headers.get('location'));
        eq(to.searchParams.get('redirect_uri').replace(/^https?:\/\/[^/]+/, ''), provider === 'google' ? '/auth/callback' : '/auth/facebook/callback', 'our callback');
        assert(!start.headers.get('location').includes('secret'), 'no secret in the URL');
        to.searchParams.set('login_hint', email);
        const consent = await fetch(to, { redirect: 'manual' });
        eq(consent.status, 302, 'the provider consents');
        const back = new URL(consent.headers.get('location'));
        return { back: `${back.pathname}${back.search}`, state: back.searchParams.get('state') };
      };
      const used = {};
      for (const provider of ['google', 'facebook']) {
        const b = browser(t);
        const { back } = await signIn(b, provider, OWNER_EMAIL);
        used[provider] = back;
        const done = await b.get(back);
        eq(done.status, 303, `${provider}: signed in (${done.text.slice(0, 200)})`);
        eq(done.headers.get('location'), '/dashboard/rules', `${provider}: to next`);
        assert(b.cookie(SESSION_COOKIE), `${provider}: a session`);
        assert(!b.cookie(OAUTH_COOKIE), `${provider}: the state is used up`);
        eq((await b.get('/dashboard')).status, 200, `${provider}: the dashboard`);
        // The same callback again (another browser, then the same one): nobody signs in.
        const other = browser(t);
        eq((await other.get(back)).status, 403, `${provider}: replayed without the cookie`);
        assert(!other.cookie(SESSION_COOKIE), `${provider}: no session from a replay`);
      }
      // Google with an unverified address, Facebook without one: 403, nobody signed in.
      for (const provider of ['google', 'facebook']) {
        const b = browser(t);
        const { back } = await signIn(b, provider, 'unverified-owner@contract.test');
        const r = await b.get(back);
        eq(r.status, 403, `${provider}: unverified`);
        assert(r.text.includes('id="login-error"'), `${provider}: says why`);
        assert(!b.cookie(SESSION_COOKIE), `${provider}: no session`);
      }
      // A verified address with no account (sign-up closed): 403; a wrong state: 403;
      // cancelled: 401; a used code: the provider refuses, 502.
      {
        const b = browser(t);
        const { back } = await signIn(b, 'google', 'stranger@contract.test');
        eq((await b.get(back)).status, 403, 'no account');
        const c = browser(t);
        const { back: good } = await signIn(c, 'google', OWNER_EMAIL);
        eq((await c.get(good.replace(/state=[^&]*/, 'state=forged'))).status, 403, 'a forged state');
        const d = browser(t);
        const { state } = await signIn(d, 'facebook', OWNER_EMAIL);
        eq((await d.get(`/auth/facebook/callback?error=access_denied&state=${state}`)).status, 401, 'cancelled');
        const e = browser(t);
        const { state: fresh } = await signIn(e, 'google', OWNER_EMAIL);
        const r = await e.get(used.google.replace(/state=[^&]*/, `state=${fresh}`));
        eq(r.status, 502, 'a used code');
        assert(!/ya29|EAAB|GOCSPX/.test(r.text), 'no token or secret on the page');
      }
      errorIs(await t.request('POST', '/auth/google'), 405, undefined, 'POST');
      errorIs(await t.request('GET', '/auth/github'), 404, undefined, 'unknown provider');
    },
  },
  {
    name: 'dashboard signup is closed unless the deployment opens it → 403',
    run: async (t) => {
      const b = browser(t);
      const page = await b.get('/dashboard/signup');
      eq(page.status, 403, 'GET');
      assert(page.text.includes('id="signup-closed"'), 'says so');
      eq((await b.post('/dashboard/signup', { email: 'new@contract.test', password: OWNER_PASSWORD, business: 'New Shop' })).status, 403, 'POST');
      const tenants = await t.admin('GET', '/tenants');
      eq(tenants.json().tenants, [TENANT_ID], 'no tenant was made');
    },
  },
  {
    name: 'knowledge base: PUT a document → 201, the same text → 200 unchanged; listed and searched; bad input → 422, nothing stored; DELETE → 204, then 404',
    expectFail: { worker: 'the knowledge base is not on the Worker yet: its bundle has no room for the document parsers, so these routes answer 501 (docs/knowledge.md)' },
    run: async (t) => {
      const base = `/tenants/${TENANT_ID}/knowledge`;
      const faq = '# Cakes\n## Eggless cakes\nEvery cake can be made eggless at no extra cost.\n\n## Delivery\nWe deliver within 5 km of the shop.\n';
      errorIs(await t.request('GET', `/api/v1${base}`), 401, UNAUTHORIZED, 'no token');
      const put = await t.admin('PUT', `${base}/faq/cakes%20today.md`, faq);
      eq([put.status, put.json().outcome, put.json().chunks], [201, 'stored', 2], `stored (${put.text})`);
      const again = await t.admin('PUT', `${base}/faq/cakes%20today.md`, faq.replaceAll('\n', '\r\n'));
      eq([again.status, again.json().outcome], [200, 'unchanged'], 'the same text, other line ends');
      const listed = (await t.admin('GET', base)).json().documents;
      eq(listed.map((d) => [d.source, d.kind, d.chunks]), [['faq/cakes today.md', 'markdown', 2]], 'listed');
      const found = (await t.admin('GET', `${base}/search?q=${encodeURIComponent('Do you have eggless cakes?')}`)).json().results;
      eq([found[0].source, found[0].heading], ['faq/cakes today.md', 'Cakes > Eggless cakes'], 'the passage that answers, first');
      for (const [method, url, body, field] of [
        ['PUT', `${base}/photo.png`, 'x', 'document'],
        ['PUT', `${base}/empty.md`, ' \n', 'document'],
        ['PUT', `${base}/a%2Fb.md`, faq, 'document'],
        ['PUT', `${base}/broken.csv`, 'a,b\n1\n', 'document'],
        ['GET', `${base}/search`, undefined, 'q'],
      ]) {
        const bad = await t.admin(method, url, body);
        errorIs(bad, 422, undefined, `${method} ${url}`);
        eq(bad.json().fields?.[0]?.field, field, `${url}: ${field} marked`);
      }
      eq((await t.admin('GET', base)).json().documents.length, 1, 'nothing of the refused ones stored');
      errorIs(await t.admin('PUT', '/tenants/no-such-shop/knowledge/a.md', faq), 404, undefined, 'unknown tenant');
      errorIs(await t.admin('POST', base), 405, undefined, 'wrong method');
      eq((await t.admin('DELETE', `${base}/faq/cakes%20today.md`)).status, 204, 'deleted');
      errorIs(await t.admin('DELETE', `${base}/faq/cakes%20today.md`), 404, undefined, 'deleted twice');
      eq((await t.admin('GET', base)).json().documents, [], 'gone');
    },
  },
];

/// Checks every error answer of the run (recorded by run.mjs): JSON `{"error": text}` plus
/// `fields` for 422, nothing else, and no internal text.
export function checkErrorBodies(responses) {
  const problems = [];
  for (const r of responses) {
    if (r.status < 400) continue;
    const where = `${r.case}: ${r.method} ${r.path} → ${r.status}`;
    // The dashboard's and the operator panel's refused forms (a wrong password, a rate limit,
    // signup closed, field errors) are pages for people: HTML, still without internal text.
    if (/^\/(dashboard|auth|manage)(\/|\?|$)/.test(r.path) && (r.contentType ?? '').startsWith('text/html')) {
      if (INTERNAL_TEXT.test(r.text)) problems.push(`${where}: internal text in ${r.text.slice(0, 200)}`);
      continue;
    }
    if (!(r.contentType ?? '').startsWith('application/json')) problems.push(`${where}: content-type ${r.contentType}`);
    let body;
    try {
      body = JSON.parse(r.text);
    } catch {
      problems.push(`${where}: not JSON: ${r.text.slice(0, 120)}`);
      continue;
    }
    const keys = Object.keys(body).sort().join(',');
    if (!(keys === 'error' || (keys === 'error,fields' && r.status === 422))) problems.push(`${where}: keys ${keys}`);
    if (typeof body.error !== 'string' || body.error === '') problems.push(`${where}: error ${JSON.stringify(body.error)}`);
    if (r.status >= 500 && r.status !== 501 && r.status !== 503 && body.error !== 'internal error') {
      problems.push(`${where}: a 5xx says ${JSON.stringify(body.error)}`);
    }
    if (INTERNAL_TEXT.test(r.text)) problems.push(`${where}: internal text in ${r.text.slice(0, 200)}`);
  }
  return problems;
}
