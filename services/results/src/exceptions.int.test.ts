import { createHash, randomBytes } from 'node:crypto';
import { CheckExpiredV1, ExceptionCreatedV1, ExceptionRevokedV1, ReevaluationRequestedV1 } from '@secbot/contracts';
import { createPublisher, type Publisher } from '@secbot/service-kit';
import {
  aCheck,
  aFinding,
  aJobPlan,
  anEventReceived,
  anOutputCompleted,
  aScanCompleted,
  captureLogs,
  eventually,
  publishEvents,
  readStream,
  streamEnv,
  TEST_POSTGRES_DSN,
  testNats,
  type TestNats,
} from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchemas } from './adapters/postgres/database.ts';
import { startResults, type RunningResults } from './service.ts';

const TOKEN = 'results-test-api-token-0123456789';
const BOB_TOKEN = 'results-test-bob-token-0123456789';
const READ_TOKEN = 'results-test-read-token-0123456789';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const schema = `t_exc_${randomBytes(4).toString('hex')}`;
const permissiveSchema = `${schema}_p`;
const DAY = 86_400_000;
const inDays = (days: number) => new Date(Date.now() + days * DAY).toISOString();

let nats: TestNats;
let publisher: Publisher;
let results: RunningResults;
/** Another results on the same stream (its own schema), that allows instance-wide exceptions and knows the old single token. */
let permissive: RunningResults;
let logs: ReturnType<typeof captureLogs>;

beforeAll(async () => {
  nats = await testNats('exceptions');
  publisher = createPublisher({ js: nats.js, stream: nats.stream });
  results = await startResults(
    {
      ...streamEnv(nats.stream),
      SECBOT_POSTGRES_DSN: TEST_POSTGRES_DSN,
      SECBOT_DB_SCHEMA: schema,
      SECBOT_API_TOKENS: JSON.stringify({ 'security-team': sha256(TOKEN), bob: sha256(BOB_TOKEN).toUpperCase() }),
      SECBOT_READ_TOKEN: READ_TOKEN,
      SECBOT_EXCEPTION_MAX_DAYS: '30',
      RESULTS_CHECK_DEADLINE_SECONDS: '2',
      RESULTS_DEADLINE_SWEEP_SECONDS: '1',
      LOG_LEVEL: 'warn',
    },
    { port: 0, logDestination: captureLogs() },
  );
  logs = captureLogs();
  permissive = await startResults(
    {
      ...streamEnv(nats.stream),
      SECBOT_POSTGRES_DSN: TEST_POSTGRES_DSN,
      SECBOT_DB_SCHEMA: permissiveSchema,
      SECBOT_API_TOKEN: TOKEN,
      SECBOT_ALLOW_INSTANCE_EXCEPTIONS: 'true',
      LOG_LEVEL: 'warn',
    },
    { port: 0, logDestination: logs },
  );
});

afterAll(async () => {
  await permissive?.close();
  await results?.close();
  await dropSchemas(TEST_POSTGRES_DSN, [schema, permissiveSchema]);
  await nats?.cleanup();
});

const status = async (id: string) => ((await (await fetch(`${results.url}/v1/security/gitlab/check/${id}`)).json()) as { status: string }).status;
const detailsOf = async (id: string) => (await fetch(`${results.url}/v1/security/gitlab/check/${id}/details`, { headers: { authorization: `Bearer ${READ_TOKEN}` } })).json() as Promise<any>;
const api = (path: string, init: RequestInit & { token?: string | null; on?: RunningResults } = {}) =>
  fetch(`${(init.on ?? results).url}${path}`, {
    ...init,
    headers: {
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(init.token === null ? {} : { authorization: `Bearer ${init.token ?? TOKEN}` }),
      ...(init.headers as Record<string, string> | undefined),
    },
  });

async function failingCheck(finding = aFinding({ fingerprint: `aws-access-token:${randomBytes(6).toString('hex')}` }), job = aJobPlan()) {
  const c = aCheck({ job });
  const output = job.outputs[0]!;
  const decided = anOutputCompleted(c, { output: output.name, blocking: [finding] });
  await publishEvents(publisher, [anEventReceived(c), aScanCompleted(c, { findings: [finding] }), { ...decided, data: { ...decided.data, handler: output.handler } }]);
  await eventually(async () => ((await status(c.securityCheckId)) === 'fail' ? true : undefined), 10_000, 'fail');
  return { c, finding };
}

const exceptionBody = (fingerprint: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ fingerprint, scope: 'project', instance_host: 'example.com', project_path: 'mike/diaspora', reason: 'fixture key, not a credential', expires_at: inDays(7), ...extra });

