// The core's store contract (concierge_core::testing::contract) run against the Worker's
// CfStore on the real Workers runtime: D1, KV and Durable Object storage of
// `wrangler dev --local`. Run by ../test.sh after it builds the Worker with
// `--features store-contract` into build-contract/ (STORE_CONTRACT=1 ../build.sh).
//
//   node tests/store-contract.mjs    one line per check and a closing "N passed, N failed"
//
// The list of checks comes from the Worker (GET /__contract/store), which takes it from the
// core's one list, so a new check runs here without a change to this file. Each check runs
// in its own request, on an emptied D1 and KV and a new Durable Object; a failed check panics
// the wasm instance, and its message is read back from /__contract/panic while it runs.
//
// Each run gets its own port and its own local state directory; wrangler runs in its own
// process group (detached) and the whole group is stopped at the end.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const adapter = path.resolve(here, '..');
const wranglerBin = path.join(adapter, 'node_modules', '.bin', 'wrangler');
const config = path.join(adapter, 'wrangler.store-contract.toml');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// A check that hangs (a lost wasm instance, a stuck D1 call) fails after this long.
const CHECK_TIMEOUT_MS = 60_000;

if (!fs.existsSync(path.join(adapter, 'build-contract', 'index.js'))) {
  console.error('build-contract/ is missing: run STORE_CONTRACT=1 ./build.sh first');
  process.exit(2);
}

function freePort() {
  return new Promise((resolve) => {
    const s = http.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const state = fs.mkdtempSync(path.join(os.tmpdir(), 'concierge-cf-contract-'));
const wranglerEnv = {
  ...process.env,
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_HIDE_BANNER: 'true',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  NO_COLOR: '1',
};
execFileSync(wranglerBin, ['d1', 'migrations', 'apply', 'DB', '--local', '-c', config, '--persist-to', state], {
  cwd: adapter,
  env: wranglerEnv,
  stdio: 'ignore',
});
const logPath = path.join(state, 'wrangler.log');
const log = fs.openSync(logPath, 'a');
const worker = spawn(
  wranglerBin,
  ['dev', '--local', '-c', config, '--ip', '127.0.0.1', '--port', String(port), '--persist-to', state,
    '--show-interactive-dev-session=false'],
  { cwd: adapter, env: wranglerEnv, detached: true, stdio: ['ignore', log, log] },
);
let stopped = false;
function stop() {
  if (stopped) return;
  stopped = true;
  try { process.kill(-worker.pid, 'SIGTERM'); } catch { /* already gone */ }
}
process.on('exit', stop);
process.on('SIGINT', () => { stop(); process.exit(130); });

async function request(method, url, signal = AbortSignal.timeout(CHECK_TIMEOUT_MS)) {
  const res = await fetch(base + url, { method, signal });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
}

// The message of the last panic, if any (reading it clears it).
async function lastPanic() {
  try { return (await request('GET', '/__contract/panic')).json().panic; } catch { return null; }
}

// Runs one check; resolves to undefined when it passed, else to what went wrong. A panic
// aborts the wasm instance the Worker's request is waiting in, so that request never answers:
// the panic message is polled for while the check runs.
async function runCheck(name) {
  const abort = new AbortController();
  const timeout = AbortSignal.timeout(CHECK_TIMEOUT_MS);
  const answer = request('POST', `/__contract/store/${name}`, AbortSignal.any([abort.signal, timeout]))
    .then((r) => {
      let body;
      try { body = r.json(); } catch { /* not JSON: an exception page */ }
      if (r.status === 200 && body?.check === name && body?.ok === true) return undefined;
      return `HTTP ${r.status}: ${r.text.slice(0, 300).replace(/\s+/g, ' ')}`;
    }, (e) => `no answer: ${e.message}`);
  for (;;) {
    const done = await Promise.race([answer.then((a) => ({ a })), sleep(250).then(() => null)]);
    if (done) return done.a === undefined ? undefined : (await lastPanic()) ?? done.a;
    const panic = await lastPanic();
    if (panic) {
      abort.abort();
      await answer;
      return `panicked: ${panic}`;
    }
  }
}

let checks;
for (let i = 0; ; i++) {
  try {
    const r = await request('GET', '/__contract/store');
    if (r.status === 200) {
      checks = r.json().checks;
      break;
    }
  } catch { /* not up yet */ }
  if (i > 300 || worker.exitCode !== null) {
    console.error(fs.readFileSync(logPath, 'utf8'));
    stop();
    throw new Error('wrangler dev did not start');
  }
  await sleep(200);
}
if (!Array.isArray(checks) || checks.length === 0) {
  stop();
  throw new Error(`no checks listed: ${JSON.stringify(checks)}`);
}

let passed = 0;
let failed = 0;
for (const name of checks) {
  const t0 = Date.now();
  const problem = await runCheck(name);
  if (problem === undefined) {
    passed++;
    console.log(`ok   store contract: ${name} (${Date.now() - t0} ms)`);
  } else {
    failed++;
    console.log(`FAIL store contract: ${name}: ${problem}`);
  }
}
const exited = worker.exitCode !== null || worker.signalCode !== null
  ? Promise.resolve()
  : new Promise((r) => worker.once('exit', r));
stop();
if (failed > 0) {
  console.log(`wrangler log: ${logPath}`);
} else {
  // The state is kept for a failure's log; after a pass, removed once wrangler has stopped.
  await Promise.race([exited, sleep(5000)]);
  fs.rmSync(state, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
