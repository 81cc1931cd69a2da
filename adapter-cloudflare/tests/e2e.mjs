// End-to-end tests of the Worker on the real Workers runtime (wrangler dev --local / workerd),
// against local fakes of the Graph API, the Discord REST API and an OpenAI-compatible model,
// speaking their real wire formats. Run by ../test.sh (which builds the Worker first).
//
//   node tests/e2e.mjs          prints one line per test and a closing "N passed, N failed"
//
// Each run gets its own ports and its own local state directory; wrangler runs in its own
// process group (detached) and the whole group is stopped at the end.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakes, freePort, listen, json, MODEL_REPLY } from '../../contract/http/fakes.mjs';
import { startWorker } from './workerd.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------- fakes ----------
// A cut WhatsApp send: Graph accepted it and posts its `sent` status webhook (with the
// callback data the send carried) before the connection is cut.
const fakes = await startFakes({
  onCut: async (entry, phoneId, to) => {
    const status = waStatusBody(phoneId, to, entry.id, 'sent', entry.body.biz_opaque_callback_data);
    entry.statusAnswer = (await postWa(status)).status;
  },
});
const { graph, model, graphFaults } = fakes;
const discordApi = fakes.discord;
const REPLY = MODEL_REPLY;

// Cloudflare Access: the team's key set at /cdn-cgi/access/certs (a JWKS, as Access publishes
// it), and tokens signed RS256 with its key.
const accessKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const strangerKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ACCESS_AUD = 'e2e-access-aud-tag';
let certsFetched = 0;
const accessServer = await listen((req, res) => {
  if (req.url !== '/cdn-cgi/access/certs') return json(res, 404, { error: 'not found' });
  certsFetched++;
  const jwk = accessKey.publicKey.export({ format: 'jwk' });
  json(res, 200, { keys: [{ kid: 'e2e-k1', kty: 'RSA', alg: 'RS256', use: 'sig', n: jwk.n, e: jwk.e }] });
});
const ACCESS_TEAM = `http://127.0.0.1:${accessServer.address().port}`;
function accessToken({ key = accessKey.privateKey, aud = ACCESS_AUD, exp = Math.floor(Date.now() / 1000) + 3600 } = {}) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const signed = `${b64({ alg: 'RS256', kid: 'e2e-k1', typ: 'JWT' })}.${b64({ aud: [aud], email: 'ops@e2e.example', exp, iat: now, nbf: now, iss: ACCESS_TEAM, sub: 'e2e', type: 'app' })}`;
  return `${signed}.${crypto.sign('sha256', Buffer.from(signed), key).toString('base64url')}`;
}

// ---------- the worker ----------
const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
const discordPublicHex = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url').toString('hex');
const APP_SECRET = 'test-app-secret';
const ADMIN = 'test-admin-token';
// ENCRYPTION_KEY: seals per-tenant channel tokens in D1 (the second run goes without it).
const ENCRYPTION_KEY = crypto.randomBytes(32).toString('hex');
const state = fs.mkdtempSync(path.join(os.tmpdir(), 'concierge-cf-e2e-'));
const vars = {
  WHATSAPP_APP_SECRET: APP_SECRET,
  WHATSAPP_VERIFY_TOKEN: 'verify-me',
  INSTAGRAM_APP_SECRET: APP_SECRET,
  INSTAGRAM_VERIFY_TOKEN: 'verify-me',
  META_ACCESS_TOKEN: 'test-meta-token',
  DISCORD_PUBLIC_KEY: discordPublicHex,
  DISCORD_BOT_TOKEN: 'test-bot-token',
  DISCORD_BOT_USER_ID: '1170000000000000000',
  SIGNING_KEY: 'test-signing-key-0123456789abcdef',
  CONCIERGE_ADMIN_TOKEN: ADMIN,
  AI_PROVIDER: 'openai',
  OPENAI_BASE_URL: fakes.modelUrl,
  OPENAI_API_KEY: 'test-openai-key',
  GRAPH_API_BASE: fakes.graphUrl,
  DISCORD_API_BASE: fakes.discordUrl,
  ENCRYPTION_KEY,
  ACCESS_TEAM_DOMAIN: ACCESS_TEAM,
  ACCESS_AUD,
};
let worker;
function stop() {
  worker?.stop();
  fakes.close();
  accessServer.close();
}
process.on('exit', stop);
process.on('SIGINT', () => { stop(); process.exit(130); });
worker = await startWorker({ vars, state, port: await freePort() });
let { base } = worker;
const { logPath, d1 } = worker;

