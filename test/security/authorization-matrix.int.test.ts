import { randomUUID } from 'node:crypto';
import { createPublisher, routesOf, signCheckLink, type HttpServer } from '@secbot/service-kit';
import { aCheck, aFinding, anEventReceived, anOutputCompleted, aScanCompleted, gitlabFixture, publishEvents, type CheckFixture } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, freshAddress, LINK_KEY, READ_TOKEN, REVOKED_API_TOKEN, SECRETS, startSecbotIntake, startSecbotResults, type SecbotUnderTest } from './support.ts';

/**
 * Every HTTP route of intake and results × the credentials a caller may present, and the status each gets.
 * The routes come from the running servers (routesOf), so a route added without a row here fails the test.
 *
 * Credentials, in the kind the route asks for:
 * - none: nothing;
 * - wrong: a value no configuration holds;
 * - expired: one that was valid: a rotated webhook secret, the job token of a finished job, an API token no
 *   longer in SECBOT_API_TOKENS;
 * - otherProject: a valid credential of someone else: another project's webhook secret, the job token of a
 *   running job of another project (also where job tokens are no credential);
 * - valid: what the route asks for.
 */
type Credential = 'none' | 'wrong' | 'expired' | 'otherProject' | 'valid';
const CREDENTIALS: Credential[] = ['none', 'wrong', 'expired', 'otherProject', 'valid'];
type Kind = 'public' | 'webhook-secret' | 'job-token' | 'api-token';

interface Row {
  /** What to request for the route's pattern. */
  url: string;
  kind: Kind;
  body?: () => unknown;
  headers?: Record<string, string>;
  expect: Record<Credential, number>;
}

const PUBLIC = (status = 200): Pick<Row, 'kind' | 'expect'> => ({ kind: 'public', expect: { none: status, wrong: status, expired: status, otherProject: status, valid: status } });
const OPERATIONS = (): Record<string, Row> => ({
  'GET /docs': { url: '/docs', ...PUBLIC() },
  'GET /docs/static/index.html': { url: '/docs/static/index.html', ...PUBLIC(302) },
  'GET /docs/static/swagger-initializer.js': { url: '/docs/static/swagger-initializer.js', ...PUBLIC() },
  'GET /docs/json': { url: '/docs/json', ...PUBLIC() },
  'GET /docs/yaml': { url: '/docs/yaml', ...PUBLIC() },
  'GET /docs/static/*': { url: '/docs/static/swagger-ui.css', ...PUBLIC() },
  'GET /healthz': { url: '/healthz', ...PUBLIC() },
  'GET /readyz': { url: '/readyz', ...PUBLIC() },
  'GET /metrics': { url: '/metrics', ...PUBLIC() },
});

const SHA = 'a'.repeat(40);
const JOB_TOKENS = { running: 'glcbt-security-running', finished: 'glcbt-security-finished', other: 'glcbt-security-other-project' };

function headersFor(kind: Kind, credential: Credential): Record<string, string> {
  const by: Record<Kind, Record<Credential, Record<string, string>>> = {
    public: {
      none: {},
      wrong: { authorization: 'Bearer wrong-wrong-wrong', 'job-token': 'glcbt-wrong', 'x-gitlab-token': 'wrong-secret' },
      expired: { 'job-token': JOB_TOKENS.finished },
      otherProject: { 'job-token': JOB_TOKENS.other },
      valid: { authorization: `Bearer ${READ_TOKEN}` },
    },
    'webhook-secret': {
      none: {},
      wrong: { 'x-gitlab-token': 'not-the-webhook-secret' },
      expired: { 'x-gitlab-token': SECRETS.rotated },
      otherProject: { 'x-gitlab-token': SECRETS.anotherProject },
      valid: { 'x-gitlab-token': SECRETS.example },
    },
    'job-token': {
      none: {},
      wrong: { 'job-token': 'glcbt-nobody-knows-this-one' },
      expired: { 'job-token': JOB_TOKENS.finished },
      otherProject: { 'job-token': JOB_TOKENS.other },
      valid: { 'job-token': JOB_TOKENS.running },
    },
    'api-token': {
      none: {},
      wrong: { authorization: 'Bearer not-an-api-token-0000' },
      expired: { authorization: `Bearer ${REVOKED_API_TOKEN}` },
      otherProject: { 'job-token': JOB_TOKENS.other },
      valid: { authorization: `Bearer ${API_TOKEN}` },
    },
  };
  return by[kind][credential];
}

