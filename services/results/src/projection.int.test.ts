import { randomBytes } from 'node:crypto';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { createLogger, createPublisher, type Publisher } from '@secbot/service-kit';
import {
  aCheck,
  aFinding,
  anEventReceived,
  anOutputCompleted,
  aScanCompleted,
  captureLogs,
  eventually,
  publishEvents,
  streamEnv,
  TEST_POSTGRES_DSN,
  testNats,
  type TestNats,
} from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchemas, openDatabase, type Database } from './adapters/postgres/database.ts';
import { CheckEvent, SecurityCheck } from './adapters/postgres/entities.ts';
import { evolveCheckState, type CheckState, type ProjectedEvent } from './check-status.ts';
import { startResults, type RunningResults } from './service.ts';

const DSN = TEST_POSTGRES_DSN;
const READ_TOKEN = 'projection-test-read-token-0123456789';
const quiet = createLogger({ service: 'test', level: 'silent' });

let nats: TestNats;
let publisher: Publisher;
const schemas: string[] = [];
const running: RunningResults[] = [];
const databases: Database[] = [];

function newSchema(): string {
  const s = `t_results_${randomBytes(4).toString('hex')}`;
  schemas.push(s);
  return s;
}

async function start(schema: string, extra: Record<string, string> = {}): Promise<RunningResults> {
  const r = await startResults({ ...streamEnv(nats.stream), SECBOT_POSTGRES_DSN: DSN, SECBOT_DB_SCHEMA: schema, SECBOT_READ_TOKEN: READ_TOKEN, LOG_LEVEL: 'warn', ...extra }, { port: 0, logDestination: captureLogs() });
  running.push(r);
  return r;
}

async function stop(r: RunningResults) {
  await r.close();
  running.splice(running.indexOf(r), 1);
}

async function db(schema: string): Promise<Database> {
  const d = await openDatabase({ driver: 'postgresql', dsn: DSN, schema }, quiet);
  databases.push(d);
  return d;
}

async function rows(d: Database) {
  const em = d.em();
  const checks = await em.find(SecurityCheck, {}, { orderBy: { id: 'asc' } });
  const events = await em.find(CheckEvent, {}, { orderBy: { checkId: 'asc', seq: 'asc' } });
  return {
    checks: checks.map((c) => ({ id: c.id, status: c.status, projectPath: c.projectPath, commitSha: c.commitSha, jobName: c.jobName, state: c.state, createdAt: c.createdAt.toISOString(), updatedAt: c.updatedAt.toISOString(), lastSeq: c.lastSeq })),
    events: events.map((e) => ({ checkId: e.checkId, seq: e.seq, eventId: e.eventId, type: e.type, summary: e.summary, occurredAt: e.occurredAt.toISOString() })),
  };
}

const status = async (r: RunningResults, id: string) => ((await (await fetch(`${r.url}/v1/security/gitlab/check/${id}`)).json()) as { status: string }).status;

beforeAll(async () => {
  nats = await testNats('results');
  publisher = createPublisher({ js: nats.js, stream: nats.stream });
});

afterAll(async () => {
  for (const r of [...running]) await r.close();
  await dropSchemas(DSN, schemas);
  for (const d of databases) await d.close();
  await nats?.cleanup();
});

const publishAll = (events: ProjectedEvent[]) => publishEvents(publisher, events);