// Stops this run's `wrangler dev` and starts another over the same local state with `settings`.
async function restartWorker(settings) {
  await worker.stop();
  worker = await startWorker({ vars: settings, state, port: await freePort() });
  base = worker.base;
}

async function request(method, url, { body, headers = {} } = {}) {
  const res = await fetch(base + url, { method, body, headers });
  const text = await res.text();
  return { status: res.status, text, headers: res.headers, json: () => JSON.parse(text) };
}

// ---------- helpers ----------
const admin = (method, url, body) =>
  request(method, `/api/v1${url}`, { body, headers: { authorization: `Bearer ${ADMIN}` } });
const sign = (body) => 'sha256=' + crypto.createHmac('sha256', APP_SECRET).update(body).digest('hex');
let wamid = 0;
function waBody(phoneId, from, texts) {
  const now = Math.floor(Date.now() / 1000);
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
          messages: texts.map((text) => ({
            from,
            id: `wamid.HBgLMTU1NTA3ODM4ODEVAgASGBQz${++wamid}`,
            timestamp: String(now),
            type: 'text',
            text: { body: text },
          })),
        },
      }],
    }],
  });
}
function waStatusBody(phoneId, recipient, id, status, callbackData) {
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{
      id: '102290129340398',
      changes: [{
        field: 'messages',
        value: {
          messaging_product: 'whatsapp',
          metadata: { display_phone_number: '15550783881', phone_number_id: phoneId },
          statuses: [{
            id,
            status,
            timestamp: String(Math.floor(Date.now() / 1000)),
            recipient_id: recipient,
            biz_opaque_callback_data: callbackData,
          }],
        },
      }],
    }],
  });
}
const postWa = (body, signature = sign(body)) =>
  request('POST', '/webhook/whatsapp', {
    body,
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
  });
function discordHeaders(body, ts = String(Math.floor(Date.now() / 1000))) {
  const sig = crypto.sign(null, Buffer.from(ts + body), privateKey).toString('hex');
  return { 'content-type': 'application/json', 'x-signature-ed25519': sig, 'x-signature-timestamp': ts };
}
const postDiscord = (body, headers = discordHeaders(body)) =>
  request('POST', '/discord/interactions', { body, headers });
const sendsTo = (phoneId, to) =>
  graph.filter((r) => r.path.endsWith(`/${phoneId}/messages`) && r.body.to === to);
const milli = (balance) => Math.round(parseFloat(balance) * 1000);
const balance = async (tenant) => milli((await admin('GET', `/tenants/${tenant}/credits`)).json().balance);
async function until(what, check, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(150);
  }
}
// What every WhatsApp part request carries: whatsapp::callback_data(outbox key, part).
const callbackData = (key, part) =>
  'concierge:' + crypto.createHash('sha256').update(`${key}\0${part}`).digest('hex').slice(0, 32);
