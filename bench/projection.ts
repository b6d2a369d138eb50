// `make bench-projection`: 100,000 events (25,000 checks × event.received, scan.completed, output.completed,
// notified) through the live projection, then `projection rebuild` of the same stream into a fresh schema:
// events/s of each, whether the rows are identical, and the stream's size per 10,000 checks.
import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import { dropSchemas, openDatabase, projectionName, rebuildProjection, ResultsSettings, startResults } from '@secbot/results';
import { createLogger, createPublisher, readSettings, type Publisher } from '@secbot/service-kit';
import {
  aCheck,
  aFinding,
  anEventReceived,
  aNotified,
  anOutputCompleted,
  aScanCompleted,
  captureLogs,
  streamEnv,
  TEST_POSTGRES_DSN,
  testNats,
} from '@secbot/testing';
import { EventReceivedV1, NotifiedV1, OutputCompletedV1, ScanCompletedV1 } from '@secbot/contracts';

const CHECKS = Number(process.env['BENCH_CHECKS'] ?? 25_000);
const DSN = TEST_POSTGRES_DSN;
const quiet = createLogger({ service: 'bench', level: 'silent' });

async function publishAll(publisher: Publisher): Promise<number> {
  let n = 0;
  const window: Promise<unknown>[] = [];
  for (let i = 0; i < CHECKS; i++) {
    const c = aCheck();
    const findings = i % 4 === 0 ? [aFinding({ fingerprint: `aws-access-token:${i}` })] : [];
    window.push(
      publisher.publish(EventReceivedV1, anEventReceived(c)),
      publisher.publish(ScanCompletedV1, aScanCompleted(c, { findings })),
      publisher.publish(OutputCompletedV1, anOutputCompleted(c, { blocking: findings })),
      publisher.publish(NotifiedV1, aNotified(c)),
    );
    n += 4;
    if (window.length >= 256) await Promise.all(window.splice(0));
  }
  await Promise.all(window);
  return n;
}

async function fingerprintRows(schema: string): Promise<{ rows: number; events: number; digest: string }> {
  const db = await openDatabase({ driver: 'postgresql', dsn: DSN, schema }, quiet);
  const conn = db.em().getConnection();
  const checks = (await conn.execute(`select md5(string_agg(id || status || state::text || created_at::text || updated_at::text, ',' order by id)) as d, count(*) as n from "${schema}".security_check`)) as { d: string; n: string }[];
  const events = (await conn.execute(`select md5(string_agg(check_id || seq::text || event_id::text || summary, ',' order by check_id, seq)) as d, count(*) as n from "${schema}".check_event`)) as { d: string; n: string }[];
  await db.close();
  return { rows: Number(checks[0]?.n), events: Number(events[0]?.n), digest: createHash('sha256').update(`${checks[0]?.d}${events[0]?.d}`).digest('hex').slice(0, 16) };
}

const nats = await testNats('benchproj');
const base = `bench_proj_${randomBytes(4).toString('hex')}`;
const env = { ...streamEnv(nats.stream), SECBOT_POSTGRES_DSN: DSN, SECBOT_DB_SCHEMA: base, LOG_LEVEL: 'warn', RESULTS_CHECK_DEADLINE_SECONDS: '86400000', RESULTS_POINTER_POLL_SECONDS: '300' };
let rebuiltSchema = '';
try {
  const publisher = createPublisher({ js: nats.js, stream: nats.stream });
  const t0 = performance.now();
  const total = await publishAll(publisher);
  const published = (performance.now() - t0) / 1000;
  const info = await nats.jsm.streams.info(nats.stream.name);

  const live = await startResults(env, { port: 0, logDestination: captureLogs() });
  const t1 = performance.now();
  await live.caughtUp(600_000);
  const liveSeconds = (performance.now() - t1) / 1000;
  await live.close();

  const settings = readSettings(ResultsSettings, env);
  const db = await openDatabase({ driver: 'postgresql', dsn: DSN, schema: base }, quiet);
  const rebuilt = await rebuildProjection({ nats, stream: nats.stream, db, projectionName: projectionName(settings), log: quiet });
  rebuiltSchema = rebuilt.schema;
  await db.close();

  const a = await fingerprintRows(base);
  const b = await fingerprintRows(rebuilt.schema);
  console.log(`\nSecBot projection benchmark — ${total} events for ${CHECKS} checks, NATS and PostgreSQL on the same machine, Node ${process.version}\n`);
  console.log(`published (JetStream acks, 256 in flight):   ${Math.round(total / published)} events/s (${published.toFixed(1)} s)`);
  console.log(`live projection (results from an empty schema): ${Math.round(total / liveSeconds)} events/s (${liveSeconds.toFixed(1)} s)`);
  console.log(`secbot projection rebuild into a fresh schema:  ${rebuilt.eventsPerSecond} events/s (${rebuilt.seconds.toFixed(1)} s)`);
  console.log(`rows: live ${a.rows} checks / ${a.events} timeline rows (digest ${a.digest}); rebuilt ${b.rows} / ${b.events} (digest ${b.digest}): ${a.digest === b.digest && a.rows === b.rows ? 'IDENTICAL' : 'DIFFERENT'}`);
  console.log(`stream: ${info.state.messages} messages, ${(info.state.bytes / 1024 / 1024).toFixed(1)} MiB; ${((info.state.bytes / CHECKS) * 10_000 / 1024 / 1024).toFixed(1)} MiB per 10,000 checks (4 events each)`);
  if (a.digest !== b.digest) process.exitCode = 1;
} finally {
  await dropSchemas(DSN, [base, rebuiltSchema].filter(Boolean));
  await nats.cleanup();
}
