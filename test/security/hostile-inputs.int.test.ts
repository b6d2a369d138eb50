import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { NotifiedV1, type ScanCompletedV1 } from '@secbot/contracts';
import { createLogger, createPublisher, type RunningService } from '@secbot/service-kit';
import { aFinding, anOutputCompleted, aScanCompleted, captureLogs, eventually, gitlabFixture, publishEvents, readStream, streamEnv, type CheckFixture } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleEventReceived } from '../../services/scanner-gitleaks/src/handle-event-received.ts';
import { anEventFor } from '../../services/scanner-gitleaks/src/test-support/events.ts';
import { startNotifierGitLab } from '../../services/notifier-gitlab/src/service.ts';
import { freshAddress, SECRETS, startSecbotIntake, type SecbotUnderTest } from './support.ts';

/**
 * What a webhook secret holder, a CI job or anyone on the network can send, and what SecBot does with it:
 * refused with a 4xx at intake, or an `error` with a reason further on; never a git argument, never a status or
 * note in another project, never a token sent where it does not belong.
 */

const SHA = 'c'.repeat(40);
const JOB_TOKEN = 'glcbt-hostile-running';

let secbot: SecbotUnderTest;
let capture: Server;
let captured = 0;
let redirecting: Server;
let redirectUrl: string;

const listen = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
};

beforeAll(async () => {
  // A server that collects whatever reaches it, and a "GitLab" that redirects /api/v4/job there.
  capture = createServer((_req, res) => {
    captured++;
    res.end('{}');
  });
  const capturePort = await listen(capture);
  redirecting = createServer((_req, res) => {
    res.writeHead(302, { location: `http://127.0.0.1:${capturePort}/api/v4/job` });
    res.end();
  });
  redirectUrl = `http://localhost:${await listen(redirecting)}/`;
  secbot = await startSecbotIntake('sechostile', {
    instances: [{ host: redirectUrl, webhook_secret_token: 'redirecting-webhook-secret', auth_token: 'glpat-redirect', prefix: 'REDIR', insecure: true }],
  });
  secbot.jobs.jobs.set(JOB_TOKEN, { id: 9, projectId: 7, projectPath: 'group/app', sha: SHA, status: 'running' });
});

afterAll(async () => {
  await secbot?.close();
  capture?.close();
  redirecting?.close();
});

type Json = Record<string, any>;
const webhook = (body: unknown, opts: { token?: string; event?: string; address?: string; raw?: string } = {}) =>
  secbot.intake.app.inject({
    method: 'POST',
    url: '/v1/gitlab/webhook',
    headers: { 'content-type': 'application/json', 'x-gitlab-token': opts.token ?? SECRETS.example, 'x-gitlab-event': opts.event ?? 'System Hook', 'idempotency-key': randomUUID() },
    payload: opts.raw ?? JSON.stringify(body),
    remoteAddress: opts.address ?? freshAddress(),
  });
const announce = (body: unknown, token = JOB_TOKEN, address = freshAddress()) =>
  secbot.intake.app.inject({ method: 'POST', url: '/v1/gitlab/ci/checks', headers: { 'content-type': 'application/json', 'job-token': token }, payload: JSON.stringify(body), remoteAddress: address });

const push = (change: (b: Json) => void = () => undefined): Json => {
  const body = gitlabFixture('docs_system_hook_push') as Json;
  change(body);
  return body;
};
const mergeRequest = (change: (b: Json) => void = () => undefined): Json => {
  const body = gitlabFixture('docs_webhook_merge_request') as Json;
  change(body);
  return body;
};

/** Runs `send` and expects a 4xx and no event.received published because of it. */
async function expectRefused(send: () => Promise<{ statusCode: number; json(): unknown }>, status?: number) {
  const before = (await secbot.received()).length;
  const res = await send();
  expect(res.statusCode, JSON.stringify(res.json())).toBeGreaterThanOrEqual(400);
  expect(res.statusCode).toBeLessThan(500);
  if (status !== undefined) expect(res.statusCode).toBe(status);
  expect((await secbot.received()).length).toBe(before);
  return res.json() as Json;
}