describe('exceptions to the built-in output', () => {
  it.each([
    ['no token', null],
    ['an unknown token', 'wrong-token-wrong-token'],
    ['the hash of a token instead of the token', sha256(TOKEN)],
    ['the read token', READ_TOKEN],
  ])('refuses a caller with %s (401), before reading the body', async (_name, token) => {
    expect((await api('/v1/security/exceptions', { token })).status).toBe(401);
    expect((await api('/v1/security/exceptions', { token, method: 'POST', body: '{"not":"valid"}' })).status).toBe(401);
    expect((await api('/v1/security/exceptions/00000000-0000-4000-8000-000000000000', { token, method: 'DELETE' })).status).toBe(401);
  });

  it('records the name of the caller’s token as the owner, and as who revoked', async () => {
    const fp = `generic-api-key:${randomBytes(6).toString('hex')}`;

    const created = await api('/v1/security/exceptions', { method: 'POST', body: exceptionBody(fp), token: BOB_TOKEN });

    expect(created.status).toBe(201);
    const { id, owner } = (await created.json()) as { id: string; owner: string };
    expect(owner).toBe('bob');
    expect((await api(`/v1/security/exceptions/${id}`, { method: 'DELETE' })).status).toBe(204);
    const events = (await readStream(nats, nats.stream)).filter((m) => (m.json as any).data?.exceptionId === id).map((m) => (m.json as any).data);
    expect(events).toContainEqual(expect.objectContaining({ owner: 'bob' }));
    expect(events).toContainEqual({ exceptionId: id, revokedBy: 'security-team' });
  });

  it.each([
    ['an owner in the body', { owner: 'someone-else' }],
    ['no expiry', { expires_at: undefined }],
    ['an expiry beyond SECBOT_EXCEPTION_MAX_DAYS', { expires_at: inDays(31) }],
  ])('answers 422 to %s', async (_name, extra) => {
    const res = await api('/v1/security/exceptions', { method: 'POST', body: exceptionBody('x:y', extra) });

    expect(res.status).toBe(422);
  });

  it('answers 422 to a revocation that names who revoked', async () => {
    const fp = `generic-api-key:${randomBytes(6).toString('hex')}`;
    const { id } = (await (await api('/v1/security/exceptions', { method: 'POST', body: exceptionBody(fp) })).json()) as { id: string };

    const res = await api(`/v1/security/exceptions/${id}`, { method: 'DELETE', body: JSON.stringify({ revoked_by: 'alice' }) });

    expect(res.status).toBe(422);
  });

  it('accepts an expiry at SECBOT_EXCEPTION_MAX_DAYS', async () => {
    const res = await api('/v1/security/exceptions', { method: 'POST', body: exceptionBody(`x:${randomBytes(6).toString('hex')}`, { expires_at: inDays(29.99) }) });

    expect(res.status).toBe(201);
  });

  it('refuses an instance-wide exception unless SECBOT_ALLOW_INSTANCE_EXCEPTIONS is true', async () => {
    const body = exceptionBody(`x:${randomBytes(6).toString('hex')}`, { scope: 'instance', project_path: undefined });

    const refused = await api('/v1/security/exceptions', { method: 'POST', body });
    const allowed = await api('/v1/security/exceptions', { method: 'POST', body, on: permissive });

    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toBe('instance_scope_not_allowed');
    expect(allowed.status).toBe(201);
  });

  it('accepts the deprecated SECBOT_API_TOKEN as the token named api-token, with a warning', async () => {
    const res = await api('/v1/security/exceptions', { method: 'POST', body: exceptionBody(`x:${randomBytes(6).toString('hex')}`), on: permissive });

    expect(res.status).toBe(201);
    expect(((await res.json()) as { owner: string }).owner).toBe('api-token');
    expect(logs.text()).toContain('SECBOT_API_TOKEN is deprecated');
  });

  it('turns fail into success on the next read, records the change as an event, and lists it', async () => {
    const { c, finding } = await failingCheck();

    const created = await api('/v1/security/exceptions', { method: 'POST', body: exceptionBody(finding.fingerprint) });

    expect(created.status).toBe(201);
    const exception = (await created.json()) as { id: string };
    expect(await status(c.securityCheckId)).toBe('success');
    const details = await detailsOf(c.securityCheckId);
    expect(details.blocking_findings).toEqual([]);
    expect(details.excepted_findings[0]).toMatchObject({ fingerprint: finding.fingerprint, exception: { id: exception.id, owner: 'security-team' } });
    const events = (await readStream(nats, nats.stream)).filter((m) => m.subject === ExceptionCreatedV1.subject(nats.stream.prefix));
    expect(events.map((e) => (e.json as any).data.exceptionId)).toContain(exception.id);
    const listed = (await (await api('/v1/security/exceptions?project_path=mike/diaspora')).json()) as { exceptions: { id: string }[] };
    expect(listed.exceptions.map((e) => e.id)).toContain(exception.id);
  });

  it('blocks again once the exception is revoked, and records the revocation', async () => {
    const { c, finding } = await failingCheck();
    const { id } = (await (await api('/v1/security/exceptions', { method: 'POST', body: exceptionBody(finding.fingerprint) })).json()) as { id: string };
    expect(await status(c.securityCheckId)).toBe('success');

    const revoked = await api(`/v1/security/exceptions/${id}`, { method: 'DELETE', token: BOB_TOKEN });

    expect(revoked.status).toBe(204);
    expect(await status(c.securityCheckId)).toBe('fail');
    const events = (await readStream(nats, nats.stream)).filter((m) => m.subject === ExceptionRevokedV1.subject(nats.stream.prefix));
    expect(events.map((e) => (e.json as any).data)).toContainEqual({ exceptionId: id, revokedBy: 'bob' });
  });

  it('lapses at its expiry without any new event', async () => {
    const { c, finding } = await failingCheck();
    const expiresAt = new Date(Date.now() + 1500).toISOString();

    await api('/v1/security/exceptions', { method: 'POST', body: exceptionBody(finding.fingerprint, { expires_at: expiresAt }) });

    expect(await status(c.securityCheckId)).toBe('success');
    await new Promise((r) => setTimeout(r, 1700));
    expect(await status(c.securityCheckId)).toBe('fail');
  });

  it('creates one exception for a retried request with the same Idempotency-Key', async () => {
    const fp = `generic-api-key:${randomBytes(6).toString('hex')}`;
    const send = () => api('/v1/security/exceptions', { method: 'POST', body: exceptionBody(fp), headers: { 'idempotency-key': `k-${fp}` } });

    const a = (await (await send()).json()) as { id: string };
    const b = (await (await send()).json()) as { id: string };

    expect(a.id).toBe(b.id);
    const listed = (await (await api('/v1/security/exceptions')).json()) as { exceptions: { fingerprint: string }[] };
    expect(listed.exceptions.filter((e) => e.fingerprint === fp)).toHaveLength(1);
  });

  it.each([
    ['a project scope without project_path', { scope: 'project', project_path: undefined }],
    ['an expiry in the past', { expires_at: '2020-01-01T00:00:00Z' }],
  ])('answers 422 to %s', async (_name, extra) => {
    const res = await api('/v1/security/exceptions', { method: 'POST', body: exceptionBody('x:y', extra) });

    expect(res.status).toBe(422);
  });

  it('does not apply to a DefectDojo output (triage happens there)', async () => {
    const job = aJobPlan({ outputs: [{ name: 'defectdojo', handler: 'defectdojo', config: {} }] });
    const { c, finding } = await failingCheck(undefined, job);

    await api('/v1/security/exceptions', { method: 'POST', body: exceptionBody(finding.fingerprint) });

    expect(await status(c.securityCheckId)).toBe('fail');
  });
});