const personaStatus = async (t) => (await admin('GET', `/tenants/${t}/persona`)).json().status;
function assert(cond, message) {
  if (!cond) throw new Error(message);
}
function eq(actual, expected, what) {
  if (actual !== expected) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

// ---------- tests ----------
const tests = [];
const test = (name, fn) => tests.push({ name, fn });

const BAKERY_PHONE = '106540352242922';
const CLINIC_PHONE = '106540352242999';

test('tenants import through the admin API and personas are reviewed through SAFETY_QUEUE', async () => {
  for (const file of ['examples/tenants/sunrise-bakery.toml', 'examples/tenants/lotus-dental.toml',
    'adapter-cloudflare/tests/fixtures/corner-shop.toml']) {
    const r = await admin('PUT', '/tenants', fs.readFileSync(path.join(root, file)));
    eq(r.status, 200, `import ${file} (${r.text})`);
    eq(r.json().review_queued, true, 'review queued');
  }
  for (const t of ['sunrise-bakery', 'lotus-dental', 'corner-shop']) {
    await until(`${t} approved`, async () => (await personaStatus(t)) === 'approved');
  }
});

test('a persona save goes Pending → Approved through the queue', async () => {
  const r = await admin('PUT', '/tenants/corner-shop/persona',
    JSON.stringify({ custom: 'You are Corner Shop\'s assistant. Mention our fresh bread.' }));
  eq(r.status, 200, `save (${r.text})`);
  eq(r.json().review_queued, true, 'review queued');
  eq(await personaStatus('corner-shop'), 'pending', 'status right after the save');
  await until('approved', async () => (await personaStatus('corner-shop')) === 'approved');
  const reviews = model.filter((m) => m.body.messages?.[0].content.includes('You review the persona text')
    && m.body.messages.at(-1).content.includes('fresh bread'));
  eq(reviews.length, 1, 'classifier calls for the new text');
});

test('unsigned and tampered requests get 401 and change nothing', async () => {
  const body = waBody(BAKERY_PHONE, '919800000009', ['hello?']);
  eq((await postWa(body, '')).status, 401, 'WhatsApp unsigned');
  eq((await request('POST', '/webhook/whatsapp', { body })).status, 401, 'WhatsApp no header');
  eq((await postWa(body.replace('hello?', 'HELLO!'), sign(body))).status, 401, 'WhatsApp tampered');
  const ping = JSON.stringify({ type: 1, id: '1', application_id: '2', token: 't' });
  eq((await request('POST', '/discord/interactions', { body: ping })).status, 401, 'Discord unsigned');
  const h = discordHeaders(ping);
  eq((await postDiscord(ping.replace('"t"', '"u"'), h)).status, 401, 'Discord tampered');
  const old = discordHeaders(ping, String(Math.floor(Date.now() / 1000) - 3600));
  eq((await postDiscord(ping, old)).status, 401, 'Discord stale timestamp');
  eq((await request('PUT', '/api/v1/tenants', { body: 'x' })).status, 401, 'admin without token');
  await sleep(1500);
  eq(sendsTo(BAKERY_PHONE, '919800000009').length, 0, 'sends');
});

test('the live demo lists vetted personas and chats statelessly', async () => {
  const list = await request('GET', '/demo/personas');
  eq(list.status, 200, 'personas status');
  const personas = JSON.parse(list.text).personas;
  assert(personas.some((p) => p.slug === 'bakery' && p.prompt.includes('BEGIN BUSINESS PERSONA')), 'bakery with its View prompt');
  const chat = await request('POST', '/demo/chat', {
    body: JSON.stringify({ persona: 'bakery', history: [], message: 'Do you have eggless cakes?', handoff: false }),
    headers: { 'content-type': 'application/json' },
  });
  eq(chat.status, 200, 'chat status');
  const reply = JSON.parse(chat.text);
  eq(reply.reply, REPLY, 'reply');
  eq(reply.handoff, false, 'handoff flag');
  const bad = await request('POST', '/demo/chat', { body: '{"persona":"nope","message":""}', headers: { 'content-type': 'application/json' } });
  eq(bad.status, 422, 'unknown persona');
  eq((await request('POST', '/demo/chat', { body: 'not json' })).status, 400, 'malformed');
});

test('Meta subscription handshake', async () => {
  const ok = await request('GET', '/webhook/whatsapp?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444');
  eq(ok.status, 200, 'status');
  eq(ok.text, '1158201444', 'challenge');
  eq((await request('GET', '/webhook/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1')).status, 403, 'wrong token');
});

let firstBody;
test('a signed WhatsApp message gets exactly one reply and one charge', async () => {
  const before = await balance('sunrise-bakery');
  firstBody = waBody(BAKERY_PHONE, '919800000001', ['Do you have eggless cakes today?']);
  const t0 = Date.now();
  const r = await postWa(firstBody);
  eq(r.status, 200, 'webhook status');
  assert(Date.now() - t0 < 2000, 'acknowledged promptly');
  const sent = await until('the reply', async () => sendsTo(BAKERY_PHONE, '919800000001').length > 0 && sendsTo(BAKERY_PHONE, '919800000001'));
  eq(sent[0].body.text.body, REPLY, 'reply text');
  eq(sent[0].auth, 'Bearer test-meta-token', 'Graph token');
  await sleep(4000);
  eq(sendsTo(BAKERY_PHONE, '919800000001').length, 1, 'replies');
  eq(before - (await balance('sunrise-bakery')), 1000, 'charge (₹1 in milli)');
});

test('the same webhook redelivered changes nothing', async () => {
  const before = await balance('sunrise-bakery');
  eq((await postWa(firstBody)).status, 200, 'redelivery acknowledged');
  eq((await postWa(firstBody)).status, 200, 'second redelivery acknowledged');
  await sleep(6000);
  eq(sendsTo(BAKERY_PHONE, '919800000001').length, 1, 'replies');
  eq(await balance('sunrise-bakery'), before, 'balance');
});

test('a burst of three messages within the buffer window yields one reply and one charge', async () => {
  const before = await balance('sunrise-bakery');
  const texts = ['Hi!', 'Can I pre-order a chocolate cake?', 'For Saturday please'];
  for (const text of texts) {
    eq((await postWa(waBody(BAKERY_PHONE, '919800000002', [text]))).status, 200, 'webhook');
    await sleep(400);
  }
  await until('the reply', async () => sendsTo(BAKERY_PHONE, '919800000002').length > 0);
  await sleep(5000);
  eq(sendsTo(BAKERY_PHONE, '919800000002').length, 1, 'replies');
  eq(before - (await balance('sunrise-bakery')), 1000, 'charge');
  const turn = model.filter((m) => m.body.messages?.at(-1).content.includes('For Saturday please')
    && !m.body.messages[0].content.includes('security filter'));
  eq(turn.length, 1, 'model calls for the burst');
  for (const text of texts) assert(turn[0].body.messages.at(-1).content.includes(text), `turn holds "${text}"`);
});

test('Discord PING is answered with PONG', async () => {
  const body = JSON.stringify({ type: 1, id: '1180000000000000100', application_id: '1170000000000000000', token: 'ping', version: 1 });
  const r = await postDiscord(body);
  eq(r.status, 200, 'status');
  eq(r.json().type, 1, 'PONG');
});

test('Discord /status slash command', async () => {
  const body = JSON.stringify({
    type: 2, id: '1180000000000000101', application_id: '1170000000000000000', token: 'cmd-token', version: 1,
    guild_id: '1180000000000000000', channel_id: '1180000000000000010',
    member: { user: { id: '1160000000000000001', username: 'frontdesk' } },
    data: { id: '1150000000000000001', name: 'status', type: 1 },
  });
  const r = await postDiscord(body);
  eq(r.status, 200, `status (${r.text})`);
  const reply = r.json();
  eq(reply.type, 4, 'CHANNEL_MESSAGE_WITH_SOURCE');
  assert(reply.data.content.includes('Lotus Dental Clinic'), `content: ${reply.data.content}`);
  // The engine's answer, as on the server: the persona's review state (edited since its review
  // counts as waiting) and the drafts waiting.
  assert(/Persona: (approved|waiting for review)/.test(reply.data.content), `content: ${reply.data.content}`);
  assert(reply.data.content.includes('Drafts waiting for approval:'), `content: ${reply.data.content}`);
  eq(reply.data.flags, 64, 'ephemeral');
});

test('an AI draft is posted for approval and the Approve button sends it', async () => {
  const before = await balance('lotus-dental');
  eq((await postWa(waBody(CLINIC_PHONE, '15125550001', ['Can I move my cleaning to Friday?']))).status, 200, 'webhook');
  const card = await until('the approval card', async () =>
    discordApi.find((r) => r.path === '/api/v10/channels/1180000000000000002/messages' && r.body.components));
  eq(card.auth, 'Bot test-bot-token', 'bot token');
  eq(sendsTo(CLINIC_PHONE, '15125550001').length, 0, 'nothing sent before approval');
  const buttons = card.body.components.flatMap((row) => row.components);
  const approve = buttons.find((b) => /approve/i.test(b.label));
  assert(approve, `an Approve button in ${JSON.stringify(buttons)}`);
  const click = JSON.stringify({
    type: 3, id: '1180000000000000102', application_id: '1170000000000000000', token: 'btn-token', version: 1,
    guild_id: '1180000000000000000', channel_id: '1180000000000000002',
    member: { user: { id: '1160000000000000001', username: 'frontdesk' } },
    message: { id: '1300000000000000001', channel_id: '1180000000000000002' },
    data: { custom_id: approve.custom_id, component_type: 2 },
  });
  const r = await postDiscord(click);
  eq(r.status, 200, `status (${r.text})`);
  eq(r.json().type, 7, 'UPDATE_MESSAGE');
  assert(/approved/i.test(r.json().data.content), r.json().data.content);
  const sent = sendsTo(CLINIC_PHONE, '15125550001');
  eq(sent.length, 1, 'sent once approved');
  eq(sent[0].body.text.body, REPLY, 'the drafted text');
  eq(before - (await balance('lotus-dental')), 20, 'charge ($0.02 in milli)');
  const again = await postDiscord(click.replace('btn-token', 'btn-token-2'));
  assert(/already decided|expired/i.test(again.json().data.content), 'a second click does nothing');
  eq(sendsTo(CLINIC_PHONE, '15125550001').length, 1, 'still one send');
  const forged = await postDiscord(click.replace('btn-token', 'btn-token-3').replace(':a:', ':x:'));
  eq(forged.json().type, 4, 'a forged button is answered, not applied');
  eq(forged.json().data.content, 'This button has expired.');
});

test('a model failure refunds the charge; the retried turn charges once', async () => {
  const before = await balance('lotus-dental');
  const text = 'FAILONCE: could you book me a cleaning next week?';
  eq((await postWa(waBody(CLINIC_PHONE, '15125550002', [text]))).status, 200, 'webhook');
  await until('the approval card after the retry', async () =>
    discordApi.find((r) => r.path === '/api/v10/channels/1180000000000000002/messages'
      && JSON.stringify(r.body).includes('next week')), 20000);
  const calls = model.filter((m) => m.body.messages?.at(-1).content === text
    && !m.body.messages[0].content.includes('security filter'));
  eq(calls.length, 2, 'model calls (failed, then retried by the queue)');
  eq(before - (await balance('lotus-dental')), 20, 'charged once');
});

// A tenant whose canned reply is three WhatsApp messages long (~10 000 characters).
const MENU_PHONE = '106540352242777';
const MENU = Array.from({ length: 1300 }, (_, i) => `cake${i}`).join(' ');
const MENU_TENANT = `
id = "menu-shop"
name = "Menu Shop"
currency = "INR"
starting_credits = "10"
persona.custom = "You are the assistant of Menu Shop."

[channels.whatsapp]
phone_number_id = "${MENU_PHONE}"

[channels.whatsapp.replies]
default_rule = { kind = "canned", text = "${MENU}" }
`;

// Asks for the menu as `customer` and waits until the reply's outbox row is sent; returns the
// row and the Graph requests of the reply.
async function menuReply(customer) {
  const body = waBody(MENU_PHONE, customer, ['send me the menu']);
  const key = `reply:turn:whatsapp:${JSON.parse(body).entry[0].changes[0].value.messages[0].id}`;
  eq((await postWa(body)).status, 200, 'webhook');
  const row = await until('the outbox row sent', async () =>
    d1(`SELECT msg_key, state, parts_sent, provider_ids, in_doubt_part FROM outbox WHERE msg_key = '${key}'`)
      .find((r) => r.state === 'sent'), 30000);
  await sleep(3000); // nothing more goes out
  return { row, sends: sendsTo(MENU_PHONE, customer) };
}

test('a multi-part reply whose part 2 fails once resumes at part 2: each part sent once', async () => {
  eq((await admin('PUT', '/tenants', MENU_TENANT)).status, 200, 'import');
  const customer = '919800000071';
  graphFaults.set(customer, { at: 1, mode: 503 });
  const { row, sends } = await menuReply(customer);
  const part = (i) => callbackData(row.msg_key, i);
  eq(JSON.stringify(sends.map((g) => g.body.biz_opaque_callback_data)),
    JSON.stringify([part(0), part(1), part(1), part(2)]), 'part 1 once, part 2 retried, then part 3');
  eq(JSON.stringify(sends.map((g) => g.status)), JSON.stringify([200, 503, 200, 200]), 'Graph answers');
  const accepted = sends.filter((g) => g.status === 200);
  eq(accepted.map((g) => g.body.text.body).join('').trim().split(/\s+/).join(' '), MENU, 'the menu, once, in order');
  eq(row.parts_sent, 3, 'parts recorded');
  eq(row.provider_ids, JSON.stringify(accepted.map((g) => g.id)), 'provider ids');
});

test('an in-doubt part is settled by its status webhook, not sent again', async () => {
  const customer = '919800000072';
  // Graph accepts part 2 and reports it, but the answer is lost: the Worker cannot know.
  graphFaults.set(customer, { at: 1, mode: 'cut' });
  const { row, sends } = await menuReply(customer);
  const part = (i) => callbackData(row.msg_key, i);
  eq(JSON.stringify(sends.map((g) => g.body.biz_opaque_callback_data)),
    JSON.stringify([part(0), part(1), part(2)]), 'each part once');
  eq(sends[1].status, 'cut', 'part 2 was cut off');
  eq(sends[1].statusAnswer, 200, 'its status webhook was acknowledged');
  eq(row.provider_ids, JSON.stringify(sends.map((g) => g.id)), 'part 2 has the wamid from its receipt');
  const receipts = d1(`SELECT provider_id, state, state_rank FROM send_receipts WHERE callback_data = '${part(1)}'`);
  eq(JSON.stringify(receipts), JSON.stringify([{ provider_id: sends[1].id, state: 'sent', state_rank: 1 }]), 'the receipt');
});

test('an email event is routed by a rule (invoice → Discord channel)', async () => {
  const raw = [
    'From: Vendor Billing <billing@vendor.test>',
    'To: accounts@shop.test',
    'Subject: Invoice 42 for October',
    'Message-ID: <invoice-42@vendor.test>',
    `Date: ${new Date().toUTCString()}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Please find invoice 42 attached. Total: $120.',
    '',
  ].join('\r\n');
  const r = await request('POST', '/cdn-cgi/handler/email?from=billing%40vendor.test&to=accounts%40shop.test', {
    body: raw,
    headers: { 'content-type': 'application/octet-stream' },
  });
  assert(r.status < 300, `email handler status ${r.status}: ${r.text}`);
  const post = await until('the Discord post', async () =>
    discordApi.find((x) => x.path === '/api/v10/channels/1190000000000000009/messages'));
  assert(JSON.stringify(post.body).includes('Invoice 42'), `post: ${JSON.stringify(post.body)}`);
});

test('the MIME structure that tripped mail-parser is parsed and routed, and the Worker keeps serving', async () => {
  // Local Email Routing itself refuses mail without From or Message-ID before the Worker sees
  // it (the bare 190-byte repro is covered by the core's and the server's tests), so the repro's
  // MIME structure (the trigger: multipart parts holding message/rfc822 without a boundary)
  // comes here with a sender.
  const repro = fs.readFileSync(path.join(root, 'concierge-core/tests/fixtures/email/nested_rfc822_no_boundary.eml'));
  for (let i = 0; i < 2; i++) {
    const raw = Buffer.concat([
      Buffer.from('From: Asha <asha@example.in>\r\nTo: accounts@shop.test\r\nSubject: Hello\r\n'
        + `Message-ID: <nested-${i}@example.in>\r\n`),
      repro,
    ]);
    const r = await request('POST', '/cdn-cgi/handler/email?from=asha%40example.in&to=accounts%40shop.test', {
      body: raw,
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert(r.status < 300, `accepted: ${r.status} ${r.text}`);
  }
  eq((await request('GET', '/healthz')).status, 200, 'the Worker still serves');
});

// A tenant with canned WhatsApp replies (free, no model) for the token, dead-letter and dry-run
// tests.
const PARITY_PHONE = '106540352242555';
const PARITY_REPLY = 'Thanks for writing to Parity Shop!';
const PARITY_TENANT = `
id = "parity-shop"
name = "Parity Shop"
currency = "INR"
starting_credits = "10"
persona.custom = "You are the assistant of Parity Shop."

[channels.whatsapp]
phone_number_id = "${PARITY_PHONE}"

[channels.whatsapp.replies]
default_rule = { kind = "canned", text = "${PARITY_REPLY}" }
`;
const TENANT_TOKEN = 'EAAG-parity-shop-own-token';
// Posts one WhatsApp message to Parity Shop from `customer`; returns its reply's outbox key.
async function parityMessage(customer, text = 'hello') {
  const body = waBody(PARITY_PHONE, customer, [text]);
  eq((await postWa(body)).status, 200, 'webhook');
  return `reply:turn:whatsapp:${JSON.parse(body).entry[0].changes[0].value.messages[0].id}`;
}
// Opens a sealed value as the server's SecretBox does: base64(nonce ‖ ciphertext ‖ tag), the
// account key as associated data.
function openSealed(sealed, account) {
  const raw = Buffer.from(sealed, 'base64');
  const decipher = crypto.createDecipheriv('aes-256-gcm', Buffer.from(ENCRYPTION_KEY, 'hex'), raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(account));
  decipher.setAuthTag(raw.subarray(raw.length - 16));
  return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString();
}

test('a tenant\'s own channel token is sealed in D1 and authenticates its Graph sends', async () => {
  eq((await admin('PUT', '/tenants', PARITY_TENANT)).status, 200, 'import');
  const account = `wa_phone:${PARITY_PHONE}`;
  const put = await admin('PUT', `/tenants/parity-shop/secrets/${account}`, JSON.stringify({ token: TENANT_TOKEN }));
  eq(put.status, 204, `put secret (${put.text})`);
  const [row] = d1(`SELECT tenant_id, sealed FROM channel_secrets WHERE account_key = '${account}'`);
  eq(row.tenant_id, 'parity-shop', 'owner');
  assert(!row.sealed.includes(TENANT_TOKEN) && !row.sealed.includes('parity-shop-own'), 'sealed, not plaintext');
  eq(openSealed(row.sealed, account), TENANT_TOKEN, 'the server\'s sealed format');
  const other = await admin('PUT', `/tenants/parity-shop/secrets/wa_phone:${BAKERY_PHONE}`, JSON.stringify({ token: 'x' }));
  eq(other.status, 422, `an account the tenant does not own (${other.text})`);
  eq((await admin('PUT', `/tenants/parity-shop/secrets/${account}`, '{"token":" "}')).status, 422, 'blank token');

  const customer = '919800000081';
  await parityMessage(customer);
  const [sent] = await until('the reply', async () => sendsTo(PARITY_PHONE, customer).length > 0 && sendsTo(PARITY_PHONE, customer));
  eq(sent.body.text.body, PARITY_REPLY, 'reply');
  eq(sent.auth, `Bearer ${TENANT_TOKEN}`, 'the tenant\'s token, not META_ACCESS_TOKEN');
  assert(!fs.readFileSync(logPath, 'utf8').includes(TENANT_TOKEN), 'the token is never logged');
});

test('a send that fails for good is a dead letter; its retry sends it once', async () => {
  const customer = '919800000082';
  graphFaults.set(customer, { at: 0, mode: 400 });
  const key = await parityMessage(customer);
  const dead = await until('the dead letter', async () =>
    (await admin('GET', '/dead-letters?tenant=parity-shop')).json().dead_letters.find((d) => d.id === key));
  eq(dead.kind, 'send', 'kind');
  eq(dead.tenant, 'parity-shop', 'tenant');
  eq(dead.attempts, 1, 'attempts (a permanent error is not retried)');
  assert(dead.last_error.includes('131026'), `last error: ${dead.last_error}`);
  assert(Number.isInteger(dead.updated_at) && dead.updated_at > Date.now() - 60000, `updated_at ${dead.updated_at}`);
  eq((await admin('GET', '/dead-letters?tenant=lotus-dental')).json().dead_letters.length, 0, 'another tenant\'s list');
  eq(JSON.stringify(sendsTo(PARITY_PHONE, customer).map((g) => g.status)), '[400]', 'one refused send');

  const retry = await admin('POST', `/dead-letters/${key}/retry`);
  eq(retry.status, 200, `retry (${retry.text})`);
  await until('the resend', async () => sendsTo(PARITY_PHONE, customer).length === 2);
  const row = await until('the row sent', async () => d1(`SELECT state FROM outbox WHERE msg_key = '${key}'`).find((r) => r.state === 'sent'));
  eq(row.state, 'sent', 'state');
  await sleep(2000);
  const sends = sendsTo(PARITY_PHONE, customer);
  eq(JSON.stringify(sends.map((g) => g.status)), '[400,200]', 'sent once after the retry');
  eq(sends[1].body.text.body, PARITY_REPLY, 'the same message');
  eq((await admin('POST', `/dead-letters/${key}/retry`)).status, 404, 'no longer dead');
  eq((await admin('POST', '/dead-letters/no-such-key/retry')).status, 404, 'unknown key');
  assert(!(await admin('GET', '/dead-letters')).json().dead_letters.some((d) => d.id === key), 'off the list');
});

test('/manage behind Cloudflare Access: the team\'s signed operator is admitted, anything else is 403', async () => {
  const page = await request('GET', '/manage', { headers: { 'cf-access-jwt-assertion': accessToken() } });
  eq(page.status, 200, `admitted (${page.text.slice(0, 200)})`);
  assert(page.text.includes('id="tenant-parity-shop"'), 'the tenants');
  const csrf = page.headers.getSetCookie().find((c) => c.startsWith('__Host-concierge_csrf='))?.split(';')[0].split('=')[1];
  assert(csrf && page.text.includes(`name="csrf" value="${csrf}"`), 'forms carry the cookie token');
  const before = await balance('parity-shop');
  const grant = await fetch(`${base}/manage/tenants/parity-shop/credits`, {
    method: 'POST',
    redirect: 'manual',
    body: `csrf=${csrf}&amount=1&reason=access`,
    headers: { 'cf-access-jwt-assertion': accessToken(), cookie: `__Host-concierge_csrf=${csrf}`, 'content-type': 'application/x-www-form-urlencoded' },
  });
  eq(grant.status, 303, 'a grant');
  eq(await balance('parity-shop'), before + 1000, 'the grant landed (1 credit)');
  for (const [what, headers] of [
    ['no token', {}],
    ['another key', { 'cf-access-jwt-assertion': accessToken({ key: strangerKey.privateKey }) }],
    ['another application', { 'cf-access-jwt-assertion': accessToken({ aud: 'other-app' }) }],
    ['expired', { 'cf-access-jwt-assertion': accessToken({ exp: Math.floor(Date.now() / 1000) - 3600 }) }],
  ]) {
    const r = await request('GET', '/manage', { headers });
    eq(r.status, 403, what);
    assert(!r.text.includes('tenant-parity-shop'), `${what}: nothing shown`);
  }
  eq((await request('POST', '/manage/login', { body: `email=ops%40parity.test&password=${ADMIN}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status, 403,
    'behind Access no password is a way in');
  assert(certsFetched >= 1 && certsFetched <= 2, `the key set is cached (${certsFetched} fetches)`);
});

test('webhook handler time under local workerd (informational)', async () => {
  const times = [];
  for (let i = 0; i < 40; i++) {
    // An account no tenant owns: verified, parsed, queued, dropped by the consumer.
    const body = waBody('100000000000001', '919800000050', [`ping ${i}`]);
    const t0 = process.hrtime.bigint();
    const r = await postWa(body);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    eq(r.status, 200, 'status');
  }
  times.sort((a, b) => a - b);
  const p = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(1);
  console.log(`    signed WhatsApp webhook round trip: p50 ${p(0.5)} ms, p90 ${p(0.9)} ms, max ${p(1)} ms (n=${times.length})`);
  await sleep(300);
  // What workerd itself reports per request (verify + parse + queue send), last 40 webhooks.
  const served = fs.readFileSync(logPath, 'utf8').split('\n')
    .map((l) => l.match(/POST \/webhook\/whatsapp 200 OK \((\d+)ms\)/))
    .filter(Boolean).map((m) => Number(m[1])).slice(-times.length).sort((a, b) => a - b);
  if (served.length) {
    const q = (x) => served[Math.min(served.length - 1, Math.floor(x * served.length))];
    console.log(`    workerd-reported handler time: p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, max ${q(1)} ms (n=${served.length})`);
  }
});

// The last tests run on a second `wrangler dev` over the same state: DRY_RUN=1, no ENCRYPTION_KEY.
test('DRY_RUN=1 records sends with their message and sends nothing; no ENCRYPTION_KEY, no secrets', async () => {
  const { ENCRYPTION_KEY: _, ...dry } = vars;
  await restartWorker({ ...dry, DRY_RUN: '1' });
  const put = await admin('PUT', `/tenants/parity-shop/secrets/wa_phone:${PARITY_PHONE}`, JSON.stringify({ token: TENANT_TOKEN }));
  eq(put.status, 503, `put secret without ENCRYPTION_KEY (${put.text})`);
  assert(put.text.includes('ENCRYPTION_KEY'), put.text);
  const customer = '919800000083';
  const key = await parityMessage(customer);
  const row = await until('the dry-run record', async () =>
    (await admin('GET', '/tenants/parity-shop/outbox')).json().outbox.find((r) => r.key === key && r.state === 'sent'));
  eq(row.dry_run, true, 'dry_run');
  eq(row.message?.body?.text, PARITY_REPLY, `the message kept (${JSON.stringify(row.message)})`);
  eq(row.message.to, customer, 'recipient');
  const real = (await admin('GET', '/tenants/parity-shop/outbox')).json().outbox.filter((r) => r.state === 'sent' && !r.dry_run);
  assert(real.every((r) => r.message === undefined), 'real sends keep no message');
  await sleep(1500);
  eq(sendsTo(PARITY_PHONE, customer).length, 0, 'nothing reached Graph');
});

// ---------- run ----------
let passed = 0;
let failed = 0;
for (const { name, fn } of tests) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
  }
}
if (failed > 0) console.log(`wrangler log: ${logPath}`);
stop();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
