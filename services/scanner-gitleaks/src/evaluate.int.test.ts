import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGitleaksCli, resolveGitleaksBin } from './adapters/gitleaks/cli.ts';
import { createMirrors, type Mirror } from './adapters/git/mirror.ts';
import { evaluateCommit, type Detector } from './evaluate.ts';
import { memoryProjectRecords } from './project-records.ts';
import { gitleaksDetector } from './scan-component.ts';
import { fakeAwsKey } from './test-support/events.ts';

/** evaluateCommit on a real mirror with the real gitleaks, for what the end-to-end tests cannot reach. */
describe('evaluateCommit', () => {
  let root: string;
  let work: string;
  let bare: string;
  let detector: Detector;
  let mirror: Mirror;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'evaluate-'));
    work = join(root, 'work');
    bare = join(root, 'bare.git');
    await git(root, ['init', '-q', '--bare', '-b', 'main', bare]);
    await git(root, ['init', '-q', '-b', 'main', work]);
    await mkdir(join(root, 'scan'), { recursive: true });
    await writeFile(join(root, 'scan', 'gitleaks.toml'), '[extend]\nuseDefault = true\n');
    detector = gitleaksDetector(createGitleaksCli(resolveGitleaksBin(undefined)), {
      configPath: join(root, 'scan', 'gitleaks.toml'),
      allowInline: false,
      maxTargetMegabytes: 10,
      timeoutSeconds: 60,
      cwd: join(root, 'scan'),
    });
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const commit = async (message: string, files: Record<string, string>) => {
    for (const [f, content] of Object.entries(files)) await writeFile(join(work, f), content);
    await git(work, ['add', '-A']);
    await git(work, ['commit', '-q', '--allow-empty', '-m', message]);
    const sha = await git(work, ['rev-parse', 'HEAD']);
    await git(work, ['push', '-q', '--force', bare, 'HEAD:refs/heads/main']);
    return sha;
  };
  const prepare = async () => {
    const mirrors = createMirrors({ dataDir: join(root, 'data'), gitTimeoutMs: 60_000, lockWaitMs: 10_000 });
    mirror = await mirrors.prepare({ url: bare, token: 'unused', key: 'local', project: 'group/app' }, { refspecs: ['+refs/heads/*:refs/heads/*'], required: [], skipWhenPresent: [] });
    return mirror;
  };

  it('never turns a finding that blocked into a baseline, under new rules either; and a baseline stays one', async () => {
    const records = memoryProjectRecords();
    const blockingKey = await commit('leak', { 'a.env': `AWS=${fakeAwsKey()}\n` });
    const head = await commit('more', { 'b.txt': 'b\n' });
    await prepare();
    const input = { mirror, records, host: 'gitlab.example.com', project: 'group/app', webUrl: 'https://gitlab.example.com/group/app', component: 'gitleaks', detector, fingerprintKey: 'k'.repeat(32), head };

    const first = await evaluateCommit({ ...input, scope: 'rules-a' });
    // An enrollment taken after a rules change, before any event rescanned the project under the new rules.
    const enrolled = await evaluateCommit({ ...input, scope: 'rules-b', baseline: true });

    expect(first.status === 'ok' && first.carried.map((f) => [f.commit, f.baseline ?? false])).toEqual([[blockingKey, false]]);
    expect(enrolled.status === 'ok' && enrolled.carried.map((f) => [f.commit, f.baseline ?? false])).toEqual([[blockingKey, false]]);

    // A key accepted as baseline (enrolled first) stays baseline when a rules change rescans it.
    const accepted = await commit('another key before enrolling', { 'c.env': `AWS=${fakeAwsKey()}\n` });
    await prepare();
    await evaluateCommit({ ...input, head: accepted, scope: 'rules-c', baseline: true });
    const rescanned = await evaluateCommit({ ...input, head: accepted, scope: 'rules-d' });
    expect(rescanned.status === 'ok' && rescanned.carried.map((f) => [f.file, f.baseline ?? false])).toEqual([
      ['a.env', false],
      ['c.env', true],
    ]);
  });

  it('records no secret even when the key is the file name, so later evaluations cannot leak it either', async () => {
    const records = memoryProjectRecords();
    await rm(join(root, 'data'), { recursive: true, force: true });
    const secret = fakeAwsKey();
    await commit('key as a name', { [`${secret}.env`]: `AWS_ACCESS_KEY_ID=${secret}\n` });
    const child = await commit('child', { 'z.txt': 'z\n' });
    await prepare();
    const input = { mirror, records, host: 'gitlab.example.com', project: 'group/named', webUrl: 'https://gitlab.example.com/group/named', component: 'gitleaks', detector, fingerprintKey: 'k'.repeat(32), scope: 's' };

    const first = await evaluateCommit({ ...input, head: child });
    const later = await evaluateCommit({ ...input, head: await commit('grandchild', { 'y.txt': 'y\n' }).then(async (sha) => (await prepare(), sha)) });

    for (const e of [first, later]) {
      expect(e.status === 'ok' && e.carried.map((f) => f.file)).toContain('REDACTED.env');
      expect(JSON.stringify(e.status === 'ok' ? e.carried : [])).not.toContain(secret);
    }
    expect(JSON.stringify([...records.records.values()])).not.toContain(secret);
  });

  it('rebuilds its refs from the record on a new mirror, and scans nothing the record says was scanned', async () => {
    const records = memoryProjectRecords();
    await rm(join(root, 'data'), { recursive: true, force: true });
    const leak = await commit('leak', { 'd.env': `AWS=${fakeAwsKey()}\n` });
    const head = await commit('more', { 'e.txt': 'e\n' });
    await prepare();
    const input = { records, host: 'gitlab.example.com', project: 'group/other', webUrl: 'https://gitlab.example.com/group/other', component: 'gitleaks', detector, fingerprintKey: 'k'.repeat(32), scope: 'rules-x' };
    const first = await evaluateCommit({ ...input, mirror, head });
    expect(first.status === 'ok' && first.scanned.commits).toBeGreaterThan(0);

    // A lost volume: a new mirror elsewhere; the record (KV in the service) survives.
    await rm(join(root, 'data'), { recursive: true, force: true });
    await prepare();
    let calls = 0;
    const counting: Detector = { detect: (dir, opts) => ((calls += 1), detector.detect(dir, opts)) };
    const again = await evaluateCommit({ ...input, mirror, head, detector: counting });

    expect(calls).toBe(0);
    expect(again.status === 'ok' && again.carried.map((f) => f.commit)).toContain(leak);
  });
});
