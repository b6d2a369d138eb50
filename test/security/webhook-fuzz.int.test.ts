import { randomUUID } from 'node:crypto';
import { gitlabFixture } from '@secbot/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress, SECRETS, startSecbotIntake, type SecbotUnderTest } from './support.ts';

/**
 * Property-based fuzz of POST /v1/gitlab/webhook against intake in process (Fastify `inject`) and a real
 * JetStream stream. Generated: the secret (right, another instance's, almost right, random, absent), the event
 * header, the content type, the delivery headers and the body (GitLab's documented bodies with fields replaced
 * by hostile or random values, random JSON, broken JSON, prototype keys).
 *
 * Allowed outcomes: 2xx with an `accepted` (202) or `ignored` (200) body, or a 4xx. Never a 5xx, a crash, or
 * an event published for a request without a configured secret: every event on the stream is one 202.
 */
const RUNS = Number(process.env['SECBOT_FUZZ_RUNS'] ?? 10_000);

const FIXTURES = [
  ['docs_system_hook_push', 'System Hook'],
  ['docs_system_hook_tag_push', 'System Hook'],
  ['docs_system_hook_merge_request', 'System Hook'],
  ['docs_webhook_push', 'Push Hook'],
  ['docs_webhook_tag_push', 'Tag Push Hook'],
  ['docs_webhook_merge_request', 'Merge Request Hook'],
  ['go-gitlab_webhooks_merge_request', 'Merge Request Hook'],
  ['go-gitlab_systemhooks_repository_update', 'System Hook'],
] as const;
const bodies = Object.fromEntries(FIXTURES.map(([name]) => [name, gitlabFixture(name)]));

/** Where a hostile or mistaken sender would change a body. */
const PATHS = [
  'ref', 'before', 'after', 'checkout_sha', 'object_kind', 'event_name', 'event_type', 'project_id', 'user_id', 'commits', 'commits.0.id', 'commits.0.url',
  'project', 'project.id', 'project.web_url', 'project.git_http_url', 'project.path_with_namespace', 'project.default_branch',
  'object_attributes', 'object_attributes.iid', 'object_attributes.action', 'object_attributes.state', 'object_attributes.source_branch',
  'object_attributes.target_branch', 'object_attributes.oldrev', 'object_attributes.last_commit', 'object_attributes.last_commit.id',
  'object_attributes.source', 'object_attributes.source.git_http_url', 'object_attributes.url', 'object_attributes.source_project_id', 'user',
];

const hex40 = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 40, maxLength: 40 });
const hostile = fc.constantFrom(
  '--upload-pack=touch /tmp/pwned', 'x:refs/heads/main', 'refs/heads/--upload-pack=x', 'refs/tags/x:y', '../../etc', '-oProxyCommand=x/y',
  'javascript://example.com/mike/diaspora', 'file:///etc/passwd', 'http://example.com@evil.example.net/x.git', 'https://example.com/mike/diaspora',
  'http://evil.example.net/mike/diaspora', 'refs/heads/main', 'refs/tags/v1', 'refs/heads/feature/x', 'main', '', ' ', '\u0000', 'a'.repeat(300),
  '0000000000000000000000000000000000000000', 'open', 'update', 'reopen', 'close', 'merge', 'opened', 'push', 'tag_push', 'merge_request', 'System Hook',
);
const value: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostile },
  { weight: 2, arbitrary: hex40 },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

function setAt(body: Record<string, unknown>, path: string, v: unknown): void {
  const keys = path.split('.');
  let cur: unknown = body;
  for (const key of keys.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object') return;
    cur = (cur as Record<string, unknown>)[key];
  }
  if (cur === null || typeof cur !== 'object') return;
  const last = keys.at(-1) as string;
  if (v === undefined) delete (cur as Record<string, unknown>)[last];
  else (cur as Record<string, unknown>)[last] = v;
}

type Body = { kind: 'fixture'; raw: string; fixture: string } | { kind: 'raw'; raw: string };
const mutatedFixture: fc.Arbitrary<Body> = fc
  .record({
    fixture: fc.constantFrom(...FIXTURES.map(([name]) => name)),
    after: hex40,
    mutations: fc.array(fc.tuple(fc.constantFrom(...PATHS), value), { maxLength: 3 }),
  })
  .map(({ fixture, after, mutations }) => {
    const body = structuredClone(bodies[fixture]) as Record<string, any>;
    // A fresh commit most of the time, so accepted deliveries are not all duplicates of each other.
    if (typeof body['after'] === 'string') body['after'] = after;
    if (body['object_attributes']?.last_commit) body['object_attributes'].last_commit.id = after;
    for (const [path, v] of mutations) setAt(body, path, v);
    return { kind: 'fixture', fixture, raw: JSON.stringify(body) } as const;
  });
const body: fc.Arbitrary<Body> = fc.oneof(
  { weight: 12, arbitrary: mutatedFixture },
  { weight: 1, arbitrary: fc.json({ maxDepth: 3 }).map((raw) => ({ kind: 'raw', raw }) as const) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((raw) => ({ kind: 'raw', raw }) as const) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '{"project":{"__proto__":{"x":1}},"object_kind":"push"}', '', 'null', '[]', '"push"', '{', '\ufeff{}')
      .map((raw) => ({ kind: 'raw', raw }) as const),
  },
);