describe('results projection', () => {
  it('follows a check from not_started through in_progress to fail, and shows why', async () => {
    const results = await start(newSchema());
    const c = aCheck();
    const finding = aFinding({ file: 'src/<b>config</b>.ts', startLine: 7 });

    expect(await status(results, c.securityCheckId)).toBe('not_started');
    await publishAll([anEventReceived(c)]);
    await eventually(async () => ((await status(results, c.securityCheckId)) === 'in_progress' ? true : undefined), 10_000, 'in_progress');
    await publishAll([aScanCompleted(c, { findings: [finding] }), anOutputCompleted(c, { blocking: [finding] })]);
    await eventually(async () => ((await status(results, c.securityCheckId)) === 'fail' ? true : undefined), 10_000, 'fail');

    const details = (await (await fetch(`${results.url}/v1/security/gitlab/check/${c.securityCheckId}/details`, { headers: { authorization: `Bearer ${READ_TOKEN}` } })).json()) as Record<string, any>;
    expect(details).toMatchObject({
      status: 'fail',
      project: { path: 'mike/diaspora' },
      commit: { sha: c.sha },
      job: { name: 'Secrets in every change', scans: ['gitleaks'], outputs: ['builtin'] },
      counts: { findings: 1, blocking: 1 },
      scans: [{ name: 'gitleaks', status: 'ok', findings: 1 }],
      outputs: [{ scan: 'gitleaks', output: 'builtin', status: 'ok', blocking: 1 }],
    });
    expect(details['blocking_findings'][0]).toMatchObject({ rule: 'aws-access-token', file: 'src/<b>config</b>.ts', line: 7, fingerprint: finding.fingerprint });
    expect(details['blocking_findings'][0].links.file).toBe(`http://example.com/mike/diaspora/-/blob/${finding.commit}/src/%3Cb%3Econfig%3C/b%3E.ts#L7`);
    expect(details['timeline'].map((t: { type: string }) => t.type)).toEqual(['event.received', 'scan.completed', 'output.completed']);
  });

  it('answers not_started for an unknown id, 404 for its details, and 422 for a malformed id', async () => {
    const results = running[0] ?? (await start(newSchema()));
    const unknown = `GIT_LOCAL_${'0'.repeat(64)}`;

    expect(await status(results, unknown)).toBe('not_started');
    expect((await fetch(`${results.url}/v1/security/gitlab/check/${unknown}/details`)).status).toBe(404);
    for (const bad of ['GIT_LOCAL_123', `${'0'.repeat(64)}`, `GIT_LOCAL_${'Z'.repeat(64)}`]) {
      const res = await fetch(`${results.url}/v1/security/gitlab/check/${bad}`);
      expect(res.status, bad).toBe(422);
    }
  });

  it('loses nothing when results restarts in the middle of the stream', async () => {
    const schema = newSchema();
    const checks = Array.from({ length: 60 }, () => aCheck());
    const events: ProjectedEvent[] = checks.flatMap((c, i) => [
      anEventReceived(c),
      aScanCompleted(c, { findings: i % 3 === 0 ? [aFinding()] : [] }),
      anOutputCompleted(c, { blocking: i % 3 === 0 ? [aFinding()] : [], status: i % 7 === 0 ? 'error' : 'ok', reason: i % 7 === 0 ? 'DefectDojo answered 503' : undefined }),
    ]);
    await publishAll(events);
    const d = await db(schema);

    const first = await start(schema, { RESULTS_BATCH_SIZE: '3' });
    const applied = await eventually(async () => {
      const n = (await rows(d)).events.length;
      return n > 0 ? n : undefined;
    }, 20_000, 'some events applied');
    await stop(first);
    const atStop = (await rows(d)).events.length;
    const second = await start(schema);
    await second.caughtUp(30_000);

    const expected = new Map<string, CheckState>();
    for (const e of events) expected.set(e.securityCheckId, evolveCheckState(expected.get(e.securityCheckId) ?? null, e));
    const mine = (await rows(d)).checks.filter((r) => expected.has(r.id));
    expect(applied).toBeGreaterThan(0);
    expect(atStop, 'stopped in the middle of the stream').toBeLessThan(events.length);
    expect(mine).toHaveLength(checks.length);
    for (const r of mine) expect(r.state, r.id).toEqual(expected.get(r.id));
    expect(new Set(mine.map((r) => r.status))).toEqual(new Set(['success', 'fail', 'error']));
  });

  it('ignores events republished after the duplicate window (a replay changes nothing)', async () => {
    const schema = newSchema();
    const results = await start(schema);
    const c = aCheck();
    const events = [anEventReceived(c), aScanCompleted(c), anOutputCompleted(c, { blocking: [aFinding()] })];
    await publishAll(events);
    await results.caughtUp();
    const d = await db(schema);
    const before = await rows(d);

    // Without Nats-Msg-Id JetStream stores them again, as it would after the duplicate window.
    for (const e of events) await nats.js.publish(`${nats.stream.prefix}.${e.type}.v1`, JSON.stringify(e), { headers: natsHeaders() });
    await results.caughtUp();

    const after = await rows(d);
    expect(after.checks.map(({ lastSeq: _l, ...r }) => r)).toEqual(before.checks.map(({ lastSeq: _l, ...r }) => r));
    expect(after.events).toEqual(before.events);
  });

  it('rebuilds from the stream into a fresh schema with the same rows', async () => {
    const live = running.at(-1)!;
    await publishAll(Array.from({ length: 5 }, () => aCheck()).flatMap((c) => [anEventReceived(c), aScanCompleted(c), anOutputCompleted(c)]));
    await live.caughtUp();
    const liveSchema = schemas.at(-1)!;

    const rebuilt = await start(newSchema());
    await rebuilt.caughtUp(30_000);

    const a = await rows(await db(liveSchema));
    const b = await rows(await db(schemas.at(-1)!));
    expect(b.checks.length).toBeGreaterThan(60);
    expect(b).toEqual(a);
  });
});