let secbot: SecbotUnderTest;
let results: Awaited<ReturnType<typeof startSecbotResults>>;
let check: CheckFixture;
let exceptionId: string;

beforeAll(async () => {
  secbot = await startSecbotIntake('secmatrix');
  results = await startSecbotResults(secbot.nats);
  const jobs = secbot.jobs;
  jobs.jobs.set(JOB_TOKENS.running, { id: 1, projectId: 7, projectPath: 'group/app', sha: SHA, status: 'running' });
  jobs.jobs.set(JOB_TOKENS.finished, { id: 2, projectId: 7, projectPath: 'group/app', sha: SHA, status: 'success' });
  jobs.jobs.set(JOB_TOKENS.other, { id: 3, projectId: 8, projectPath: 'other/app', sha: SHA, status: 'running' });
  // A failed check of group/app on the fake's instance: its details and report are what the job tokens ask for.
  check = aCheck({ host: '127.0.0.1', instanceUrl: secbot.gitlab.url, project: 'group/app', sha: SHA });
  const finding = aFinding();
  await publishEvents(createPublisher({ js: secbot.nats.js, stream: secbot.nats.stream }), [anEventReceived(check), aScanCompleted(check, { findings: [finding] }), anOutputCompleted(check, { blocking: [finding] })]);
  await results.results.caughtUp();
  const created = await results.results.app.inject({ method: 'POST', url: '/v1/security/exceptions', headers: { authorization: `Bearer ${API_TOKEN}` }, payload: exceptionBody(), remoteAddress: freshAddress() });
  exceptionId = created.json<{ id: string }>().id;
});

afterAll(async () => {
  await results?.close();
  await secbot?.close();
});

const exceptionBody = () => ({
  fingerprint: `fp-${randomUUID()}`,
  scope: 'project',
  instance_host: '127.0.0.1',
  project_path: 'group/app',
  reason: 'security matrix',
  expires_at: new Date(Date.now() + 86_400_000).toISOString(),
});

const INTAKE = (): Record<string, Row> => ({
  ...OPERATIONS(),
  'POST /v1/gitlab/webhook': {
    url: '/v1/gitlab/webhook',
    kind: 'webhook-secret',
    headers: { 'x-gitlab-event': 'System Hook' },
    body: () => gitlabFixture('docs_system_hook_push'),
    // otherProject: the project webhook secret of group/app, for an event of mike/diaspora: foreign_project.
    expect: { none: 403, wrong: 403, expired: 403, otherProject: 403, valid: 202 },
  },
  'POST /v1/gitlab/ci/checks': {
    url: '/v1/gitlab/ci/checks',
    kind: 'job-token',
    body: () => ({ host: '127.0.0.1', project: 'group/app', sha: SHA, ref: 'main' }),
    expect: { none: 401, wrong: 401, expired: 401, otherProject: 403, valid: 202 },
  },
});

const RESULTS = (): Record<string, Row> => ({
  ...OPERATIONS(),
  // The CI gate polls the status without a credential: it says only not_started, in_progress, success, fail or error.
  'GET /v1/security/gitlab/check/:security_check_id': { url: `/v1/security/gitlab/check/${check.securityCheckId}`, ...PUBLIC() },
  'GET /v1/security/gitlab/check/:security_check_id/details': {
    url: `/v1/security/gitlab/check/${check.securityCheckId}/details`,
    kind: 'job-token',
    expect: { none: 401, wrong: 401, expired: 401, otherProject: 403, valid: 200 },
  },
  'GET /v1/security/gitlab/check/:security_check_id/report': {
    url: `/v1/security/gitlab/check/${check.securityCheckId}/report`,
    kind: 'job-token',
    expect: { none: 401, wrong: 401, expired: 401, otherProject: 403, valid: 200 },
  },
  'POST /v1/security/exceptions': {
    url: '/v1/security/exceptions',
    kind: 'api-token',
    body: exceptionBody,
    expect: { none: 401, wrong: 401, expired: 401, otherProject: 401, valid: 201 },
  },
  'GET /v1/security/exceptions': { url: '/v1/security/exceptions', kind: 'api-token', expect: { none: 401, wrong: 401, expired: 401, otherProject: 401, valid: 200 } },
  'DELETE /v1/security/exceptions/:id': {
    url: '/v1/security/exceptions/{exception}',
    kind: 'api-token',
    expect: { none: 401, wrong: 401, expired: 401, otherProject: 401, valid: 204 },
  },
});

