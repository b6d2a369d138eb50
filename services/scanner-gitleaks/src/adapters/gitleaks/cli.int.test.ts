import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeGitLabGit, type FakeGitLabGit, type TestRepo } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_GITLEAKS_CONFIG } from '../../component-config.ts';
import { fakeAwsKey } from '../../test-support/events.ts';
import { createGitleaksCli, GITLEAKS_VERSION, resolveGitleaksBin, type GitleaksScan } from './cli.ts';

describe('gitleaks CLI adapter (real binary)', () => {
  const cli = createGitleaksCli(resolveGitleaksBin(process.env['GITLEAKS_BIN']));
  let fake: FakeGitLabGit;
  let repo: TestRepo;
  let work: string;
  let scan: Omit<GitleaksScan, 'logOpts'>;

  beforeAll(async () => {
    fake = await fakeGitLabGit();
    repo = await fake.createProject('g/cli');
    work = await mkdtemp(join(tmpdir(), 'gitleaks-cli-'));
    await mkdir(join(work, 'cwd'));
    await writeFile(join(work, 'rules.toml'), DEFAULT_GITLEAKS_CONFIG);
    scan = { mode: 'git', source: repo.dir, configPath: join(work, 'rules.toml'), allowInline: false, maxTargetMegabytes: 0, timeoutSeconds: 60, cwd: join(work, 'cwd') };
  });
  afterAll(async () => {
    await fake.close();
    await rm(work, { recursive: true, force: true });
  });

  it('reports the pinned version', async () => {
    expect(await cli.version()).toBe(GITLEAKS_VERSION);
  });

  it('tells clean, leaks and a broken git log apart', async () => {
    const clean = await repo.commit('clean', { 'a.txt': 'nothing here\n' });
    const leaky = await repo.commit('leak', { 'b.env': `AWS=${fakeAwsKey()} # gitleaks:allow\n` });

    expect(await cli.scan({ ...scan, logOpts: [clean] })).toEqual({ status: 'clean' });
    expect(await cli.scan({ ...scan, logOpts: [`${clean}..${leaky}`] })).toMatchObject({ status: 'leaks' });
    expect(await cli.scan({ ...scan, allowInline: true, logOpts: [`${clean}..${leaky}`] })).toEqual({ status: 'clean' });
    // gitleaks itself exits 0 with [] here: only its stderr says git failed.
    expect(await cli.scan({ ...scan, logOpts: [`${'d'.repeat(40)}..${leaky}`] })).toMatchObject({
      status: 'error',
      reason: expect.stringMatching(/gitleaks reported an error.*Invalid revision range/) as unknown,
    });
  });

  it('reports a crash on a bad rules file (exit 2, empty report) as an error, not as clean', async () => {
    await writeFile(join(work, 'bad.toml'), '[[rules]]\nid = "x"\nregex = "("\n');

    expect(await cli.scan({ ...scan, configPath: join(work, 'bad.toml'), logOpts: ['HEAD'] })).toMatchObject({ status: 'error' });
  });
});
