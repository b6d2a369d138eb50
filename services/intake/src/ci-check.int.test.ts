import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventReceivedV1, securityCheckId } from '@secbot/contracts';
import { captureLogs, fakeGitLabJobs, readStream, streamEnv, testNats, type FakeGitLabJobs, type TestNats } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIntake } from './service.ts';

const policy = `
version: "1.0"
components:
  gitleaks: { handler_name: gitleaks }
  builtin: { handler_name: builtin }
jobs:
  - name: everything
    rules:
      gitlab:
        event_type: "push|tag_push|merge_request"
        project.path_with_namespace: "(?!nojob/).*"
    scans: [gitleaks]
    outputs: [builtin]
`;

const sha = (c: string) => c.repeat(40);

describe('POST /v1/gitlab/ci/checks (a CI job announces its commit)', () => {
  let nats: TestNats;
  let gitlab: FakeGitLabJobs;
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    nats = await testNats('intake-ci');
    gitlab = await fakeGitLabJobs();
    gitlab.jobs.set('glcbt-group-app', { id: 41, projectId: 7, projectPath: 'group/app', sha: sha('a'), status: 'running' });
    gitlab.jobs.set('glcbt-other', { id: 42, projectId: 8, projectPath: 'other/app', sha: sha('a'), status: 'running' });
    gitlab.jobs.set('glcbt-finished', { id: 43, projectId: 7, projectPath: 'group/app', sha: sha('a'), status: 'success' });
    gitlab.jobs.set('glcbt-merged-results', { id: 44, projectId: 7, projectPath: 'group/app', sha: sha('c'), status: 'running' });
    const dir = mkdtempSync(join(tmpdir(), 'secbot-intake-ci-'));
    writeFileSync(join(dir, 'config.yml'), policy);
    const service = await startIntake(
      {
        ...streamEnv(nats.stream),
        SECBOT_CONFIG: join(dir, 'config.yml'),
        GITLAB_CONFIGS: JSON.stringify([
          { host: gitlab.url, webhook_secret_token: 'hook-secret-ci', auth_token: 'glpat-ci', prefix: 'GIT_LOCAL', insecure: true },
          // An instance whose API does not answer.
          { host: 'http://localhost:1/', webhook_secret_token: 'hook-secret-down', auth_token: 'glpat-down', prefix: 'DOWN', insecure: true },
        ]),
      },
      { port: 0, logDestination: captureLogs() },
    );
    url = service.url;
    close = () => service.close();
  });
  afterAll(async () => {
    await close?.();
    await gitlab?.close();
    await nats?.cleanup();
  });

  const announce = (body: unknown, token = 'glcbt-group-app') =>
    fetch(`${url}/v1/gitlab/ci/checks`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { 'job-token': token } : {}) }, body: JSON.stringify(body) });
  const received = async (checkId: string) =>
    (await readStream(nats, nats.stream))
      .filter((m) => m.subject === EventReceivedV1.subject(nats.stream.prefix))
      .map((m) => EventReceivedV1.schema.parse(m.json))
      .filter((e) => e.securityCheckId === checkId);

  it('starts a check for the commit GitLab confirms the job runs on, in the job’s project', async () => {
    const res = await announce({ host: '127.0.0.1', project: 'group/app', sha: sha('a'), ref: 'feature' });

    expect(res.status).toBe(202);
    const body = (await res.json()) as { security_check_id: string; job: string };
    expect(body).toMatchObject({ security_check_id: securityCheckId('GIT_LOCAL', '127.0.0.1', 'group/app', sha('a')), job: 'everything' });
    const [event] = await received(body.security_check_id);
    expect(event?.data).toMatchObject({
      eventType: 'push',
      ciJob: { id: 41 },
      project: { id: 7, pathWithNamespace: 'group/app', defaultBranch: null },
      range: { kind: 'push', before: null, after: sha('a') },
    });
  });

  it('announces a merged results or fork merge request pipeline as a merge request, fetched from the MR refs', async () => {
    const res = await announce(
      { host: '127.0.0.1', project: 'group/app', sha: sha('c'), merge_request: { iid: 9, source_branch: 'fork-topic', target_branch: 'main' } },
      'glcbt-merged-results',
    );

    expect(res.status).toBe(202);
    const [event] = await received(securityCheckId('GIT_LOCAL', '127.0.0.1', 'group/app', sha('c')));
    expect(event?.data).toMatchObject({ eventType: 'merge_request', range: { kind: 'merge_request', iid: 9, lastCommit: sha('c') } });
  });

  it.each([
    ['no job token', { host: '127.0.0.1', project: 'group/app', sha: sha('a') }, '', 401, 'unauthenticated'],
    ['the token of a finished job', { host: '127.0.0.1', project: 'group/app', sha: sha('a') }, 'glcbt-finished', 401, 'job_token_rejected'],
    ['a token GitLab does not know', { host: '127.0.0.1', project: 'group/app', sha: sha('a') }, 'glcbt-forged', 401, 'job_token_rejected'],
    ["another project's job token", { host: '127.0.0.1', project: 'group/app', sha: sha('a') }, 'glcbt-other', 403, 'wrong_project'],
    ['a commit the job does not run on', { host: '127.0.0.1', project: 'group/app', sha: sha('b') }, 'glcbt-group-app', 403, 'wrong_commit'],
    ['an instance SecBot does not know', { host: 'gitlab.evil.test', project: 'group/app', sha: sha('a') }, 'glcbt-group-app', 403, 'unknown_instance'],
    ['an unknown field', { host: '127.0.0.1', project: 'group/app', sha: sha('a'), default_branch: 'attacker' }, 'glcbt-group-app', 422, 'invalid_request'],
    ['a short sha', { host: '127.0.0.1', project: 'group/app', sha: 'abc123' }, 'glcbt-group-app', 422, 'invalid_request'],
    ['a tag and a merge request at once', { host: '127.0.0.1', project: 'group/app', sha: sha('a'), tag: 'v1', merge_request: { iid: 1, source_branch: 'a', target_branch: 'b' } }, 'glcbt-group-app', 422, 'invalid_request'],
  ])('refuses %s and starts nothing', async (_name, body, token, status, error) => {
    const before = (await readStream(nats, nats.stream)).length;

    const res = await announce(body, token);

    expect(res.status).toBe(status);
    if (error) expect(((await res.json()) as { error: string }).error).toBe(error);
    expect((await readStream(nats, nats.stream)).length).toBe(before);
  });

  it('answers 503 with Retry-After when GitLab cannot confirm the token', async () => {
    const res = await announce({ host: 'localhost', project: 'group/app', sha: sha('a') });

    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
  });
});