async function statusOf(app: HttpServer, key: string, row: Row, credential: Credential): Promise<number> {
  const [method] = key.split(' ');
  const body = row.body?.();
  const res = await app.inject({
    method: method as 'GET' | 'POST' | 'DELETE',
    url: row.url.replace('{exception}', exceptionId),
    headers: { ...row.headers, ...headersFor(row.kind, credential), ...(body === undefined ? {} : { 'content-type': 'application/json', 'idempotency-key': randomUUID() }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    // Each request from its own address: the failed-authentication limit is tested on its own.
    remoteAddress: freshAddress(),
  });
  return res.statusCode;
}

const printed: string[] = [];

describe.each([
  ['intake', () => secbot.intake.app, INTAKE],
  ['results', () => results.results.app, RESULTS],
] as const)('%s', (service, app, table) => {
  it('has a row for every route it serves', () => {
    const served = routesOf(app()).map((r) => `${r.method} ${r.url}`);
    expect(served.sort()).toEqual(Object.keys(table()).sort());
  });

  it('answers each credential with the expected status', async () => {
    const rows = table();
    const seen: Record<string, Record<Credential, number>> = {};
    for (const [key, row] of Object.entries(rows)) {
      seen[key] = {} as Record<Credential, number>;
      for (const credential of CREDENTIALS) seen[key][credential] = await statusOf(app(), key, row, credential);
    }
    printed.push(`${service}:`, `  ${'route'.padEnd(62)} ${CREDENTIALS.map((c) => c.padStart(14)).join('')}`);
    for (const [key, statuses] of Object.entries(seen)) printed.push(`  ${key.padEnd(62)} ${CREDENTIALS.map((c) => String(statuses[c]).padStart(14)).join('')}`);
    expect(seen).toEqual(Object.fromEntries(Object.entries(rows).map(([k, r]) => [k, r.expect])));
  });
});

describe('details and report: the other credentials they accept', () => {
  it.each([
    ['the read token', { authorization: `Bearer ${READ_TOKEN}` }, '', 200],
    ['a signed link', {}, () => `?t=${signCheckLink(LINK_KEY, check.securityCheckId, new Date(Date.now() + 86_400_000))}`, 200],
    ['an expired signed link', {}, () => `?t=${signCheckLink(LINK_KEY, check.securityCheckId, new Date(Date.now() - 1000))}`, 401],
    ['a link signed for another check', {}, () => `?t=${signCheckLink(LINK_KEY, `GIT_LOCAL_${'b'.repeat(64)}`, new Date(Date.now() + 86_400_000))}`, 401],
    ['a link signed with another key', {}, () => `?t=${signCheckLink('another-signing-key-0123456789abcdef', check.securityCheckId, new Date(Date.now() + 86_400_000))}`, 401],
    ['the exception API token', { authorization: `Bearer ${API_TOKEN}` }, '', 401],
  ])('%s → %i', async (_name, headers, query, status) => {
    for (const route of ['details', 'report']) {
      const q = typeof query === 'function' ? query() : query;
      const res = await results.results.app.inject({ method: 'GET', url: `/v1/security/gitlab/check/${check.securityCheckId}/${route}${q}`, headers, remoteAddress: freshAddress() });
      expect(res.statusCode, route).toBe(status);
    }
  });
});

afterAll(() => {
  if (printed.length) console.log(`Authorization matrix (HTTP status per credential)\n${printed.join('\n')}`);
});
