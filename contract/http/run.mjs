// Runs the HTTP contract suite (suite.mjs) against one deploy target:
//
//   node contract/http/run.mjs server    the concierge-server binary (target/debug; built when
//                                        missing or stale) on a fresh SQLite file
//   node contract/http/run.mjs worker    the Worker (adapter-cloudflare/build, from its build.sh)
//                                        on local workerd (wrangler dev --local)
//   options: --transcript FILE   write every answer's status (and error body) to FILE
//            --compare FILE      also check that the error answers equal those in FILE (a
//                                transcript of the other target)
//
// Both targets get one configuration (suite.mjs SETTINGS, a fresh Discord Ed25519 keypair, the
// base URLs of local fakes of Graph, Discord and an OpenAI-compatible model), their own ports
// and state directory. Prints one line per case and a closing "N passed, N failed"; exits
// non-zero on any failure. Everything it starts is stopped (process groups) even on failure.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startFakes, freePort } from './fakes.mjs';
import { CASES, SETTINGS, canonical, checkErrorBodies } from './suite.mjs';
import { TARGETS, discordKeypair, startTarget } from './targets.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const args = process.argv.slice(2);
const target = args[0];
const option = (name) => {
  const i = args.indexOf(name);
  return i > 0 ? args[i + 1] : undefined;
};
if (!TARGETS.includes(target)) {
  console.error('usage: node contract/http/run.mjs <server|worker> [--transcript FILE] [--compare FILE]');
  process.exit(2);
}
// How long a "nothing more happens" check waits after the last case that registered one: the
// Worker's queue consumer batches for up to a second before the turn runs.
const SETTLE_MS = target === 'worker' ? 4000 : 2000;

const state = fs.mkdtempSync(path.join(os.tmpdir(), `concierge-contract-${target}-`));
let fakes;
let running;
function stopAll() {
  running?.stop();
  fakes?.close();
}
process.on('exit', stopAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopAll();
    process.exit(130);
  });
}

const { publicKeyHex: discordPublicHex, privateKey } = discordKeypair();

async function start() {
  fakes = await startFakes();
  const port = await freePort();
  return startTarget({ target, state, port, fakes, discordPublicHex });
}

// ---------- the context every case gets ----------
const transcript = []; // { case, method, path, status, contentType, text }
let currentCase = '';
const deferred = []; // { case, what, check, at }

function context(base) {
  async function request(method, url, { body, headers = {} } = {}) {
    // Redirects are answers to check (the dashboard's 303s), never followed.
    const res = await fetch(base + url, { method, body, headers, redirect: 'manual' });
    const text = await res.text();
    transcript.push({
      case: currentCase,
      method,
      // Codes and states are random per run: the transcript keeps their place, not their value.
      path: ((u) => (u.length > 120 ? `${u.slice(0, 120)}…` : u))(url.replace(/([?&](?:code|state)=)[^&]*/g, '$1…')),
      status: res.status,
      contentType: res.headers.get('content-type'),
      text: text.length > 2000 ? `${text.slice(0, 2000)}…` : text,
    });
    return { status: res.status, text, headers: res.headers, json: () => JSON.parse(text) };
  }
  const sign = (body) => 'sha256=' + crypto.createHmac('sha256', SETTINGS.metaAppSecret).update(body).digest('hex');
  const postMeta = (app, body, signature = sign(body)) =>
    request('POST', `/webhook/${app}`, {
      body,
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
    });
  const discordHeaders = (body, ts = String(Math.floor(Date.now() / 1000))) => ({
    'content-type': 'application/json',
    'x-signature-ed25519': crypto.sign(null, Buffer.from(ts + body), privateKey).toString('hex'),
    'x-signature-timestamp': ts,
  });
  return {
    target,
    shared: {},
    graph: fakes.graph,
    discord: fakes.discord,
    model: fakes.model,
    request,
    admin: (method, url, body, headers = {}) =>
      request(method, `/api/v1${url}`, { body, headers: { authorization: `Bearer ${SETTINGS.adminToken}`, ...headers } }),
    sign,
    postMeta,
    postWa: (body, signature) => postMeta('whatsapp', body, signature),
    discordHeaders,
    postDiscord: (body, headers = discordHeaders(body), url = '/discord/interactions') =>
      request('POST', url, { body, headers }),
    /// A GET left out of the transcript: for polling, whose count differs per run.
    async peek(url) {
      const res = await fetch(base + url, { redirect: 'manual' });
      const text = await res.text();
      return { status: res.status, text, json: () => JSON.parse(text) };
    },
    holdReviews: (marker) => fakes.holdReviews(marker),
    async until(what, check, ms = 20000) {
      const end = Date.now() + ms;
      for (;;) {
        const v = await check();
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await sleep(100);
      }
    },
    settled(what, check) {
      deferred.push({ case: currentCase, what, check, at: Date.now() });
    },
  };
}

// ---------- run ----------
let passed = 0;
let failed = 0;
let expectedFailures = 0;
const results = new Map(); // case name -> { error, ms }

