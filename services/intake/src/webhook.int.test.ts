import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { securityCheckId } from '@secbot/contracts';
import { captureLogs, gitlabFixture, readStream, streamEnv, testNats, type TestNats } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIntake } from './service.ts';

const WEBHOOK_SECRET = 'intake-test-webhook-secret';
const OTHER_SECRET = 'other-instance-secret';
const AUTH_TOKEN = 'glpat-intake-test-auth-token';

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
  - name: doubled
    rules:
      gitlab:
        event_type: push
        project.path_with_namespace: "double/.*"
    scans: [gitleaks]
    outputs: [builtin]
`;

let nats: TestNats;
let url: string;
let close: () => Promise<void>;
const logs = captureLogs();

beforeAll(async () => {
  nats = await testNats('intake');
  const dir = mkdtempSync(join(tmpdir(), 'secbot-intake-'));
  writeFileSync(join(dir, 'config.yml'), policy);
  const service = await startIntake(
    {
      ...streamEnv(nats.stream),
      SECBOT_CONFIG: join(dir, 'config.yml'),
      INTAKE_BODY_LIMIT_BYTES: String(64 * 1024),
      GITLAB_CONFIGS: JSON.stringify([
        { host: 'http://example.com/', webhook_secret_token: WEBHOOK_SECRET, auth_token: AUTH_TOKEN, prefix: 'GIT_LOCAL', insecure: true },
        { host: 'https://gitlab.other.test/', webhook_secret_token: OTHER_SECRET, auth_token: 'other-auth', prefix: 'OTHER' },
      ]),
      LOG_LEVEL: 'info',
    },
    { port: 0, logDestination: logs },
  );
  url = service.url;
  close = () => service.close();
});

afterAll(async () => {
  await close?.();
  await nats?.cleanup();
});

async function post(body: unknown, headers: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${url}/v1/gitlab/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const systemHook = { 'x-gitlab-token': WEBHOOK_SECRET, 'x-gitlab-event': 'System Hook' };
const published = async () => (await readStream(nats, nats.stream)).map((m) => m.json as { id: string; securityCheckId: string; data: Record<string, any> });

function push(overrides: Record<string, unknown> = {}, project: Record<string, unknown> = {}): Record<string, unknown> {
  const body = gitlabFixture('docs_system_hook_push');
  return { ...body, ...overrides, project: { ...(body['project'] as object), ...project } };
}

describe('POST /v1/gitlab/webhook', () => {
  it('accepts a system-hook push and publishes event.received once JetStream stored it', async () => {
    const before = (await published()).length;

    const res = await post(gitlabFixture('docs_system_hook_push'), { ...systemHook, 'idempotency-key': 'a2b7c0de-0000-4000-8000-000000000001' });

    const expectedId = securityCheckId('GIT_LOCAL', 'example.com', 'mike/diaspora', 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7');
    expect(res.status).toBe(202);
    expect(res.json).toMatchObject({ status: 'accepted', security_check_id: expectedId, duplicate: false, job: 'everything' });
    const events = await published();
    expect(events).toHaveLength(before + 1);
    const event = events.at(-1)!;
    expect(event.securityCheckId).toBe(expectedId);
    expect(event.data).toMatchObject({
      eventType: 'push',
      hook: 'system',
      project: { id: 15, pathWithNamespace: 'mike/diaspora', gitHttpUrl: 'http://example.com/mike/diaspora.git', defaultBranch: 'master' },
      range: { kind: 'push', before: '95790bf891e76fee5e1747ab589903a6a1f80f22', after: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7' },
      job: { name: 'everything', scans: [{ name: 'gitleaks' }], outputs: [{ name: 'builtin' }] },
      delivery: { key: 'a2b7c0de-0000-4000-8000-000000000001', keySource: 'idempotency-key' },
    });
  });

  it.each([
    ['a project webhook push', 'docs_webhook_push', 'Push Hook', 'push'],
    ['a project webhook tag push', 'docs_webhook_tag_push', 'Tag Push Hook', 'tag_push'],
    ['a system-hook tag push', 'docs_system_hook_tag_push', 'System Hook', 'tag_push'],
    ['a system-hook merge request', 'docs_system_hook_merge_request', 'System Hook', 'merge_request'],
    ['a project webhook merge request', 'docs_webhook_merge_request', 'Merge Request Hook', 'merge_request'],
    ['an older go-gitlab merge request (no action)', 'go-gitlab_webhooks_merge_request', 'Merge Request Hook', 'merge_request'],
  ])('accepts %s', async (_name, fixture, header, eventType) => {
    const res = await post(gitlabFixture(fixture), { 'x-gitlab-token': WEBHOOK_SECRET, 'x-gitlab-event': header });

    expect(res.status).toBe(202);
    const event = (await published()).find((e) => e.securityCheckId === res.json['security_check_id']);
    expect(event?.data['eventType']).toBe(eventType);
  });

  it('checks the tagged commit (checkout_sha), not the annotated tag object', async () => {
    const body = gitlabFixture('docs_system_hook_tag_push');

    const res = await post(body, systemHook);

    expect(res.json['security_check_id']).toBe(securityCheckId('GIT_LOCAL', 'example.com', 'jsmith/example', '5937ac0a7beb003549fc5fd26fc247adbce4a52e'));
    const event = (await published()).find((e) => e.securityCheckId === res.json['security_check_id']);
    expect(event?.data['range']).toMatchObject({ kind: 'tag', tag: 'v1.0.0', commit: '5937ac0a7beb003549fc5fd26fc247adbce4a52e', tagObject: body['after'] });
  });

  it('checks the merge request by its last commit and range', async () => {
    const res = await post(gitlabFixture('docs_system_hook_merge_request'), systemHook);

    expect(res.json['security_check_id']).toBe(securityCheckId('GIT_LOCAL', 'example.com', 'gitlabhq/gitlab-test', 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7'));
    const event = (await published()).find((e) => e.securityCheckId === res.json['security_check_id']);
    expect(event?.data['range']).toMatchObject({ kind: 'merge_request', iid: 1, targetBranch: 'master', sourceBranch: 'ms-viewport', headRef: 'refs/merge-requests/1/head' });
  });

  it.each([
    ['no token', {}],
    ['a wrong token', { 'x-gitlab-token': 'not-the-secret' }],
    ['a token differing only in case', { 'x-gitlab-token': WEBHOOK_SECRET.toUpperCase() }],
  ])('refuses %s with 403 and publishes nothing', async (_name, headers) => {
    const before = (await published()).length;

    const res = await post(push(), { 'x-gitlab-event': 'System Hook', ...headers });

    expect(res.status).toBe(403);
    expect(res.json['error']).toBe('forbidden');
    expect(await published()).toHaveLength(before);
  });

  it('refuses a project on another host than the instance whose token matched', async () => {
    const before = (await published()).length;

    const res = await post(
      push({}, { web_url: 'https://attacker.test/mike/diaspora', git_http_url: 'https://attacker.test/mike/diaspora.git' }),
      systemHook,
    );

    expect(res.status).toBe(403);
    expect(res.json['error']).toBe('foreign_project');
    expect(await published()).toHaveLength(before);
  });

  it('refuses the other instance’s token for a project of this instance', async () => {
    const res = await post(push(), { 'x-gitlab-event': 'System Hook', 'x-gitlab-token': OTHER_SECRET });

    expect(res.status).toBe(403);
  });

  it.each([
    ['a note hook', 'Note Hook', { object_kind: 'note' }, /Note Hook/],
    ['a system hook repository_update', 'System Hook', gitlabFixture('go-gitlab_systemhooks_repository_update'), /repository_update/],
    ['a system hook project_create', 'System Hook', { event_name: 'project_create' }, /project_create/],
    ['a branch deletion', 'System Hook', push({ after: '0000000000000000000000000000000000000000', checkout_sha: null }), /branch deleted/],
    ['a tag deletion', 'Tag Push Hook', { ...gitlabFixture('docs_webhook_tag_push'), after: '0000000000000000000000000000000000000000', checkout_sha: null }, /tag deleted/],
    ['a merge request approval', 'Merge Request Hook', { ...gitlabFixture('docs_webhook_merge_request'), object_attributes: { ...(gitlabFixture('docs_webhook_merge_request')['object_attributes'] as object), action: 'approved' } }, /adds no commit/],
    ['a merge request update without new commits', 'Merge Request Hook', { ...gitlabFixture('docs_webhook_merge_request'), object_attributes: { ...(gitlabFixture('docs_webhook_merge_request')['object_attributes'] as object), action: 'update', oldrev: null } }, /adds no commit/],
    ['a project no job covers', 'System Hook', push({}, { path_with_namespace: 'nojob/app' }), /no job/],
  ])('acknowledges %s with 200 and starts nothing', async (_name, header, body, reason) => {
    const before = (await published()).length;

    const res = await post(body, { 'x-gitlab-token': WEBHOOK_SECRET, 'x-gitlab-event': header });

    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'ignored', reason: expect.stringMatching(reason) });
    expect(await published()).toHaveLength(before);
  });

  it('starts a merge request update that adds commits (oldrev set)', async () => {
    const body = gitlabFixture('docs_webhook_merge_request');
    const attrs = body['object_attributes'] as Record<string, unknown>;
    const res = await post({ ...body, object_attributes: { ...attrs, action: 'update', oldrev: 'b'.repeat(40) } }, { 'x-gitlab-token': WEBHOOK_SECRET, 'x-gitlab-event': 'Merge Request Hook' });

    expect(res.status).toBe(202);
  });

  it('records two matching jobs as a plan error naming them', async () => {
    const res = await post(push({ after: 'c'.repeat(40) }, { path_with_namespace: 'double/app' }), systemHook);

    expect(res.status).toBe(202);
    expect(res.json['plan_error']).toMatch(/everything, doubled/);
    const event = (await published()).find((e) => e.securityCheckId === res.json['security_check_id']);
    expect(event?.data['job']).toBeNull();
    expect(event?.data['planError']).toEqual({ reason: expect.stringContaining('2 jobs'), jobs: ['everything', 'doubled'] });
  });

  it('answers 400 to malformed JSON', async () => {
    const res = await post('{"object_kind": "push",', systemHook);

    expect(res.status).toBe(400);
    expect(res.json['message']).toMatch(/not valid JSON/);
  });

  it('answers 400 when X-Gitlab-Event is missing', async () => {
    const res = await post(push(), { 'x-gitlab-token': WEBHOOK_SECRET });

    expect(res.status).toBe(400);
  });

  it('answers 422 naming the fields a supported event lacks', async () => {
    const { project_id: _p, ...body } = push();
    const res = await post({ ...body, after: 'not-a-sha' }, systemHook);

    expect(res.status).toBe(422);
    expect(res.json['message']).toMatch(/after/);
    expect(res.json['message']).toMatch(/project_id/);
  });

  it('answers 413 to a body over the limit', async () => {
    const res = await post(push({ padding: 'x'.repeat(70 * 1024) }), systemHook);

    expect(res.status).toBe(413);
  });

  it.each([
    ['the same Idempotency-Key', (n: number) => ({ 'idempotency-key': 'b1b1b1b1-0000-4000-8000-00000000000' + n })],
    ['the same X-Gitlab-Event-UUID', (n: number) => ({ 'x-gitlab-event-uuid': 'c2c2c2c2-0000-4000-8000-00000000000' + n })],
    ['the same body and no delivery header', () => ({})],
  ])('starts one check for a delivery retried with %s', async (_name, key) => {
    const body = push({ after: 'd'.repeat(39) + String(Math.floor(Math.random() * 10)) });
    const before = (await published()).length;

    const first = await post(body, { ...systemHook, ...key(1) });
    const retry = await post(body, { ...systemHook, ...key(1) });

    expect(first.json['duplicate']).toBe(false);
    expect(retry.json).toMatchObject({ duplicate: true, security_check_id: first.json['security_check_id'], event_id: first.json['event_id'] });
    expect(await published()).toHaveLength(before + 1);
  });

  it('never logs the webhook token or the instance auth token', () => {
    expect(logs.text()).not.toContain(WEBHOOK_SECRET);
    expect(logs.text()).not.toContain(AUTH_TOKEN);
    expect(logs.text()).toContain('Webhook accepted');
  });

  it('serves its OpenAPI document, readiness and metrics', async () => {
    const docs = (await (await fetch(`${url}/docs/json`)).json()) as { paths: Record<string, unknown> };
    const ready = await fetch(`${url}/readyz`);
    const metrics = await (await fetch(`${url}/metrics`)).text();

    expect(Object.keys(docs.paths)).toContain('/v1/gitlab/webhook');
    expect(ready.status).toBe(200);
    expect(metrics).toContain('secbot_events_published_total');
  });
});
