import { RetryableError, TerminalError } from '@secbot/service-kit';
import { fakeGitLabApi, type FakeGitLabApi } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGitLabClient, type GitLabClient } from './client.ts';

describe('GitLab client against the fake GitLab API', () => {
  let gitlab: FakeGitLabApi;
  let client: GitLabClient;
  const sha = 'e'.repeat(40);

  beforeAll(async () => {
    gitlab = await fakeGitLabApi({ token: 'glpat-client-test', projects: { 15: 'mike/diaspora' } });
    client = createGitLabClient({ baseUrl: gitlab.url, token: gitlab.token, tokenSetting: 'GITLAB_CONFIGS (prefix T).auth_token', timeoutMs: 5000, perPage: 2 });
  });
  afterAll(async () => gitlab?.close());

  it('moves a commit status pending → running → failed and treats the same state again as a no-op', async () => {
    for (const state of ['pending', 'running', 'failed'] as const) {
      expect(await client.setCommitStatus({ projectId: 15, sha, state, name: 'secbot', ref: 'main', description: 'd'.repeat(400), targetUrl: 'https://secbot.example.com/x' })).toBe('set');
    }

    expect(await client.setCommitStatus({ projectId: 15, sha, state: 'failed', name: 'secbot' })).toBe('unchanged');
    expect(gitlab.statusOf(sha)?.history).toEqual(['pending', 'running', 'failed']);
    expect(gitlab.statusOf(sha)?.description).toHaveLength(255);
    expect(gitlab.requests.at(-1)?.privateToken).toBe('glpat-client-test');
  });

  it('reads every page of notes by following X-Next-Page', async () => {
    for (let i = 0; i < 5; i++) gitlab.seedNote(15, 4, `note ${i}`, { system: i === 0 });
    const mine = await client.createNote(15, 4, 'mine');

    const notes = await client.listNotes(15, 4);

    expect(notes.map((n) => n.body)).toEqual(['note 0', 'note 1', 'note 2', 'note 3', 'note 4', 'mine']);
    expect(notes[0]?.system).toBe(true);
    expect(await client.updateNote(15, 4, mine.id, 'edited')).toMatchObject({ id: mine.id, body: 'edited' });
    expect(await client.updateNote(15, 4, 999_999, 'gone')).toBeUndefined();
  });

  it.each([
    [401, TerminalError, /rejected the token \(401\).*GITLAB_CONFIGS \(prefix T\)\.auth_token/],
    [403, TerminalError, /Developer role/],
    [404, TerminalError, /cannot see it/],
    [429, RetryableError, /answered 429/],
    [502, RetryableError, /answered 502/],
  ])('maps HTTP %i to the right error, without the token', async (status, type, message) => {
    gitlab.failNext(status, { retryAfter: 7 });

    const err = await client.setCommitStatus({ projectId: 15, sha, state: 'running', name: 'other' }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(type);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain(gitlab.token);
    if (err instanceof RetryableError) expect(err.retryAfterMs).toBe(7000);
  });

  it('is refused by the fake with a wrong token, like GitLab', async () => {
    const wrong = createGitLabClient({ baseUrl: gitlab.url, token: 'nope', tokenSetting: 'X', timeoutMs: 5000 });

    await expect(wrong.listNotes(15, 4)).rejects.toThrow(/401/);
  });

  it('speaks GitLab to any client: Bearer auth, form bodies, pagination headers', async () => {
    const post = await fetch(`${gitlab.url}api/v4/projects/mike%2Fdiaspora/statuses/${'f'.repeat(40)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gitlab.token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ state: 'running', name: 'form' }),
    });
    const page = await fetch(`${gitlab.url}api/v4/projects/15/merge_requests/4/notes?per_page=2&page=2`, { headers: { 'private-token': gitlab.token } });

    expect(post.status).toBe(201);
    expect(await post.json()).toMatchObject({ status: 'running', name: 'form' });
    expect([page.headers.get('x-page'), page.headers.get('x-next-page'), page.headers.get('x-total')]).toEqual(['2', '3', '6']);
    expect(page.headers.get('link')).toContain('rel="next"');
  });
});
