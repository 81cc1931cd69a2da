// Starts the real `concierge-server` binary for the HTTP contract suite: its own SQLite file
// and port, its own process group, stopped by its own PID.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// Newest modification time (ms) of the files under `dirs` (recursively).
function newest(dirs) {
  let max = 0;
  const walk = (p) => {
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
    else max = Math.max(max, st.mtimeMs);
  };
  dirs.forEach(walk);
  return max;
}

/// The server binary: `$CONCIERGE_SERVER_BIN`, else `target/debug/concierge-server` (under
/// `$CARGO_TARGET_DIR` when set), built with `cargo build -p concierge-server` when it is missing
/// or older than the sources it is built from.
export function serverBinary(root) {
  if (process.env.CONCIERGE_SERVER_BIN) return process.env.CONCIERGE_SERVER_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? path.join(root, 'target');
  const bin = path.join(target, 'debug', 'concierge-server');
  const built = fs.statSync(bin, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const sources = newest(['Cargo.toml', 'Cargo.lock', 'concierge-core/src', 'concierge-core/Cargo.toml',
    'adapter-server/src', 'adapter-server/migrations', 'adapter-server/Cargo.toml'].map((p) => path.join(root, p)));
  if (built < sources) {
    console.log(built ? 'concierge-server is older than its sources: building it' : 'building concierge-server');
    execFileSync('nice', ['cargo', 'build', '-p', 'concierge-server'], { cwd: root, stdio: 'inherit' });
  }
  return bin;
}

/// Runs `bin` with exactly `env` (plus RUST_LOG), listening on 127.0.0.1:`port`, its database in
/// `state`. Resolves once `/healthz` answers 200; returns `{ base, logPath, stop() }` (stop resolves once it exited).
export async function startServer({ bin, env, state, port }) {
  const logPath = path.join(state, 'server.log');
  const log = fs.openSync(logPath, 'a');
  const child = spawn(bin, [], {
    cwd: state,
    env: {
      RUST_LOG: process.env.RUST_LOG ?? 'warn',
      // CONTRACT_DATABASE_URL runs the suite on another database (e.g. PostgreSQL).
      DATABASE_URL: process.env.CONTRACT_DATABASE_URL ?? `sqlite:${path.join(state, 'concierge.db')}`,
      CONCIERGE_BIND: `127.0.0.1:${port}`,
      ...env,
    },
    detached: true,
    stdio: ['ignore', log, log],
  });
  const exited = new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
  let stopped = false;
  // Signals the whole process group; the promise resolves once it exited (at most 5 s).
  const stop = () => {
    if (!stopped) {
      stopped = true;
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
    }
    return Promise.race([exited, sleep(5000)]);
  };
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).status === 200) break;
    } catch { /* not up yet */ }
    if (i > 600 || child.exitCode !== null) {
      stop();
      console.error(fs.readFileSync(logPath, 'utf8'));
      throw new Error('concierge-server did not start');
    }
    await sleep(100);
  }
  return { base, logPath, stop };
}
