// `make bench`: intake webhooks/s (each acknowledged by JetStream on disk) and results GET/s, each beside a
// bare fastify constant route on the same machine in the same run, plus the projection's events/s.
// Everything runs on 127.0.0.1; every load is bounded in time.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { EventReceivedV1 } from '@secbot/contracts';
import { createPublisher } from '@secbot/service-kit';
import {
  aCheck,
  anEventReceived,
  fixturePath,
  freePort,
  streamEnv,
  TEST_POSTGRES_DSN,
  testNats,
} from '@secbot/testing';
import { dropSchemas } from '../services/results/src/adapters/postgres/database.ts';

const DURATION = Number(process.env['BENCH_SECONDS'] ?? 8);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 50);
const DSN = TEST_POSTGRES_DSN;
const root = new URL('..', import.meta.url).pathname;

function spawnNode(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] });
}

async function ready(url: string) {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* starting */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not ready: ${url}`);
}

interface Row {
  what: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(what: string, opts: autocannon.Options): Promise<Row> {
  const r = await autocannon({ connections: CONNECTIONS, duration: DURATION, ...opts });
  return { what, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx };
}

const nats = await testNats('bench');
const schema = `bench_${randomBytes(4).toString('hex')}`;
const [barePort, intakePort, resultsPort] = [await freePort(), await freePort(), await freePort()];
const env = { ...streamEnv(nats.stream), SECBOT_POSTGRES_DSN: DSN, SECBOT_DB_SCHEMA: schema, INTAKE_PORT: String(intakePort), RESULTS_PORT: String(resultsPort) };
const procs = [
  spawnNode(['bench/bare-fastify.ts', String(barePort)], {}),
  spawnNode(['services/intake/src/main.ts'], env),
  spawnNode(['services/results/src/main.ts'], env),
];
const bare = `http://127.0.0.1:${barePort}`;
const intake = `http://127.0.0.1:${intakePort}`;
const results = `http://127.0.0.1:${resultsPort}`;
const rows: Row[] = [];
let projection = '';
try {
  await Promise.all([ready(`${bare}/const`), ready(`${intake}/readyz`), ready(`${results}/readyz`)]);
  const body = readFileSync(fixturePath('gitlab/docs_system_hook_push.json'), 'utf8');

  rows.push(await load('bare fastify POST constant route', { url: `${bare}/const`, method: 'POST', body, headers: { 'content-type': 'application/json' } }));
  rows.push(
    await load('intake POST /v1/gitlab/webhook (JetStream ack, file storage)', {
      url: `${intake}/v1/gitlab/webhook`,
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-gitlab-token': 'dev-webhook-secret', 'x-gitlab-event': 'System Hook' },
      // A new delivery each time, so every request is a durable publish, not a deduplicated retry.
      requests: [{ setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'idempotency-key': randomUUID() } }) }],
    }),
  );

  // Results reads a check the projection built from the stream.
  const c = aCheck();
  await createPublisher({ js: nats.js, stream: nats.stream }).publish(EventReceivedV1, anEventReceived(c));
  const statusUrl = `${results}/v1/security/gitlab/check/${c.securityCheckId}`;
  for (let i = 0; i < 200 && !(await (await fetch(statusUrl)).text()).includes('in_progress'); i++) await new Promise((r) => setTimeout(r, 50));
  rows.push(await load('bare fastify GET constant route', { url: `${bare}/const` }));
  rows.push(await load('results GET /v1/security/gitlab/check/{id} (PostgreSQL)', { url: statusUrl }));

  // Projection: publish a burst of checks' events, time until results answers for the last one.
  const n = 5000;
  const publisher = createPublisher({ js: nats.js, stream: nats.stream });
  const checks = Array.from({ length: n }, () => aCheck());
  const t0 = performance.now();
  for (let i = 0; i < n; i += 100) await Promise.all(checks.slice(i, i + 100).map((x) => publisher.publish(EventReceivedV1, anEventReceived(x))));
  const published = performance.now();
  const last = `${results}/v1/security/gitlab/check/${checks.at(-1)!.securityCheckId}`;
  while (!(await (await fetch(last)).text()).includes('in_progress')) await new Promise((r) => setTimeout(r, 20));
  const projected = performance.now();
  projection = `projection: ${n} events published in ${((published - t0) / 1000).toFixed(2)} s; all projected ${((projected - t0) / 1000).toFixed(2)} s after the first publish (${Math.round(n / ((projected - t0) / 1000))} events/s end to end)`;
} finally {
  for (const p of procs) p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1500));
  await dropSchemas(DSN, [schema]);
  await nats.cleanup();
}

console.log(`\nSecBot benchmark — ${DURATION} s per load, ${CONNECTIONS} connections, 127.0.0.1, Node ${process.version}, NATS and PostgreSQL on the same 2-core machine\n`);
console.log(`${'what'.padEnd(64)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'errors'.padStart(7)} ${'non-2xx'.padStart(8)}`);
for (const r of rows) console.log(`${r.what.padEnd(64)} ${Math.round(r.rps).toString().padStart(8)} ${String(r.p50).padStart(7)} ${String(r.p99).padStart(7)} ${String(r.errors).padStart(7)} ${String(r.non2xx).padStart(8)}`);
const ratio = (a: number, b: number) => `${((a / b) * 100).toFixed(0)}%`;
console.log(`\nintake reaches ${ratio(rows[1]!.rps, rows[0]!.rps)} of bare fastify POST; results reaches ${ratio(rows[3]!.rps, rows[2]!.rps)} of bare fastify GET`);
console.log(projection);