function report(c, error, ms) {
  const xfail = c.expectFail?.[target];
  if (xfail && error) {
    expectedFailures++;
    console.log(`xfail ${c.name}: ${error.message}\n      expected on the ${target}: ${xfail}`);
  } else if (xfail) {
    failed++;
    console.log(`FAIL ${c.name}: passed, but is marked as expected to fail on the ${target} (${xfail}): drop the mark`);
  } else if (error) {
    failed++;
    console.log(`FAIL ${c.name}: ${error.message}`);
  } else {
    passed++;
    console.log(`ok   ${c.name} (${ms} ms)`);
  }
}

const t0 = Date.now();
try {
  running = await start();
} catch (e) {
  console.log(`FAIL starting the ${target}: ${e.message}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
console.log(`${target} serving on ${running.base} (state ${state}), up in ${Date.now() - t0} ms`);
const t = context(running.base);
let aborted = false;
for (const c of CASES) {
  if (aborted) {
    report(c, new Error('not run: a setup case failed'), 0);
    continue;
  }
  currentCase = c.name;
  const started = Date.now();
  let error = null;
  try {
    await c.run(t);
  } catch (e) {
    error = e;
  }
  results.set(c.name, { error, ms: Date.now() - started });
  if (error && c.setup) aborted = true;
  // A case with "nothing more happens" checks is reported once they ran.
  if (error || !deferred.some((d) => d.case === c.name)) report(c, error, Date.now() - started);
}

// The settled checks: one pause after the last registration, then every check.
if (deferred.length) {
  const wait = Math.max(...deferred.map((d) => d.at)) + SETTLE_MS - Date.now();
  if (wait > 0) await sleep(wait);
  for (const c of CASES) {
    const own = deferred.filter((d) => d.case === c.name);
    const result = results.get(c.name);
    if (!own.length || !result || result.error) continue;
    let error = null;
    for (const d of own) {
      try {
        await d.check();
      } catch (e) {
        error = new Error(`${d.what}: ${e.message}`);
        break;
      }
    }
    report(c, error, result.ms);
  }
}

// Every error answer of the run: one JSON shape, no internal text.
{
  const problems = checkErrorBodies(transcript);
  report({ name: 'every error answer is JSON {"error"[, "fields"]} without internal text' },
    problems.length ? new Error(`\n    ${problems.join('\n    ')}`) : null, 0);
}

// Sanity: the Graph fake saw no request it does not know (a wrong path or version).
{
  const unknown = fakes.graph.filter((g) => g.status === 404);
  report({ name: 'every Graph request used a known endpoint' },
    unknown.length ? new Error(unknown.map((g) => g.path).join(', ')) : null, 0);
}

// Cases expected to fail on some target are left out of transcripts and comparisons. Error
// bodies are compared as JSON with sorted keys.
const skip = new Set(CASES.filter((c) => c.expectFail && Object.keys(c.expectFail).length).map((c) => c.name));
const mine = transcript.filter((e) => !skip.has(e.case)).map((e) => {
  let body;
  if (e.status >= 400 && (e.contentType ?? '').startsWith('text/html')) {
    // A page (the dashboard's refused forms) carries random CSRF tokens: compare its kind only.
    body = 'an HTML page';
  } else if (e.status >= 400) {
    try { body = canonical(JSON.parse(e.text)); } catch { body = e.text; }
  }
  return { case: e.case, request: `${e.method} ${e.path}`, status: e.status, ...(body ? { body } : {}) };
});
const transcriptFile = option('--transcript');
if (transcriptFile) fs.writeFileSync(transcriptFile, JSON.stringify({ target, answers: mine }, null, 1));
const compareFile = option('--compare');
if (compareFile) {
  const other = JSON.parse(fs.readFileSync(compareFile, 'utf8'));
  const diffs = [];
  const byCase = (answers) => {
    const m = new Map();
    for (const a of answers) m.set(a.case, [...(m.get(a.case) ?? []), a]);
    return m;
  };
  const theirs = byCase(other.answers);
  const ours = byCase(mine);
  for (const name of new Set([...theirs.keys(), ...ours.keys()])) {
    const a = theirs.get(name) ?? [];
    const b = ours.get(name) ?? [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (JSON.stringify(a[i]) !== JSON.stringify(b[i])) {
        const show = (x) => (x ? `${x.request} → ${x.status}${x.body ? ` ${x.body}` : ''}` : 'no request');
        diffs.push(`${name}, request ${i + 1}:\n      ${other.target}: ${show(a[i])}\n      ${target}: ${show(b[i])}`);
      }
    }
  }
  report({ name: `every answer's status and error body equal the ${other.target}'s (${mine.length} answers)` },
    diffs.length ? new Error(`${diffs.length} differ:\n    ${diffs.slice(0, 20).join('\n    ')}`) : null, 0);
}

await running.stop();
fakes.close();
if (failed > 0) console.log(`${target} log: ${running.logPath}`);
else fs.rmSync(state, { recursive: true, force: true });
const xf = expectedFailures ? `, ${expectedFailures} expected to fail` : '';
console.log(`${passed} passed, ${failed} failed${xf} (${target}, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
process.exit(failed > 0 ? 1 : 0);
