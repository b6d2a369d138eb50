import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeGitLabGit, git, type FakeGitLabGit } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMirrors, GitFetchError, type Remote } from './mirror.ts';

describe('project mirrors', () => {
  let fake: FakeGitLabGit;
  let dataDir: string;
  const remote = (project: string, token = ''): Remote => {
    const url = `${fake.url}${project}.git`;
    return { url, token: token || fake.token, key: `T ${url}`, project };
  };

  beforeAll(async () => {
    fake = await fakeGitLabGit();
    dataDir = await mkdtemp(join(tmpdir(), 'mirror-test-'));
  });
  afterAll(async () => {
    await fake.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('clones once, fetches incrementally, and skips the fetch when the range is already there', async () => {
    const mirrors = createMirrors({ dataDir, gitTimeoutMs: 30_000, lockWaitMs: 10_000, looseObjectLimit: 1 });
    const repo = await fake.createProject('g/mirror');
    const a = await repo.commit('a', { 'a.txt': 'a\n' });
    await repo.push('main');
    const mirror = await mirrors.prepare(remote('g/mirror'), { refspecs: ['+refs/heads/*:refs/heads/*'], required: [a], skipWhenPresent: [] });
    const b = await repo.commit('b', { 'b.txt': 'b\n' });
    await repo.push('main');

    await mirrors.prepare(remote('g/mirror'), { refspecs: ['+refs/heads/*:refs/heads/*'], required: [b], skipWhenPresent: [a, b] });
    const requests = fake.requests.length;
    await mirrors.prepare(remote('g/mirror'), { refspecs: ['+refs/heads/*:refs/heads/*'], required: [b], skipWhenPresent: [a, b] });

    expect(fake.requests.length).toBe(requests);
    expect(await mirror.present([a, b, 'c'.repeat(40)])).toEqual(new Set([a, b]));
    expect(await mirror.rangeStats([`${a}..${b}`])).toEqual({ commits: 1, bytes: 2 });
    expect(await git(mirror.dir, ['count-objects'])).toMatch(/^0 objects/);
    expect(await readFile(join(mirror.dir, 'config'), 'utf8')).not.toContain(fake.token);
  });

  it('keeps its own refs packed, has a commit-graph, and ignores repository attributes', async () => {
    const mirrors = createMirrors({ dataDir, gitTimeoutMs: 30_000, lockWaitMs: 10_000, looseRefLimit: 10 });
    const repo = await fake.createProject('g/refs');
    const a = await repo.commit('a', { 'a.txt': 'a\n' });
    await repo.push('main');
    const mirror = await mirrors.prepare(remote('g/refs'), { refspecs: ['+refs/heads/*:refs/heads/*'], required: [a], skipWhenPresent: [] });

    await mirror.locked(() => mirror.updateRefs(Array.from({ length: 30 }, (_, i) => ({ ref: `refs/secbot/scanned/x/${i}`, sha: a }))));

    const loose = (await readdir(join(mirror.dir, 'refs'), { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
    expect(loose.length).toBeLessThanOrEqual(10);
    expect((await mirror.refs('refs/secbot/scanned/')).size).toBe(30);
    expect((await readdir(join(mirror.dir, 'objects', 'info', 'commit-graphs'))).some((f) => f.endsWith('.graph'))).toBe(true);
    expect(await git(mirror.dir, ['config', 'attr.tree'])).toBe('4b825dc642cb6eb9a060e54bf8d69288fbee4904');
  });

  it('turns a rejected token into a GitFetchError that does not contain it', async () => {
    const mirrors = createMirrors({ dataDir, gitTimeoutMs: 30_000, lockWaitMs: 10_000 });
    await fake.createProject('g/locked');

    const error = await mirrors
      .prepare(remote('g/locked', 'wrong-token-value'), { refspecs: ['+refs/heads/*:refs/heads/*'], required: ['a'.repeat(40)], skipWhenPresent: [] })
      .catch((err: unknown) => err);

    expect(error).toBeInstanceOf(GitFetchError);
    expect((error as GitFetchError).kind).toBe('auth');
    expect((error as Error).message).not.toContain('wrong-token-value');
  });
});
