import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Objm } from '@nats-io/obj';
import { deterministicId, EventReceivedV1, ScanCompletedV1, type ChangeRange } from '@secbot/contracts';
import { createPublisher } from '@secbot/service-kit';
import { eventually, fakeGitLabGit, readStream, streamEnv, testNats, type FakeGitLabGit, type TestNats, type TestRepo } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScannerGitleaks, type RunningScanner } from './service.ts';
import { anEventFor, fakeAwsKey } from './test-support/events.ts';

const ZERO_CONFIG = {};

describe('scanner-gitleaks with real NATS, git and gitleaks', () => {
  let nats: TestNats;
  let gitlab: FakeGitLabGit;
  let wrongTokenGitlab: FakeGitLabGit;
  let scanner: RunningScanner;
  let dataDir: string;
  const logs: string[] = [];
  const secrets: string[] = [];
  const bucket = `test-reports-${Date.now()}`;
  let projects = 0;

  const key = () => {
    const k = fakeAwsKey();
    secrets.push(k);
    return k;
  };
  const newProject = () => gitlab.createProject(`group${++projects}/app`);

  const publish = async (event: EventReceivedV1) => {
    await createPublisher({ js: nats.js, stream: nats.stream }).publish(EventReceivedV1, event);
  };
  const results = async (checkId: string): Promise<ScanCompletedV1[]> =>
    (await readStream(nats, nats.stream))
      .filter((m) => m.subject === ScanCompletedV1.subject(nats.stream.prefix))
      .map((m) => ScanCompletedV1.schema.parse(m.json))
      .filter((e) => e.securityCheckId === checkId);
  const scanOf = async (event: EventReceivedV1, timeoutMs = 30_000): Promise<ScanCompletedV1> => {
    await publish(event);
    return eventually(async () => (await results(event.securityCheckId))[0], timeoutMs, `scan.completed for ${event.data.range.kind}`);
  };
  const push = (repo: TestRepo, before: string | null, after: string, config: Record<string, unknown> = ZERO_CONFIG, ref = 'refs/heads/main') =>
    anEventFor({ baseUrl: gitlab.url, project: repo.pathWithNamespace, range: { kind: 'push', ref, before, after }, config });

  beforeAll(async () => {
    nats = await testNats('scanner');
    gitlab = await fakeGitLabGit();
    wrongTokenGitlab = await fakeGitLabGit();
    dataDir = await mkdtemp(join(tmpdir(), 'scanner-data-'));
    scanner = await startScannerGitleaks(
      {
        ...streamEnv(nats.stream),
        GITLAB_CONFIGS: JSON.stringify([
          { host: gitlab.url, webhook_secret_token: 'webhook-secret-1', auth_token: gitlab.token, prefix: 'GIT_LOCAL', insecure: true },
          { host: wrongTokenGitlab.url, webhook_secret_token: 'webhook-secret-2', auth_token: 'not-the-right-token', prefix: 'GIT_OTHER', insecure: true },
        ]),
        SCANNER_DATA_DIR: dataDir,
        SCANNER_FINGERPRINT_KEY: 'test-fingerprint-key-0123456789',
        SCANNER_INLINE_REPORT_MAX_BYTES: '3000',
        SCANNER_REPORT_BUCKET: bucket,
        SCANNER_MAX_DELIVER: '3',
        LOG_LEVEL: 'debug',
      },
      { port: 0, logDestination: { write: (line: string) => void logs.push(line) }, backoffMs: () => 200 },
    );
  });

  afterAll(async () => {
    await scanner?.close();
    await new Objm(nats.nc).open(bucket).then((os) => os.destroy()).catch(() => undefined);
    await nats?.cleanup();
    await gitlab?.close();
    await wrongTokenGitlab?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('finds a secret in the pushed commit, with a commit-independent fingerprint, scanning each commit once', async () => {
    const repo = await newProject();
    const before = await repo.commit('initial', { 'README.md': 'hello\n' });
    const secret = key();
    const after = await repo.commit('add deploy config', { 'config/deploy.env': `AWS_ACCESS_KEY_ID=${secret}\n` });
    await repo.push('main');
    const event = push(repo, before, after);

    const scan = await scanOf(event);

    expect(scan.data).toMatchObject({ status: 'ok', scan: 'gitleaks', handler: 'gitleaks', commit: after, rulesSource: 'component' });
    expect(scan.data.tool).toEqual({ name: 'gitleaks', version: 'v8.30.1' });
    // First contact: the whole history, once.
    expect(scan.data.scanned).toMatchObject({ commits: 2, description: expect.stringMatching(new RegExp(`^history of ${after.slice(0, 7)}: 2 commit`)) as unknown });
    expect(scan.data.findings).toHaveLength(1);
    expect(scan.data.findings[0]).toMatchObject({ ruleId: 'aws-access-token', file: 'config/deploy.env', startLine: 1, commit: after });
    expect(scan.data.findings[0]?.fingerprint).toMatch(/^aws-access-token:[0-9a-f]{32}$/);
    expect(scan.data.report).toMatchObject({ storage: 'inline', format: 'gitleaks-json' });
    expect(scan.id).toBe((await import('@secbot/contracts')).deterministicId('scan.completed', scan.securityCheckId, 'gitleaks', event.id));

    // The same secret committed again elsewhere (a rebase, a squash) gets the same fingerprint; only the new commit is scanned.
    const again = await repo.commit('move it', { 'other/place.env': `KEY=${secret}\n`, 'config/deploy.env': 'AWS_ACCESS_KEY_ID=\n' });
    await repo.push('main');
    const second = await scanOf(push(repo, after, again));
    expect(second.data.scanned?.commits).toBe(1);
    expect([...new Set(second.data.findings.map((f) => f.fingerprint))]).toEqual([scan.data.findings[0]?.fingerprint]);
    expect(second.data.findings.map((f) => [f.file, f.commit])).toEqual([
      ['config/deploy.env', after],
      ['other/place.env', again],
    ]);
  });

  it('blocks every commit that carries a secret: removing the file later does not clear it', async () => {
    const repo = await newProject();
    const leak = await repo.commit('old leak', { 'old.env': `AWS=${key()}\n` });
    const before = await repo.commit('remove it', { 'README.md': 'x\n', 'old.env': 'AWS=\n' });
    const after = await repo.commit('clean change', { 'src/app.ts': 'export const x = 1;\n' });
    await repo.push('main');

    const scan = await scanOf(push(repo, before, after));

    expect(scan.data).toMatchObject({ status: 'ok', scanned: { commits: 3 } });
    expect(scan.data.findings.map((f) => [f.file, f.commit])).toEqual([['old.env', leak]]);
  });

  it('judges a new branch by its whole history, not only by what it adds to the default branch', async () => {
    const repo = await newProject();
    await repo.commit('old leak on main', { 'old.env': `AWS=${key()}\n` });
    await repo.push('main');
    await repo.git('checkout', '-q', '-b', 'feature');
    await repo.commit('feature work', { 'a.txt': 'a\n' });
    const after = await repo.commit('feature leak', { 'feature.env': `AWS=${key()}\n` });
    await repo.push('feature');

    const scan = await scanOf(push(repo, null, after, {}, 'refs/heads/feature'));

    expect(scan.data.status).toBe('ok');
    expect(scan.data.scanned?.commits).toBe(3);
    expect(scan.data.findings.map((f) => f.file)).toEqual(['feature.env', 'old.env']);
  });

  it('clears the gate for a history rewritten without the secret, and scans only the rewritten commit', async () => {
    const repo = await newProject();
    const base = await repo.commit('base', { 'README.md': 'base\n' });
    const oldHead = await repo.commit('old head with leak', { 'old.env': `AWS=${key()}\n` });
    await repo.push('main');
    await scanOf(push(repo, base, oldHead));
    await repo.git('reset', '-q', '--hard', base);
    const newHead = await repo.commit('rewritten', { 'new.env': `AWS=${key()}\n` });
    await repo.push('main');

    const scan = await scanOf(push(repo, oldHead, newHead));

    expect(scan.data.findings.map((f) => f.file)).toEqual(['new.env']);
    expect(scan.data.scanned?.commits).toBe(1);
  });

  it('judges a push whose before is gone from GitLab (force-push, cold mirror) by the pushed commit', async () => {
    const repo = await newProject();
    await repo.commit('old leak on main', { 'old.env': `AWS=${key()}\n` });
    await repo.push('main');
    await repo.git('checkout', '-q', '-b', 'feature');
    const neverPushed = await repo.commit('never pushed', { 'gone.txt': 'x\n' });
    await repo.git('reset', '-q', '--hard', 'main');
    const after = await repo.commit('rewritten', { 'feature.env': `AWS=${key()}\n` });
    await repo.push('feature');

    const scan = await scanOf(push(repo, neverPushed, after, {}, 'refs/heads/feature'));

    expect(scan.data.status).toBe('ok');
    expect(scan.data.findings.map((f) => f.file)).toEqual(['feature.env', 'old.env']);
  });

  it("judges a merge request by its last commit's whole history, fetched from the MR head", async () => {
    const repo = await newProject();
    await repo.commit('main leak', { 'main.env': `AWS=${key()}\n` });
    await repo.push('main');
    await repo.git('checkout', '-q', '-b', 'topic');
    const last = await repo.commit('mr leak', { 'mr.env': `AWS=${key()}\n` });
    await repo.push('topic:refs/merge-requests/7/head');
    const range: ChangeRange = {
      kind: 'merge_request',
      iid: 7,
      targetBranch: 'main',
      sourceBranch: 'topic',
      sourceGitHttpUrl: null,
      headRef: 'refs/merge-requests/7/head',
      lastCommit: last,
      oldrev: null,
    };

    const scan = await scanOf(anEventFor({ baseUrl: gitlab.url, project: repo.pathWithNamespace, range }));

    expect(scan.data.status).toBe('ok');
    expect(scan.data.findings.map((f) => f.file)).toEqual(['main.env', 'mr.env']);
  });

  it("judges a tag by its commit's history; the repository's .gitleaksignore and .gitattributes change nothing", async () => {
    const repo = await newProject();
    const leak = await repo.commit('leak', { 'deep/dir/leak.env': `AWS=${key()}\n`, 'enc/utf16.env': `AWS=${key()}\n` });
    // A repository could try to mute the gate: a global fingerprint for the file, export-ignore, a diff
    // driver that turns the file into "binary", and an encoding that a checkout would convert.
    await writeFile(join(repo.dir, '.gitleaksignore'), 'deep/dir/leak.env:aws-access-token:1\n');
    await writeFile(join(repo.dir, '.gitattributes'), 'deep/** export-ignore -diff binary\nenc/* working-tree-encoding=UTF-16LE -diff\n');
    await repo.git('add', '.gitleaksignore', '.gitattributes');
    await repo.git('commit', '-q', '-m', 'mute');
    const commit = await repo.sha();
    await repo.git('tag', 'v1.0.0');
    await repo.push('main', 'refs/tags/v1.0.0');
    const range: ChangeRange = { kind: 'tag', ref: 'refs/tags/v1.0.0', tag: 'v1.0.0', commit, tagObject: commit };

    const scan = await scanOf(anEventFor({ baseUrl: gitlab.url, project: repo.pathWithNamespace, range }));

    expect(scan.data).toMatchObject({ status: 'ok', rulesSource: 'component', scanned: { commits: 2 } });
    expect(scan.data.findings).toMatchObject([
      { file: 'deep/dir/leak.env', commit: leak, startLine: 1 },
      { file: 'enc/utf16.env', commit: leak, startLine: 1 },
    ]);
    expect(scan.data.findings[0]?.links['file']).toBe(`${gitlab.url}${repo.pathWithNamespace}/-/blob/${leak}/deep/dir/leak.env#L1`);
  });

  it('cannot be made to throw by a directory named .gitleaksignore or .gitleaks.toml', async () => {
    const repo = await newProject();
    await repo.commit('leak', { 'leak.env': `AWS=${key()}\n`, '.gitleaksignore/x': 'leak.env:aws-access-token:1\n', '.gitleaks.toml/y': '[allowlist]\n' });
    const head = await repo.commit('more', { 'b.txt': 'b\n' });
    await repo.push('main');
    for (const config of [{}, { use_repository_config: true }]) {
      const scan = await scanOf(push(repo, null, head, config));
      expect(scan.data).toMatchObject({ status: 'ok', rulesSource: 'component' });
      expect(scan.data.findings.map((f) => f.file)).toEqual(['leak.env']);
    }
  });

  it('lets repository rules add to the component rules, never silence them, and only from the default branch', async () => {
    const repo = await newProject();
    const before = await repo.commit('initial', { 'README.md': 'x\n' });
    await repo.push('main');
    await repo.git('checkout', '-q', '-b', 'feature');
    const acme = `ACME_${randomBytes(16).toString('hex')}`;
    secrets.push(acme);
    const repoRules = [
      'title = "project rules"',
      '[[rules]]',
      'id = "acme-token"',
      'description = "ACME API token"',
      "regex = '''ACME_[0-9a-f]{32}'''",
      '[allowlist]',
      "regexes = ['''AKIA[0-9A-Z]{16}''']",
      "paths = ['''leak[.]env''']",
      '',
    ].join('\n');
    const after = await repo.commit('leak, and try to silence it', {
      'leak.env': `AWS=${key()}\n`,
      'acme.txt': `${acme}\n`,
      '.gitleaks.toml': repoRules,
      '.gitleaksignore': 'leak.env:aws-access-token:1\n',
    });
    await repo.push('feature');

    // Not on the default branch: the pushed commit's rules are not the project's decision.
    const onFeature = await scanOf(push(repo, before, after, { use_repository_config: true }, 'refs/heads/feature'));
    expect(onFeature.data).toMatchObject({ status: 'ok', rulesSource: 'component' });
    expect(onFeature.data.findings.map((f) => [f.ruleId, f.file])).toEqual([['aws-access-token', 'leak.env']]);

    // On the protected default branch, the project's rules apply too: they find more, and silence nothing.
    await repo.git('checkout', '-q', 'main');
    await repo.git('merge', '-q', '--ff-only', 'feature');
    const merged = await repo.commit('after merge', { 'c.txt': 'c\n' });
    await repo.push('main');
    const onMain = await scanOf(push(repo, after, merged, { use_repository_config: true }));
    expect(onMain.data).toMatchObject({ status: 'ok', rulesSource: 'repository' });
    expect(onMain.data.findings.map((f) => [f.ruleId, f.file])).toEqual([
      ['acme-token', 'acme.txt'],
      ['aws-access-token', 'leak.env'],
    ]);

    // An event (a forged hook, a CI announcement) that claims another default branch changes nothing: the
    // default branch is GitLab's, so the same commit is judged under the same rules.
    const forged = anEventFor({
      baseUrl: gitlab.url,
      project: repo.pathWithNamespace,
      range: { kind: 'push', ref: 'refs/heads/main', before: merged, after: merged },
      config: { use_repository_config: true },
      defaultBranch: 'feature-without-rules',
    });
    await publish(forged);
    const again = await eventually(async () => (await results(forged.securityCheckId)).find((r) => r.id === deterministicId('scan.completed', forged.securityCheckId, 'gitleaks', forged.id)));
    expect(again.data).toMatchObject({ status: 'ok', rulesSource: 'repository' });
    expect(again.data.findings.map((f) => f.ruleId)).toEqual(['acme-token', 'aws-access-token']);
  });

  it('judges a push with before == after by the commit (a forged or empty push cannot pass a secret)', async () => {
    const repo = await newProject();
    await repo.commit('leak', { 'leak.env': `AWS=${key()}\n` });
    const head = await repo.commit('empty on top', { 'README.md': 'x\n' });
    await repo.push('main');

    const scan = await scanOf(push(repo, head, head));

    expect(scan.data).toMatchObject({ status: 'ok', scanned: { commits: 2 } });
    expect(scan.data.findings.map((f) => f.file)).toEqual(['leak.env']);
  });

  it("scans a merge's own changes: a secret added while resolving a conflict is found in the merge commit", async () => {
    const repo = await newProject();
    await repo.commit('base', { 'conf/app.env': 'MODE=base\n' });
    await repo.push('main');
    await repo.git('checkout', '-q', '-b', 'side');
    await repo.commit('side', { 'conf/app.env': 'MODE=side\n' });
    await repo.git('checkout', '-q', 'main');
    await repo.commit('main', { 'conf/app.env': 'MODE=main\n' });
    await repo.git('merge', '-q', 'side').catch(() => undefined);
    const merge = await repo.commit('merge side', { 'conf/app.env': `MODE=resolved\nAWS=${key()}\n`, 'evil.txt': `AWS=${key()}\n` });
    await repo.push('main');
    expect((await repo.git('rev-list', '--parents', '-n', '1', merge)).trim().split(' ')).toHaveLength(3);

    const scan = await scanOf(push(repo, null, merge));

    expect(scan.data.findings.map((f) => [f.file, f.commit, f.startLine])).toEqual([
      ['conf/app.env', merge, 2],
      ['evil.txt', merge, 1],
    ]);
  });

  it('scans an octopus merge against its first parent', async () => {
    const repo = await newProject();
    await repo.commit('base', { 'README.md': 'x\n' });
    await repo.push('main');
    for (const b of ['one', 'two']) {
      await repo.git('checkout', '-q', '-b', b, 'main');
      await repo.commit(b, { [`${b}.txt`]: `${b}\n` });
    }
    await repo.git('checkout', '-q', 'main');
    await repo.git('merge', '-q', '--no-ff', '--no-commit', 'one', 'two');
    const octopus = await repo.commit('octopus with a key', { 'octo.env': `AWS=${key()}\n` });
    await repo.push('main');
    expect((await repo.git('rev-list', '--parents', '-n', '1', octopus)).trim().split(' ')).toHaveLength(4);

    const scan = await scanOf(push(repo, null, octopus));

    expect(scan.data.findings.map((f) => [f.file, f.commit])).toEqual([['octo.env', octopus]]);
  });

  it('reports a deleted branch as ok with nothing to scan', async () => {
    const repo = await newProject();
    const head = await repo.commit('only', { 'README.md': 'x\n' });
    await repo.push('main');

    const scan = await scanOf(push(repo, head, '0'.repeat(40), {}, 'refs/heads/gone'));

    expect(scan.data).toMatchObject({ status: 'ok', findings: [], scanned: { commits: 0, description: 'deleted ref: nothing added' } });
  });

  it('skips binary files and files above max_target_megabytes but still finds the rest', async () => {
    const repo = await newProject();
    const before = await repo.commit('initial', { 'README.md': 'x\n' });
    const binary = Buffer.concat([Buffer.from([0, 1, 2, 0, 255]), Buffer.from(`AWS=${key()}\n`), Buffer.alloc(1024)]);
    const huge = 'lorem ipsum dolor sit amet\n'.repeat(80_000) + `AWS=${key()}\n`;
    const after = await repo.commit('assets', { 'img/logo.bin': binary, 'data/huge.txt': huge, 'small.env': `AWS=${key()}\n` });
    await repo.push('main');

    const scan = await scanOf(push(repo, before, after, { max_target_megabytes: 1 }));

    expect(scan.data.status).toBe('ok');
    expect(scan.data.findings.map((f) => f.file)).toContain('small.env');
    expect(scan.data.findings.map((f) => f.file)).not.toContain('img/logo.bin');
    expect(scan.data.findings.map((f) => f.file)).not.toContain('data/huge.txt');
    expect(scan.data.scanned?.bytes).toBeGreaterThan(2_000_000);
  });

  it('puts a report too large for the message in the object store', async () => {
    const repo = await newProject();
    const before = await repo.commit('initial', { 'README.md': 'x\n' });
    const files = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`leak${i}.env`, `AWS=${key()}\n`]));
    const after = await repo.commit('many leaks', files);
    await repo.push('main');

    const scan = await scanOf(push(repo, before, after));

    expect(scan.data.findings).toHaveLength(8);
    const name = `${scan.securityCheckId}/gitleaks/`;
    expect(scan.data.report).toMatchObject({ storage: 'object-store', bucket, name: expect.stringMatching(new RegExp(`^${name}[0-9a-f-]{36}[.]json$`)) as unknown });
    const stored = await (await new Objm(nats.nc).open(bucket)).getBlob(scan.data.report?.storage === 'object-store' ? scan.data.report.name : '');
    const text = new TextDecoder().decode(stored ?? new Uint8Array());
    expect(JSON.parse(text)).toHaveLength(8);
    for (const s of secrets) expect(text).not.toContain(s);
  });

  it('reports a rejected token as an error at once, without a retry storm', async () => {
    const repo = await wrongTokenGitlab.createProject('team/locked');
    const before = await repo.commit('a', { 'a.txt': 'a\n' });
    const after = await repo.commit('b', { 'b.txt': 'b\n' });
    await repo.push('main');
    const event = anEventFor({ baseUrl: wrongTokenGitlab.url, prefix: 'GIT_OTHER', project: repo.pathWithNamespace, range: { kind: 'push', ref: 'refs/heads/main', before, after } });

    const scan = await scanOf(event);

    expect(scan.data.status).toBe('error');
    expect(scan.data.reason).toMatch(/rejected the scanner's token.*auth_token in GITLAB_CONFIGS/);
    expect(scan.data.reason).not.toContain('not-the-right-token');
    expect(wrongTokenGitlab.requests.filter((r) => r.status === 401).length).toBeLessThanOrEqual(2);
  });

  it('reports a project GitLab does not know as an error at once', async () => {
    const event = anEventFor({ baseUrl: gitlab.url, project: 'nobody/nothing', range: { kind: 'push', ref: 'refs/heads/main', before: null, after: 'a'.repeat(40) } });

    const scan = await scanOf(event);

    expect(scan.data).toMatchObject({ status: 'error', reason: expect.stringMatching(/nobody\/nothing does not exist or the scanner's token cannot see it/) as unknown });
  });

  it('retries transient git failures, then succeeds', async () => {
    const repo = await newProject();
    const before = await repo.commit('a', { 'a.txt': 'a\n' });
    const after = await repo.commit('b', { 'b.env': `AWS=${key()}\n` });
    await repo.push('main');
    gitlab.failNext(503, 1);

    const scan = await scanOf(push(repo, before, after));

    expect(scan.data.status).toBe('ok');
    expect(scan.data.findings).toHaveLength(1);
    expect(logs.some((l) => l.includes('Event handling failed; will retry'))).toBe(true);
  });

  it('gives up on a failing repository after the last delivery with an actionable error', async () => {
    const repo = await newProject();
    const before = await repo.commit('a', { 'a.txt': 'a\n' });
    const after = await repo.commit('b', { 'b.txt': 'b\n' });
    await repo.push('main');
    gitlab.failNext(503, 100);

    const scan = await scanOf(push(repo, before, after));
    gitlab.failNext(503, 0);

    expect(scan.data.status).toBe('error');
    expect(scan.data.reason).toMatch(/git fetch of .* failed: .*503.*gave up after 3 attempts/);
  });

  it('reports a gitleaks timeout as an error that says what to change', async () => {
    const repo = await newProject();
    const before = await repo.commit('a', { 'a.txt': 'a\n' });
    // About 90 MB of keyword-rich lines: gitleaks needs several seconds for it even on a fast, idle machine,
    // so its 1 s timeout always fires (9 MB was sometimes scanned within the second).
    const lines = Array.from({ length: 300_000 }, (_, i) => `line ${i} token=${(i * 2654435761).toString(36)}x${i.toString(16)}`).join('\n');
    const after = await repo.commit('big', Object.fromEntries(Array.from({ length: 8 }, (_, f) => [`big${f}.txt`, `${lines}\n${f}`])));
    await repo.push('main');

    const scan = await scanOf(push(repo, before, after, { timeout_seconds: 1, max_target_megabytes: 0 }), 60_000);

    expect(scan.data.status).toBe('error');
    expect(scan.data.reason).toMatch(/gitleaks was stopped at its 1 s timeout .* Raise timeout_seconds/);
  });

  it('answers every event for a commit, and runs no gitleaks for commits already scanned under another ref', async () => {
    const repo = await newProject();
    const before = await repo.commit('a', { 'a.txt': 'a\n' });
    const after = await repo.commit('b', { 'b.env': `AWS=${key()}\n` });
    await repo.push('main');
    await repo.push('main:refs/heads/copy');
    const first = push(repo, before, after);
    const scanned = await scanOf(first);

    // The same commits pushed to another branch: another event, another result, nothing scanned again.
    const second = { ...push(repo, null, after, {}, 'refs/heads/copy'), securityCheckId: first.securityCheckId };
    await publish(second);
    const both = await eventually(async () => {
      const r = await results(first.securityCheckId);
      return r.length === 2 ? r : undefined;
    });

    const again = both.find((r) => r.id !== scanned.id);
    expect(again?.data.scanned?.commits).toBe(0);
    expect(again?.data.findings).toEqual(scanned.data.findings);
  });

  it('acks and ignores an event without a job', async () => {
    const repo = await newProject();
    const head = await repo.commit('a', { 'a.txt': 'a\n' });
    await repo.push('main');
    const event = anEventFor({ baseUrl: gitlab.url, project: repo.pathWithNamespace, range: { kind: 'push', ref: 'refs/heads/main', before: null, after: head }, jobNull: true });

    await publish(event);
    const info = await eventually(async () => {
      const c = await nats.jsm.consumers.info(nats.stream.name, 'scanner-gitleaks');
      return c.num_pending === 0 && c.num_ack_pending === 0 ? c : undefined;
    });

    expect(info.num_redelivered).toBeGreaterThanOrEqual(0);
    expect(await results(event.securityCheckId)).toEqual([]);
  });

  it("keeps no context of the matched line: another, undetected secret beside the finding never leaves the scanner", async () => {
    const repo = await newProject();
    const undetected = `Zq${randomBytes(6).toString('hex')}x`;
    await repo.commit('key with a neighbour', { 'ops.env': `AWS_ACCESS_KEY_ID=${key()} # db pw ${undetected}\n` });
    const head = await repo.commit('more', { 'a.txt': 'a\n' });
    await repo.push('main');

    // A rule whose match spans the rest of the line (secretGroup 1 is the key): gitleaks' Match holds the neighbour.
    const rules = ['[[rules]]', 'id = "aws-line"', 'description = "AWS key and its line"', "regex = '''AWS_ACCESS_KEY_ID=(AKIA[0-9A-Z]{16}).*'''", 'secretGroup = 1', ''].join('\n');
    const scan = await scanOf(push(repo, null, head, { gitleaks_config: rules }));

    expect(scan.data.findings.map((f) => f.ruleId)).toEqual(['aws-line']);
    const stream = (await readStream(nats, nats.stream)).map((m) => m.data).join('\n');
    expect(stream).not.toContain(undetected);
    expect(logs.join('')).not.toContain(undetected);
  });

  it('finds a private key added in pieces over several commits (the whole file at the head is scanned too)', async () => {
    const repo = await newProject();
    const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    secrets.push(...pem.split('\n').filter((l) => l.length > 40));
    const lines = pem.split('\n');
    const half = Math.floor(lines.length / 2);
    await repo.commit('init', { 'README.md': 'x\n' });
    await repo.commit('first half', { 'deploy/id_rsa': `${lines.slice(0, half).join('\n')}\n` });
    const completed = await repo.commit('second half', { 'deploy/id_rsa': pem });
    const head = await repo.commit('more', { 'a.txt': 'a\n' });
    await repo.push('main');

    const scan = await scanOf(push(repo, null, head));

    expect(scan.data.findings.map((f) => [f.ruleId, f.file, f.commit, f.startLine])).toEqual([['private-key', 'deploy/id_rsa', completed, 1]]);
  });

  it('leaves no secret in the stream, the logs or temp files', async () => {
    const all = (await readStream(nats, nats.stream)).map((m) => m.data).join('\n');
    const log = logs.join('');

    expect(secrets.length).toBeGreaterThan(10);
    for (const s of secrets) {
      expect(all).not.toContain(s);
      expect(log).not.toContain(s);
    }
    expect(log).not.toContain(gitlab.token);
    expect(all).not.toContain(gitlab.token);
    expect(await readdir(join(dataDir, 'tmp'))).toEqual([]);
    const mirrors = (await readdir(join(dataDir, 'mirrors'))).filter((n) => n.endsWith('.git'));
    expect(mirrors.length).toBeGreaterThan(5);
    for (const m of mirrors) expect(await readFile(join(dataDir, 'mirrors', m, 'config'), 'utf8')).not.toContain(gitlab.token);
  });
});