describe('URLs in a hook body', () => {
  it.each([
    ['javascript: web_url', (b: Json) => (b['project'].web_url = 'javascript://example.com/mike/diaspora')],
    ['javascript: git_http_url', (b: Json) => (b['project'].git_http_url = 'javascript://example.com/%0Aalert(1)//mike/diaspora.git')],
    ['file: git_http_url', (b: Json) => (b['project'].git_http_url = 'file:///etc/passwd')],
    ['ssh: git_http_url', (b: Json) => (b['project'].git_http_url = 'ssh://example.com/mike/diaspora.git')],
    ['credentials that point elsewhere', (b: Json) => (b['project'].git_http_url = 'http://example.com@evil.example.net/mike/diaspora.git')],
    ['another host', (b: Json) => (b['project'].web_url = 'http://evil.example.net/mike/diaspora')],
  ])('refuses %s', async (_name, change) => {
    await expectRefused(() => webhook(push(change)));
  });

  it('refuses http for an instance that is not marked insecure', async () => {
    const body = push((b) => {
      b['project'].web_url = 'http://gitlab.other.test/mike/diaspora';
      b['project'].git_http_url = 'http://gitlab.other.test/mike/diaspora.git';
    });
    const refused = await expectRefused(() => webhook(body, { token: SECRETS.other }), 403);
    expect(refused['error']).toBe('foreign_project');
    body['project'].web_url = 'https://gitlab.other.test/mike/diaspora';
    body['project'].git_http_url = 'https://gitlab.other.test/mike/diaspora.git';
    expect((await webhook(body, { token: SECRETS.other })).statusCode).toBe(202);
  });

  it('keeps no javascript: link of a commit or merge request for people to click', async () => {
    const res = await webhook(push((b) => (b['commits'][0].url = 'javascript:alert(document.cookie)')));
    expect(res.statusCode).toBe(202);
    const event = (await secbot.received()).find((e) => e.securityCheckId === res.json<Json>()['security_check_id']);
    expect(event?.data.commit.url).toBeUndefined();
  });
});

describe('project webhook secrets', () => {
  it('deliver their own project’s events', async () => {
    expect((await webhook(push(), { token: SECRETS.diaspora })).statusCode).toBe(202);
    expect((await webhook(gitlabFixture('docs_webhook_push'), { token: SECRETS.diaspora, event: 'Push Hook' })).statusCode).toBe(202);
  });

  it('deliver no other project’s events, whatever the body says', async () => {
    const refused = await expectRefused(() => webhook(push(), { token: SECRETS.anotherProject }), 403);
    expect(refused['message']).toMatch(/webhook secret of another project/);
    await expectRefused(() => webhook(push((b) => (b['project'].path_with_namespace = 'mike/diaspora-fork')), { token: SECRETS.diaspora }), 403);
    // gitlabhq/gitlab-test's merge request, with mike/diaspora's secret.
    await expectRefused(() => webhook(mergeRequest(), { token: SECRETS.diaspora, event: 'Merge Request Hook' }), 403);
  });

  it('another instance’s secret delivers nothing for this instance’s projects', async () => {
    await expectRefused(() => webhook(push(), { token: SECRETS.other }), 403);
  });
});

