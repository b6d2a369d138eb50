import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeGitLabGit, ISOLATED_GIT_ENV, type FakeGitLabGit } from './fake-gitlab-git.ts';

const run = promisify(execFile);

const cloneWith = (url: string, password: string, into: string) =>
  run('git', ['clone', '-q', '--bare', url, into], {
    env: {
      PATH: process.env['PATH'] ?? '',
      ...ISOLATED_GIT_ENV,
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.extraHeader',
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from(`oauth2:${password}`).toString('base64')}`,
    },
  });

describe('fakeGitLabGit', () => {
  let fake: FakeGitLabGit;
  let tmp: string;

  beforeAll(async () => {
    fake = await fakeGitLabGit();
    tmp = await mkdtemp(join(tmpdir(), 'fake-gitlab-git-test-'));
  });
  afterAll(async () => {
    await fake.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('serves a clone over smart HTTP to user oauth2 with the token', async () => {
    const repo = await fake.createProject('group/app');
    const sha = await repo.commit('first', { 'README.md': 'hello\n' });
    await repo.push('main');

    await cloneWith(`${fake.url}group/app.git`, fake.token, join(tmp, 'ok.git'));

    const { stdout } = await run('git', ['-C', join(tmp, 'ok.git'), 'rev-parse', 'main']);
    expect(stdout.trim()).toBe(sha);
    expect(fake.requests.at(-1)).toMatchObject({ status: 200, user: 'oauth2' });
  });

  it('answers 401 with a Basic challenge to a wrong token', async () => {
    const clone = cloneWith(`${fake.url}group/app.git`, 'wrong-token', join(tmp, 'bad.git'));

    await expect(clone).rejects.toThrow(/Authentication failed|terminal prompts disabled|401/);
    expect(fake.requests.at(-1)).toMatchObject({ status: 401 });
  });

  it('can be told to fail the next requests', async () => {
    fake.failNext(503);

    await expect(cloneWith(`${fake.url}group/app.git`, fake.token, join(tmp, 'fail.git'))).rejects.toThrow(/503/);
  });
});
