import { randomBytes } from 'node:crypto';
import { createPublisher } from '@secbot/service-kit';
import {
  aCheck,
  aFinding,
  anEventReceived,
  anOutputCompleted,
  aScanCompleted,
  captureLogs,
  fakeGitLabJobs,
  type FakeGitLabJobs,
  publishEvents,
  streamEnv,
  TEST_POSTGRES_DSN,
  testNats,
  type TestNats,
} from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchemas } from './adapters/postgres/database.ts';
import { startResults, type RunningResults } from './service.ts';

const READ_TOKEN = 'results-test-read-token-0123456789';
const schema = `t_rep_${randomBytes(4).toString('hex')}`;

let nats: TestNats;
let gitlab: FakeGitLabJobs;
let results: RunningResults;
let check: ReturnType<typeof aCheck>;

beforeAll(async () => {
  nats = await testNats('report');
  gitlab = await fakeGitLabJobs();
  results = await startResults(
    { ...streamEnv(nats.stream), SECBOT_POSTGRES_DSN: TEST_POSTGRES_DSN, SECBOT_DB_SCHEMA: schema, SECBOT_READ_TOKEN: READ_TOKEN, LOG_LEVEL: 'warn' },
    { port: 0, logDestination: captureLogs() },
  );
  // The check's GitLab instance is the fake: job tokens are verified there.
  check = aCheck({ host: new URL(gitlab.url).host });
  const finding = aFinding();
  await publishEvents(createPublisher({ js: nats.js, stream: nats.stream }), [anEventReceived(check), aScanCompleted(check, { findings: [finding] }), anOutputCompleted(check, { blocking: [finding] })]);
  await results.caughtUp();
  gitlab.jobs.set('glcbt-right-project', { id: 1, projectId: check.context.project.id, sha: check.sha, status: 'running' });
  gitlab.jobs.set('glcbt-other-project', { id: 2, projectId: 999, sha: check.sha, status: 'running' });
  gitlab.jobs.set('glcbt-finished-job', { id: 3, projectId: check.context.project.id, sha: check.sha, status: 'success' });
});

afterAll(async () => {
  await results?.close();
  await gitlab?.close();
  await dropSchemas(TEST_POSTGRES_DSN, [schema]);
  await nats?.cleanup();
});

const report = (headers: Record<string, string>, query = '') => fetch(`${results.url}/v1/security/gitlab/check/${check.securityCheckId}/report${query}`, { headers });

describe('GET /v1/security/gitlab/check/{id}/report', () => {
  it.each([
    ['no credentials', {}, 401],
    ['a job token GitLab does not know', { 'job-token': 'glcbt-unknown' }, 401],
    ['the token of a finished job', { 'job-token': 'glcbt-finished-job' }, 401],
    ['the job token of another project', { 'job-token': 'glcbt-other-project' }, 403],
    ['a wrong read token', { authorization: 'Bearer not-the-read-token-000000' }, 401],
  ])('refuses %s', async (_name, headers, status) => {
    const res = await report(headers);

    expect(res.status).toBe(status);
  });

  it('serves the report to a running job of the check’s project, verified with its GitLab', async () => {
    const res = await report({ 'job-token': 'glcbt-right-project' });

    expect(res.status).toBe(200);
    const body = (await res.json()) as { version: string; vulnerabilities: { identifiers: { value: string }[] }[] };
    expect(body.version).toBe('15.2.1');
    expect(body.vulnerabilities[0]?.identifiers.map((i) => i.value)).toEqual(['aws-access-token', 'aws-access-token:0123456789abcdef']);
    expect(gitlab.requests.filter((r) => r.jobToken === 'glcbt-right-project')).toHaveLength(1);
  });

  it('caches a verified job token briefly instead of asking GitLab on every call', async () => {
    await report({ 'job-token': 'glcbt-right-project' });
    await report({ 'job-token': 'glcbt-right-project' });

    expect(gitlab.requests.filter((r) => r.jobToken === 'glcbt-right-project')).toHaveLength(1);
  });

  it('serves SARIF to a client with the read token', async () => {
    const res = await report({ authorization: `Bearer ${READ_TOKEN}` }, '?format=sarif');

    expect(res.status).toBe(200);
    expect(((await res.json()) as { version: string }).version).toBe('2.1.0');
  });
});