type Token = { kind: 'valid' | 'other-instance' | 'wrong' | 'absent'; value?: string };
const token: fc.Arbitrary<Token> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Token>({ kind: 'valid', value: SECRETS.example }) },
  { weight: 1, arbitrary: fc.constant<Token>({ kind: 'other-instance', value: SECRETS.other }) },
  { weight: 1, arbitrary: fc.constantFrom(` ${SECRETS.example}`, SECRETS.example.toUpperCase(), SECRETS.example.slice(0, -1), `${SECRETS.example}x`, SECRETS.rotated).map<Token>((value) => ({ kind: 'wrong', value })) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 80 }).map<Token>((value) => ({ kind: 'wrong', value })) },
  { weight: 1, arbitrary: fc.constant<Token>({ kind: 'absent' }) },
);

const request = fc.record({
  token,
  body,
  event: fc.oneof(
    { weight: 4, arbitrary: fc.constant<string | null>(null) }, // the fixture's own event header
    { weight: 1, arbitrary: fc.constantFrom<string | null>('System Hook', 'Push Hook', 'Tag Push Hook', 'Merge Request Hook', 'Note Hook', 'Pipeline Hook', undefined as unknown as null) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 40 }) },
  ),
  contentType: fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom<string | undefined>('application/json', 'application/json; charset=utf-8', 'Application/JSON') },
    { weight: 1, arbitrary: fc.constantFrom<string | undefined>('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined) },
  ),
  idempotencyKey: fc.option(fc.oneof(fc.uuid(), fc.string({ unit: 'grapheme-ascii', maxLength: 260 })), { nil: undefined }),
  eventUuid: fc.option(fc.uuid(), { nil: undefined }),
  userAgent: fc.option(fc.string({ unit: 'grapheme-ascii', maxLength: 300 }), { nil: undefined }),
});

let secbot: SecbotUnderTest;

beforeAll(async () => {
  secbot = await startSecbotIntake('secfuzz');
});
afterAll(async () => {
  await secbot?.close();
});

describe('POST /v1/gitlab/webhook under generated input', () => {
  it(`answers ${RUNS} generated requests with 2xx accepted/ignored or 4xx, never 5xx, and publishes only for a configured secret`, { timeout: 300_000 }, async () => {
    const statuses = new Map<number, number>();
    let published = 0;
    let accepted = 0;
    let withoutSecret = 0;
    const started = Date.now();
    const configured = new Set([SECRETS.example, SECRETS.other, SECRETS.jobs]);

    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const event = r.event === null ? FIXTURES.find(([name]) => r.body.kind === 'fixture' && name === r.body.fixture)?.[1] ?? 'System Hook' : r.event;
        const headers: Record<string, string> = {};
        if (r.token.value !== undefined) headers['x-gitlab-token'] = r.token.value;
        if (event !== undefined) headers['x-gitlab-event'] = event;
        if (r.contentType !== undefined) headers['content-type'] = r.contentType;
        if (r.idempotencyKey !== undefined) headers['idempotency-key'] = r.idempotencyKey;
        if (r.eventUuid !== undefined) headers['x-gitlab-event-uuid'] = r.eventUuid;
        if (r.userAgent !== undefined) headers['user-agent'] = r.userAgent;
        const res = await secbot.intake.app.inject({ method: 'POST', url: '/v1/gitlab/webhook', headers, payload: r.body.raw, remoteAddress: freshAddress() });

        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        const hasSecret = r.token.value !== undefined && configured.has(r.token.value);
        if (!hasSecret) withoutSecret++;
        expect(res.statusCode, res.body).toBeLessThan(500);
        expect(res.statusCode).toBeGreaterThanOrEqual(200);
        if (!hasSecret) expect(res.statusCode, 'no configured secret').toBe(403);
        if (res.statusCode < 300) {
          const reply = res.json<{ status: string; duplicate?: boolean }>();
          expect([200, 202]).toContain(res.statusCode);
          expect(reply.status).toBe(res.statusCode === 202 ? 'accepted' : 'ignored');
          if (res.statusCode === 202) {
            accepted++;
            if (reply.duplicate === false) published++;
          }
        } else {
          expect(res.statusCode).toBeGreaterThanOrEqual(400);
          expect(res.json<{ error?: unknown }>().error).toEqual(expect.any(String));
        }
      }),
      { numRuns: RUNS },
    );
    const ms = Date.now() - started;

    // Every event on the stream is one accepted (not duplicate) delivery, all of which had a configured secret.
    expect((await secbot.received()).length).toBe(published);
    expect((await secbot.intake.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect([...statuses.keys()].filter((s) => s >= 500)).toEqual([]);
    console.log(
      `Webhook fuzz: ${RUNS} requests in ${(ms / 1000).toFixed(1)} s; ${withoutSecret} without a configured secret; ` +
        `${accepted} accepted (${published} new events on the stream); statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}; 5xx: 0`,
    );
    // The fuzz must reach the handler's deep paths, not only the door.
    expect(accepted).toBeGreaterThan(RUNS / 20);
    expect(statuses.get(422) ?? 0).toBeGreaterThan(RUNS / 50);
  });
});

it('keeps the idempotency of a delivery: the same key twice is one event', async () => {
  const key = randomUUID();
  const send = () =>
    secbot.intake.app.inject({
      method: 'POST',
      url: '/v1/gitlab/webhook',
      headers: { 'content-type': 'application/json', 'x-gitlab-token': SECRETS.example, 'x-gitlab-event': 'System Hook', 'idempotency-key': key },
      payload: JSON.stringify(gitlabFixture('docs_system_hook_push')),
      remoteAddress: freshAddress(),
    });
  expect((await send()).json()).toMatchObject({ duplicate: false });
  expect((await send()).json()).toMatchObject({ duplicate: true });
});
