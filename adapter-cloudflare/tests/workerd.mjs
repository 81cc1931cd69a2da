// Starts the built Worker (build/, from ../build.sh) on local workerd with `wrangler dev
// --local`, in its own state directory and process group. Shared by tests/e2e.mjs and the HTTP
// contract suite (contract/http/run.mjs).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const adapter = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const wranglerBin = path.join(adapter, 'node_modules', '.bin', 'wrangler');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const wranglerEnv = {
  ...process.env,
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_HIDE_BANNER: 'true',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  NO_COLOR: '1',
};

/// Applies the D1 migrations in `state`, then serves the Worker on 127.0.0.1:`port` with
/// `vars` (secrets and [vars] overrides, through a private env file in `state`). Resolves once
/// `/healthz` answers 200. Returns `{ base, logPath, stop(), d1(sql) }`; `stop()` ends
/// wrangler's whole process group and is safe to call twice.
export async function startWorker({ vars, state, port }) {
  if (!fs.existsSync(path.join(adapter, 'build', 'index.js'))) {
    throw new Error(`no Worker build in ${adapter}/build: run adapter-cloudflare/build.sh first`);
  }
  const envFile = path.join(state, 'test.env');
  for (const [k, v] of Object.entries(vars)) {
    if (/['\n]/.test(v)) throw new Error(`${k} must not contain a single quote or a newline`);
  }
  fs.writeFileSync(envFile, Object.entries(vars).map(([k, v]) => `${k}='${v}'`).join('\n') + '\n', { mode: 0o600 });
  execFileSync(wranglerBin, ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', state], {
    cwd: adapter,
    env: wranglerEnv,
    stdio: 'ignore',
  });
  const logPath = path.join(state, 'wrangler.log');
  const log = fs.openSync(logPath, 'a');
  const worker = spawn(
    wranglerBin,
    ['dev', '--local', '--ip', '127.0.0.1', '--port', String(port), '--persist-to', state,
      '--env-file', envFile, '--show-interactive-dev-session=false'],
    { cwd: adapter, env: wranglerEnv, detached: true, stdio: ['ignore', log, log] },
  );
  const exited = new Promise((resolve) => (worker.exitCode !== null ? resolve() : worker.once('exit', resolve)));
  let stopped = false;
  // Signals the whole process group; the promise resolves once it exited (at most 5 s).
  const stop = () => {
    if (!stopped) {
      stopped = true;
      try { process.kill(-worker.pid, 'SIGTERM'); } catch { /* already gone */ }
    }
    return Promise.race([exited, sleep(5000)]);
  };
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).status === 200) break;
    } catch { /* not up yet */ }
    if (i > 300 || worker.exitCode !== null) {
      stop();
      console.error(fs.readFileSync(logPath, 'utf8'));
      throw new Error('wrangler dev did not start');
    }
    await sleep(200);
  }
  // A D1 query against the Worker's local database (wrangler d1 execute, same state directory).
  const d1 = (sql) => {
    const out = execFileSync(wranglerBin, ['d1', 'execute', 'DB', '--local', '--persist-to', state, '--json', '--command', sql], {
      cwd: adapter,
      env: wranglerEnv,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return JSON.parse(out)[0].results;
  };
  return { base, logPath, stop, d1 };
}
