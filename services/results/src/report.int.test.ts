import { randomBytes } from 'node:crypto';
import { createPublisher, signCheckLink } from '@secbot/service-kit';
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
const LINK_KEY = 'results-test-link-signing-key-0123456789';
const schema = `t_rep_${randomBytes(4).toString('hex')}`;

let nats: TestNats;
let gitlab: FakeGitLabJobs;
let results: RunningResults;
let check: ReturnType<typeof aCheck>;

beforeAll(async () => {
  nats = await testNats('report');
  gitlab = await fakeGitLabJobs();
  results = await startResults(
    { ...streamEnv(nats.stream), SECBOT_POSTGRES_DSN: TEST_POSTGRES_DSN, SECBOT_DB_SCHEMA: schema, SECBOT_READ_TOKEN: READ_TOKEN, SECBOT_LINK_SIGNING_KEY: LINK_KEY, LOG_LEVEL: 'warn' },
    { port: 0, logDestination: captureLogs() },
  );
  // The check's GitLab instance is the fake: job tokens are verified there.
  check = aCheck({ host: new URL(gitlab.url).host });
  const finding = aFinding();
  await publishEvents(createPublisher({ js: nats.js, stream: nats.stream }), [anEventReceived(check), aScanCompleted(check, { findings: [finding] }), anOutputCompleted(check, { blocking: [finding] })]);
  await results.caughtUp();
  const path = check.context.project.pathWithNamespace;
  gitlab.jobs.set('glcbt-right-project', { id: 1, projectId: check.context.project.id, projectPath: path, sha: check.sha, status: 'running' });
  gitlab.jobs.set('glcbt-other-project', { id: 2, projectId: 999, projectPath: 'other/project', sha: check.sha, status: 'running' });
  gitlab.jobs.set('glcbt-finished-job', { id: 3, projectId: check.context.project.id, projectPath: path, sha: check.sha, status: 'success' });
  // The hook payload's project.id is the sender's word: a job of another project with that id is still another project.
  gitlab.jobs.set('glcbt-same-id-other-path', { id: 4, projectId: check.context.project.id, projectPath: 'attacker/fork', sha: check.sha, status: 'running' });
  // Any commit of the project: the job's pipeline sha is not compared.
  gitlab.jobs.set('glcbt-other-commit', { id: 5, projectId: 777, projectPath: path, sha: 'f'.repeat(40), status: 'running' });
  gitlab.jobs.set('glcbt-details-job', { id: 6, projectId: check.context.project.id, projectPath: path, sha: check.sha, status: 'running' });
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
    ['a job of another project that has the id the hook payload gave', { 'job-token': 'glcbt-same-id-other-path' }, 403],
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

const details = (headers: Record<string, string> = {}, query = '', id = check.securityCheckId) => fetch(`${results.url}/v1/security/gitlab/check/${id}/details${query}`, { headers });
const link = (expiresAt = new Date(Date.now() + 86_400_000), id = check.securityCheckId, key = LINK_KEY) => `?t=${signCheckLink(key, id, expiresAt)}`;

describe('GET /v1/security/gitlab/check/{id}/details', () => {
  it('refuses a caller without a credential', async () => {
    const res = await details();

    expect(res.status).toBe(401);
    expect(JSON.stringify(await res.json())).not.toContain('aws-access-token');
  });

  it.each([
    ['a link signed with another key', () => link(undefined, undefined, 'another-link-signing-key-0123456789'), 401],
    ['an expired link', () => link(new Date(Date.now() - 1000)), 401],
    ['the link of another check', () => link(undefined, aCheck().securityCheckId), 401],
    ['a link whose expiry was moved', () => link().replace(/t=\d+/, `t=${Math.floor(Date.now() / 1000) + 10 * 365 * 86400}`), 401],
    ['a malformed link token', () => '?t=not-a-token', 401],
  ])('refuses %s', async (_name, query, status) => {
    expect((await details({}, query())).status).toBe(status);
  });

  it.each([
    ['the job token of another project', 'glcbt-other-project'],
    ['a job of another project that has the id the hook payload gave', 'glcbt-same-id-other-path'],
  ])('refuses %s (403)', async (_name, token) => {
    expect((await details({ 'job-token': token })).status).toBe(403);
  });

  it.each([
    ['no job token', {}],
    ['an unknown job token', { 'job-token': 'glcbt-unknown' }],
    ['a wrong read token', { authorization: 'Bearer not-the-read-token-000000' }],
  ])('refuses an invalid link even with %s', async (_name, headers) => {
    expect((await details(headers, link(new Date(Date.now() - 1000)))).status).toBe(401);
  });

  it('shows the details through a link SecBot signed, as a person clicking the merge request note does', async () => {
    const res = await details({}, link());

    expect(res.status).toBe(200);
    const body = (await res.json()) as { blocking_findings: { rule: string }[] };
    expect(body.blocking_findings.map((f) => f.rule)).toEqual(['aws-access-token']);
  });

  it('shows the details to a running job of the check’s project, and of any commit of it', async () => {
    expect((await details({ 'job-token': 'glcbt-details-job' })).status).toBe(200);
    expect((await details({ 'job-token': 'glcbt-other-commit' })).status).toBe(200);
  });

  it('shows the details to a client with the read token', async () => {
    expect((await details({ authorization: `Bearer ${READ_TOKEN}` })).status).toBe(200);
  });

  it('gives the report’s details link a signature, so a person can open it from the merge request widget', async () => {
    const body = (await (await report({ authorization: `Bearer ${READ_TOKEN}` })).json()) as { vulnerabilities: { description: string }[] };
    const url = new URL(/See (\S+)/.exec(body.vulnerabilities[0]?.description ?? '')?.[1] ?? 'http://missing/');

    expect(url.searchParams.get('t')).toBeTruthy();
    expect((await fetch(`${results.url}${url.pathname}${url.search}`)).status).toBe(200);
  });

  it('keeps the status open: the CI gate reads it without a credential', async () => {
    const res = await fetch(`${results.url}/v1/security/gitlab/check/${check.securityCheckId}`);

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'fail' });
  });
});