describe('a failed status read', () => {
  it('asks external outputs to re-evaluate, once per window however often the gate polls', async () => {
    const job = aJobPlan({ outputs: [{ name: 'defectdojo', handler: 'defectdojo', config: {} }] });
    const { c } = await failingCheck(undefined, job);

    for (let i = 0; i < 5; i++) await status(c.securityCheckId);

    const requests = await eventually(async () => {
      const r = (await readStream(nats, nats.stream)).filter((m) => m.subject === ReevaluationRequestedV1.subject(nats.stream.prefix) && (m.json as any).securityCheckId === c.securityCheckId);
      return r.length ? r : undefined;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(requests).toHaveLength(1);
  });
});

describe('the deadline', () => {
  it('makes a check that never completes error, through a check.expired event naming what it waited for', async () => {
    const c = aCheck();
    await publishEvents(publisher, [anEventReceived(c, { at: new Date().toISOString() })]);

    await eventually(async () => ((await status(c.securityCheckId)) === 'error' ? true : undefined), 15_000, 'error');

    const details = await detailsOf(c.securityCheckId);
    expect(details.reasons).toEqual(['no result within 2 s; still waiting for scan gitleaks, output builtin for scan gitleaks']);
    const expired = (await readStream(nats, nats.stream)).filter((m) => m.subject === CheckExpiredV1.subject(nats.stream.prefix) && (m.json as any).securityCheckId === c.securityCheckId);
    expect(expired).toHaveLength(1);
  });
});