describe('names git could read as options or refspecs', () => {
  const upload = '--upload-pack=touch /tmp/pwned';
  it.each([
    ['a branch that is an option', (b: Json) => (b['ref'] = `refs/heads/${upload}`)],
    ['a branch that is a refspec', (b: Json) => (b['ref'] = 'refs/heads/x:refs/heads/main')],
    ['a bare refspec', (b: Json) => (b['ref'] = 'x:refs/heads/main')],
    ['an option as the ref', (b: Json) => (b['ref'] = upload)],
    ['a tag that is an option', (b: Json) => (b['ref'] = 'refs/tags/--upload-pack=x')],
    ['a default branch that is an option', (b: Json) => (b['project'].default_branch = upload)],
    ['a project path that climbs out', (b: Json) => (b['project'].path_with_namespace = '../../etc')],
    ['a project path that is an ssh option', (b: Json) => (b['project'].path_with_namespace = '-oProxyCommand=x/y')],
  ])('refuses a push with %s (422)', async (_name, change) => {
    await expectRefused(() => webhook(push(change)), 422);
  });

  it.each([
    ['a source branch that is an option', (b: Json) => (b['object_attributes'].source_branch = upload)],
    ['a target branch that is a refspec', (b: Json) => (b['object_attributes'].target_branch = 'x:refs/heads/main')],
    ['a project path that climbs out', (b: Json) => (b['project'].path_with_namespace = '../../etc')],
  ])('refuses a merge request with %s (422)', async (_name, change) => {
    await expectRefused(() => webhook(mergeRequest(change), { event: 'Merge Request Hook' }), 422);
  });

  it.each([
    ['a ref that is an option', { ref: upload }],
    ['a tag that is a refspec', { tag: 'x:refs/heads/main' }],
    ['a project path that climbs out', { project: '../../etc' }],
    ['a project path that is an ssh option', { project: '-oProxyCommand=x/y' }],
    ['a merge request branch that is an option', { merge_request: { iid: 1, source_branch: upload, target_branch: 'main' } }],
  ])('refuses a CI announcement with %s (422)', async (_name, change) => {
    await expectRefused(() => announce({ host: '127.0.0.1', project: 'group/app', sha: SHA, ref: 'main', ...change }), 422);
  });

  it.each([
    ['a path that climbs out', '../../etc'],
    ['a path that is an ssh option', '-oProxyCommand=x/y'],
    ['a path with a git option as a segment', 'group/--upload-pack=touch'],
  ])('the scanner answers an event with %s with an error, and runs no git', async (_name, project) => {
    // Past intake (an event written to the stream by other means): the scanner's own check.
    const event = anEventFor({ baseUrl: 'https://gitlab.example.com/', project, range: { kind: 'push', ref: 'refs/heads/main', before: null, after: SHA } });
    const scans: unknown[] = [];
    const published: ScanCompletedV1[] = [];
    await handleEventReceived(event, { deliveryCount: 1, log: createLogger({ service: 'test', level: 'silent' }) }, {
      instances: [{ host: 'https://gitlab.example.com/', webhook_secret_token: 'webhook-secret', auth_token: 'glpat-x', prefix: 'GIT_LOCAL' }],
      scan: (...args) => {
        scans.push(args);
        return Promise.reject(new Error('no git may run'));
      },
      publish: (e) => Promise.resolve(void published.push(e)),
      storeReport: () => Promise.resolve({ bucket: 'b', name: 'n' }),
      inlineReportMaxBytes: 1024,
      maxDeliver: 3,
    });
    expect(scans).toHaveLength(0);
    expect(published[0]?.data).toMatchObject({ status: 'error', reason: expect.stringMatching(/is not a GitLab project path/) as unknown });
  });

  it('the scanner sends no token to a configured instance whose URL is not http(s)', async () => {
    const event = anEventFor({ baseUrl: 'javascript://gitlab.example.com/', project: 'group/app', range: { kind: 'push', ref: 'refs/heads/main', before: null, after: SHA } });
    const published: ScanCompletedV1[] = [];
    await handleEventReceived(event, { deliveryCount: 1, log: createLogger({ service: 'test', level: 'silent' }) }, {
      instances: [{ host: 'javascript://gitlab.example.com/', webhook_secret_token: 'webhook-secret', auth_token: 'glpat-x', prefix: 'GIT_LOCAL' }],
      scan: () => Promise.reject(new Error('no git may run')),
      publish: (e) => Promise.resolve(void published.push(e)),
      storeReport: () => Promise.resolve({ bucket: 'b', name: 'n' }),
      inlineReportMaxBytes: 1024,
      maxDeliver: 3,
    });
    expect(published[0]?.data).toMatchObject({ status: 'error', reason: expect.stringMatching(/not an https URL/) as unknown });
  });
});

describe('JSON bodies', () => {
  it.each([
    ['__proto__', '{"__proto__":{"polluted":true},"object_kind":"push"}'],
    ['constructor.prototype', '{"constructor":{"prototype":{"polluted":true}},"object_kind":"push"}'],
    ['a nested __proto__', '{"project":{"__proto__":{"polluted":true}},"object_kind":"push"}'],
  ])('refuses a body with %s (400), and nothing is polluted', async (_name, raw) => {
    const body = await expectRefused(() => webhook(undefined, { raw }), 400);
    expect(body['error']).toBe('forbidden_json_key');
    expect(({} as Json)['polluted']).toBeUndefined();
  });
});

