// `make up`: makes sure NATS JetStream and a database are there, then runs every service in the foreground
// with readable logs. Ctrl-C stops everything (and the nats-server it started, if any).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { createInterface } from 'node:readline';
import { loadEnvironment } from '../packages/service-kit/src/env-files.ts';

const root = new URL('..', import.meta.url).pathname;
process.chdir(root);
const env = loadEnvironment(root);
// `make up` is the development run: the services accept the public secrets of .env.dev (an explicit
// SECBOT_ENV in the environment or .env.override wins, e.g. to see the production check refuse them).
env['SECBOT_ENV'] ??= 'development';
const colors = ['\x1b[36m', '\x1b[35m', '\x1b[33m', '\x1b[32m', '\x1b[34m', '\x1b[96m', '\x1b[95m'];
const dim = '\x1b[2m';
const reset = '\x1b[0m';
const levelColor: Record<string, string> = { warn: '\x1b[33m', error: '\x1b[31m', fatal: '\x1b[41m' };

const say = (msg: string) => console.log(`\x1b[1;34m[secbot]${reset} ${msg}`);

function reachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function hostPort(url: string, defaultPort: number): { host: string; port: number } {
  const u = new URL(url.split(',')[0]!.trim());
  return { host: u.hostname || '127.0.0.1', port: Number(u.port || defaultPort) };
}

const children: { name: string; proc: ChildProcess }[] = [];
let stopping = false;

function pipeLogs(name: string, color: string, stream: NodeJS.ReadableStream) {
  const rl = createInterface({ input: stream });
  rl.on('line', (line) => {
    let rec: Record<string, unknown> | undefined;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      rec = undefined;
    }
    if (!rec || typeof rec !== 'object') return void console.log(`${color}${name.padEnd(18)}${reset} ${line}`);
    const { time, level, msg, service: _s, ...rest } = rec;
    const t = typeof time === 'string' ? time.slice(11, 23) : '';
    const lvl = typeof level === 'string' ? level : 'info';
    const fields = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    console.log(`${dim}${t}${reset} ${color}${name.padEnd(18)}${reset} ${levelColor[lvl] ?? ''}${lvl.padEnd(5)}${reset} ${typeof msg === 'string' ? msg : ''} ${dim}${fields}${reset}`);
  });
}

function start(name: string, command: string, args: string[], extraEnv: Record<string, string>, color: string): ChildProcess {
  // Own process group: Ctrl-C reaches only this runner, which then stops the services in order.
  const proc = spawn(command, args, { env: { ...process.env, ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  pipeLogs(name, color, proc.stdout);
  pipeLogs(name, color, proc.stderr);
  proc.once('exit', (code, signal) => {
    if (stopping) return;
    say(`${name} exited (${signal ?? `code ${code}`}); stopping everything`);
    void stopAll(1);
  });
  children.push({ name, proc });
  return proc;
}

async function stopAll(code: number) {
  if (stopping) return;
  stopping = true;
  say('stopping…');
  const exits = children.map(
    ({ proc }) => new Promise<void>((resolve) => (proc.exitCode !== null || proc.signalCode ? resolve() : proc.once('exit', () => resolve()))),
  );
  // Services first, nats-server last, so they can drain.
  for (const { name, proc } of [...children].reverse()) if (name !== 'nats-server') proc.kill('SIGTERM');
  await Promise.race([Promise.all(exits.slice(1)), new Promise((r) => setTimeout(r, 8000))]);
  for (const { proc } of children) if (proc.exitCode === null) proc.kill('SIGTERM');
  await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 4000))]);
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));
// Should the runner die some other way, take the services with it.
process.on('exit', () => {
  for (const { proc } of children) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
});

async function waitReady(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !stopping) {
    try {
      const r = await fetch(url);
      if (r.ok) return true;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

const overrides: Record<string, string> = {};

// NATS JetStream: use the configured server, or start one with a data folder under the project.
const natsUrl = env['SECBOT_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const nats = hostPort(natsUrl, 4222);
if (await reachable(nats.host, nats.port)) {
  say(`NATS answers at ${nats.host}:${nats.port}`);
} else {
  const bin = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'].find(existsSync);
  if (!bin) {
    say(`no NATS at ${nats.host}:${nats.port} and no nats-server binary: run 'apt-get install nats-server' or set SECBOT_NATS_URL`);
    process.exit(1);
  }
  mkdirSync('.data/nats', { recursive: true });
  say(`no NATS at ${nats.host}:${nats.port}: starting nats-server with JetStream (data in .data/nats)`);
  start('nats-server', bin, ['-a', nats.host, '-p', String(nats.port), '-js', '-sd', `${root}.data/nats`, '-l', `${root}.data/nats/nats-server.log`], {}, dim);
  for (let i = 0; i < 50 && !(await reachable(nats.host, nats.port)); i++) await new Promise((r) => setTimeout(r, 200));
}

// PostgreSQL: use the configured one when it answers, else the embedded PGlite (data in .data/pglite).
const dsn = env['SECBOT_POSTGRES_DSN'];
const pg = dsn ? hostPort(dsn.replace(/^postgres(ql)?:/, 'http:'), 5432) : undefined;
if (env['SECBOT_DB_DRIVER'] !== 'pglite' && pg && (await reachable(pg.host, pg.port))) {
  say(`PostgreSQL answers at ${pg.host}:${pg.port}`);
} else {
  say(dsn ? `PostgreSQL at ${pg?.host}:${pg?.port} does not answer: using the embedded PGlite database in .data/pglite` : 'no SECBOT_POSTGRES_DSN: using the embedded PGlite database in .data/pglite');
  overrides['SECBOT_DB_DRIVER'] = 'pglite';
}

// Every service with a main.ts, or only those listed in SECBOT_UP_SERVICES (comma-separated).
const only = (env['SECBOT_UP_SERVICES'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const services = readdirSync('services')
  .filter((s) => existsSync(`services/${s}/src/main.ts`) && (only.length === 0 || only.includes(s)))
  .sort((a, b) => (a === 'results' ? -1 : b === 'results' ? 1 : a.localeCompare(b)));
for (const [i, s] of services.entries()) start(s, process.execPath, [`services/${s}/src/main.ts`], overrides, colors[i % colors.length]!);

const host = env['SECBOT_LISTEN_HOST'] ?? '127.0.0.1';
const shown = host === '0.0.0.0' ? '127.0.0.1' : host;
const intake = `http://${shown}:${env['INTAKE_PORT'] ?? '5000'}`;
const results = `http://${shown}:${env['RESULTS_PORT'] ?? '5001'}`;
const ok = (await waitReady(`${results}/readyz`, 60_000)) && (await waitReady(`${intake}/readyz`, 30_000));
if (ok && !stopping) {
  console.log(`
\x1b[1mSecBot is up.\x1b[0m
  intake   ${intake}    POST /v1/gitlab/webhook              docs ${intake}/docs
  results  ${results}    GET  /v1/security/gitlab/check/{id}  docs ${results}/docs
  services ${services.join(', ')}
Ctrl-C stops everything.
`);
} else if (!stopping) {
  say('services did not become ready in time; see the logs above');
}
