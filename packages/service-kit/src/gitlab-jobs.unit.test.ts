import { describe, expect, it } from 'vitest';
import { createGitLabJobsClient } from './gitlab-jobs.ts';
import { createRateLimiter } from './rate-limit.ts';

const GITLAB = 'https://gitlab.example.com/';
const job = (path = 'group/app') => ({ id: 7, status: 'running', pipeline: { id: 70, project_id: 3, sha: 'a'.repeat(40) }, web_url: `${GITLAB}${path}/-/jobs/7` });

/** A fetch that answers from `answer` and records every call (URL, headers, redirect mode). */
function fakeFetch(answer: (url: string) => Response) {
  const calls: Array<{ url: string; token: string | undefined; redirect: RequestInit['redirect'] }> = [];
  const fetch = ((input: string | URL | Request, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : input.toString();
    calls.push({ url, token: new Headers(init?.headers).get('job-token') ?? undefined, redirect: init?.redirect });
    return Promise.resolve(answer(url));
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

describe('createGitLabJobsClient', () => {
  it('never follows a redirect: the job token is not sent elsewhere, and the answer is unavailable', async () => {
    const gitlab = fakeFetch(() => new Response(null, { status: 302, headers: { location: 'https://evil.example.net/collect' } }));
    const client = createGitLabJobsClient({ fetch: gitlab.fetch });

    const r = await client.currentJob(GITLAB, 'glcbt-token');

    expect(r).toMatchObject({ ok: false, reason: 'unavailable', message: expect.stringMatching(/redirected/) as unknown });
    expect(gitlab.calls).toEqual([{ url: `${GITLAB}api/v4/job`, token: 'glcbt-token', redirect: 'manual' }]);
  });

  it('sends no token to an instance URL that is not http(s)', async () => {
    const gitlab = fakeFetch(() => json(200, job()));
    const client = createGitLabJobsClient({ fetch: gitlab.fetch });

    for (const url of ['javascript://gitlab.example.com/', 'file:///etc/', 'not a url']) {
      expect(await client.currentJob(url, 'glcbt-token'), url).toMatchObject({ ok: false, reason: 'unavailable' });
    }
    expect(gitlab.calls).toHaveLength(0);
  });

  it('caches a rejection for 30 s and an acceptance for 60 s, per instance and token', async () => {
    let t = 0;
    const gitlab = fakeFetch(() => json(401, { message: '401 Unauthorized' }));
    const client = createGitLabJobsClient({ fetch: gitlab.fetch, now: () => t });

    expect(await client.currentJob(GITLAB, 'wrong')).toMatchObject({ ok: false, reason: 'rejected' });
    t = 29_000;
    expect(await client.currentJob(GITLAB, 'wrong')).toMatchObject({ ok: false, reason: 'rejected' });
    expect(gitlab.calls).toHaveLength(1);
    t = 31_000;
    await client.currentJob(GITLAB, 'wrong');
    expect(gitlab.calls).toHaveLength(2);

    const ok = fakeFetch(() => json(200, job()));
    const accepting = createGitLabJobsClient({ fetch: ok.fetch, now: () => t });
    expect(await accepting.currentJob(GITLAB, 'right')).toMatchObject({ ok: true, projectPath: 'group/app' });
    t += 59_000;
    await accepting.currentJob(GITLAB, 'right');
    await accepting.currentJob('https://other.example.com/', 'right');
    expect(ok.calls.map((c) => c.url)).toEqual([`${GITLAB}api/v4/job`, 'https://other.example.com/api/v4/job']);
    t += 2_000;
    await accepting.currentJob(GITLAB, 'right');
    expect(ok.calls).toHaveLength(3);
  });

  it('does not cache GitLab being unavailable, but limits lookups of one token to 10 a minute', async () => {
    let t = 0;
    const gitlab = fakeFetch(() => json(502, {}));
    const client = createGitLabJobsClient({ fetch: gitlab.fetch, now: () => t });

    const answers = [];
    for (let i = 0; i < 12; i++) answers.push(await client.currentJob(GITLAB, 'same-token'));

    expect(gitlab.calls).toHaveLength(10);
    expect(answers.slice(0, 10).every((a) => !a.ok && a.reason === 'unavailable')).toBe(true);
    expect(answers[10]).toMatchObject({ ok: false, reason: 'rate_limited', retryAfterSeconds: 6 });
    t = 6_000;
    expect(await client.currentJob(GITLAB, 'same-token')).toMatchObject({ reason: 'unavailable' });
  });

  it('limits lookups per instance, so random tokens cannot flood GitLab', async () => {
    const gitlab = fakeFetch(() => json(401, { message: '401 Unauthorized' }));
    const client = createGitLabJobsClient({ fetch: gitlab.fetch, perInstancePerMinute: 50, now: () => 0 });

    const answers = await Promise.all(Array.from({ length: 80 }, (_, i) => client.currentJob(GITLAB, `random-${i}`)));

    expect(gitlab.calls).toHaveLength(50);
    expect(answers.filter((a) => !a.ok && a.reason === 'rate_limited')).toHaveLength(30);
  });

  it('asks GitLab once for concurrent lookups of the same token', async () => {
    const gitlab = fakeFetch(() => json(200, job()));
    const client = createGitLabJobsClient({ fetch: gitlab.fetch });

    await Promise.all([client.currentJob(GITLAB, 't'), client.currentJob(GITLAB, 't'), client.currentJob(GITLAB, 't')]);

    expect(gitlab.calls).toHaveLength(1);
  });
});

describe('createRateLimiter', () => {
  it('refills at its rate and bounds the keys it remembers', () => {
    let t = 0;
    const limiter = createRateLimiter({ perMinute: 2, maxKeys: 2, now: () => t });

    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 30]);
    expect(limiter.wait('a')).toBe(30);
    t = 30_000;
    expect(limiter.wait('a')).toBe(0);
    expect(limiter.take('a')).toBe(0);
    limiter.take('b');
    limiter.take('c'); // forgets the oldest, a
    expect(limiter.wait('a')).toBe(0);
  });
});