/** Sends headers and the first `sent` bytes of a body of `declared` bytes over a raw socket; resolves with what came back. */
function partialRequest(headers: Record<string, string>, declared: number | 'chunked', sent: number): Promise<{ response: string; closed: boolean; ms: number }> {
  const { port } = new URL(secbot.intake.url);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(Number(port), '127.0.0.1');
    let response = '';
    const lengthHeader = declared === 'chunked' ? 'transfer-encoding: chunked' : `content-length: ${declared}`;
    socket.on('connect', () => {
      socket.write(
        `POST /v1/gitlab/webhook HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n${lengthHeader}\r\n${Object.entries(headers)
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join('')}\r\n`,
      );
      const chunk = Buffer.alloc(sent, 0x20);
      socket.write(declared === 'chunked' ? Buffer.concat([Buffer.from(`${sent.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk);
      // The rest of the body is never sent: an answer can only come before it is read.
    });
    socket.on('data', (d) => {
      response += d.toString('utf8');
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ response, closed: false, ms: Date.now() - started });
    }, 5000);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ response, closed: true, ms: Date.now() - started });
    });
    socket.on('error', reject);
  });
}

describe('oversized bodies', () => {
  const SIX_MIB = 6 * 1024 * 1024;

  it.each([
    ['no token', {}],
    ['a wrong token', { 'x-gitlab-token': 'wrong-wrong-wrong' }],
  ])('answers 403 to %s before reading the body (6 MiB announced, 64 KiB sent)', async (_name, headers) => {
    const { response, closed } = await partialRequest({ 'x-gitlab-event': 'System Hook', 'x-forwarded-for': '192.0.2.1', ...headers }, SIX_MIB, 64 * 1024);
    expect(response).toMatch(/^HTTP\/1\.1 403 /);
    expect(response).toMatch(/connection: close/i);
    expect(closed).toBe(true);
  });

  it('answers 403 to a chunked body without a token, before reading it', async () => {
    const { response } = await partialRequest({ 'x-gitlab-event': 'System Hook' }, 'chunked', 64 * 1024);
    expect(response).toMatch(/^HTTP\/1\.1 403 /);
  });

  it('applies the body limit (413) once the token is right', async () => {
    const { response } = await partialRequest({ 'x-gitlab-event': 'System Hook', 'x-gitlab-token': SECRETS.example }, SIX_MIB, 64 * 1024);
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
  });
});

describe('failed authentications per client', () => {
  it('answers 429 with Retry-After after 20 failures a minute, to a valid token too, and only to that client', async () => {
    const address = freshAddress();
    for (let i = 0; i < 20; i++) expect((await webhook(push(), { token: `wrong-${i}-secret`, address })).statusCode).toBe(403);

    const blocked = await webhook(push(), { token: 'wrong-again-secret', address });
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // A blocked client learns nothing about its guesses: the right secret gets 429 as well.
    expect((await webhook(push(), { address })).statusCode).toBe(429);
    expect((await announce({ host: '127.0.0.1', project: 'group/app', sha: SHA, ref: 'main' }, JOB_TOKEN, address)).statusCode).toBe(429);
    expect((await webhook(push())).statusCode).toBe(202);
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const address = freshAddress();
    for (let i = 0; i < 20; i++) {
      await secbot.intake.app.inject({ method: 'POST', url: '/v1/gitlab/webhook', headers: { 'x-forwarded-for': `198.51.100.${i}`, 'x-gitlab-token': 'wrong' }, remoteAddress: address });
    }
    const res = await secbot.intake.app.inject({ method: 'POST', url: '/v1/gitlab/webhook', headers: { 'x-forwarded-for': '198.51.100.99', 'x-gitlab-token': 'wrong' }, remoteAddress: address });
    expect(res.statusCode).toBe(429);
  });
});

describe('job tokens sent to GitLab', () => {
  it('are not sent on when GitLab redirects: the answer is 503 and nothing reaches the redirect target', async () => {
    const res = await announce({ host: 'localhost', project: 'group/app', sha: SHA, ref: 'main' }, 'glcbt-to-be-redirected');

    expect(res.statusCode).toBe(503);
    expect(res.json<Json>()['message']).toMatch(/redirected/);
    expect(captured).toBe(0);
  });

  it('a rejected token costs GitLab one lookup, however often it is sent', async () => {
    const token = `glcbt-unknown-${randomUUID()}`;
    for (let i = 0; i < 30; i++) expect((await announce({ host: '127.0.0.1', project: 'group/app', sha: SHA, ref: 'main' }, token)).statusCode).toBe(401);

    expect(secbot.jobs.requests.filter((r) => r.jobToken === token)).toHaveLength(1);
  });

  it('random tokens from one client reach GitLab at most 20 times a minute', async () => {
    const address = freshAddress();
    const before = secbot.jobs.requests.length;
    const statuses = [];
    for (let i = 0; i < 40; i++) statuses.push((await announce({ host: '127.0.0.1', project: 'group/app', sha: SHA, ref: 'main' }, `glcbt-random-${randomUUID()}`, address)).statusCode);

    expect(secbot.jobs.requests.length - before).toBe(20);
    expect(statuses.filter((s) => s === 401)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20);
  });
});

describe('a forged project id, end to end', () => {
  let notifier: RunningService;
  beforeAll(async () => {
    notifier = await startNotifierGitLab(
      {
        ...streamEnv(secbot.nats.stream),
        GITLAB_CONFIGS: JSON.stringify([{ host: secbot.gitlab.url, webhook_secret_token: SECRETS.jobs, auth_token: secbot.gitlab.token, prefix: 'JOBS', insecure: true }]),
        LOG_LEVEL: 'warn',
      },
      { port: 0, logDestination: captureLogs() },
    );
  });
  afterAll(async () => {
    await notifier?.close();
    await secbot.nats.jsm.streams.delete(`KV_${secbot.nats.stream.name}_notifier_gitlab`).catch(() => undefined);
  });

  it('gets no commit status and no merge request note in the project whose id it names', async () => {
    // mike/diaspora is project 15 on the fake GitLab; the body says 16, which is mike/other.
    const web = `${secbot.gitlab.url}mike/diaspora`;
    const body = mergeRequest((b) => {
      b['project'] = { ...b['project'], id: 16, path_with_namespace: 'mike/diaspora', web_url: web, git_http_url: `${web}.git` };
      b['object_attributes'] = { ...b['object_attributes'], iid: 31, source_project_id: 16, target_project_id: 16, source: { git_http_url: `${web}.git` }, last_commit: { id: SHA, title: 'x' } };
    });
    const res = await webhook(body, { token: SECRETS.jobs, event: 'Merge Request Hook' });
    expect(res.statusCode).toBe(202);
    const event = (await secbot.received()).find((e) => e.securityCheckId === res.json<Json>()['security_check_id']);
    if (!event) throw new Error('the accepted event is not on the stream');
    expect(event.data.project.id).toBe(16);

    // The check completes (as if scanned) with a blocking finding: the verdict would be posted now.
    const { job, input: _i, hook: _h, delivery: _d, ...rest } = event.data;
    if (!job) throw new Error('the event has no job');
    const check: CheckFixture = { sha: SHA, securityCheckId: event.securityCheckId, correlationId: event.correlationId, context: { ...rest, job } };
    await publishEvents(createPublisher({ js: secbot.nats.js, stream: secbot.nats.stream }), [aScanCompleted(check), anOutputCompleted(check, { blocking: [aFinding()] })]);
    const refused = await eventually(async () => {
      const notified = (await readStream(secbot.nats, secbot.nats.stream))
        .filter((m) => m.subject === NotifiedV1.subject(secbot.nats.stream.prefix))
        .map((m) => NotifiedV1.schema.parse(m.json))
        .filter((n) => n.securityCheckId === event.securityCheckId && n.data.status === 'error');
      return notified.length ? notified : undefined;
    }, 15_000);

    expect(refused[0]?.data).toMatchObject({ target: 'project', reason: expect.stringMatching(/names project id 16 for mike\/diaspora, which GitLab knows as project 15/) as unknown });
    expect(secbot.gitlab.api.statuses.filter((s) => s.sha === SHA)).toHaveLength(0);
    expect(secbot.gitlab.api.notes.filter((n) => n.mergeRequestIid === 31)).toHaveLength(0);
    expect(secbot.gitlab.api.requests.filter((r) => r.method !== 'GET')).toHaveLength(0);
  });
});
