import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Objm } from '@nats-io/obj';
import { EventReceivedV1, ScanCompletedV1, type ChangeRange } from '@secbot/contracts';
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
          { host: gitlab.url, webhook_secret_token: 'webhook-secret-1', auth_token: gitlab.token, prefix: 'GIT_LOCAL' },
          { host: wrongTokenGitlab.url, webhook_secret_token: 'webhook-secret-2', auth_token: 'not-the-right-token', prefix: 'GIT_OTHER' },
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

  it('finds a secret added by the pushed commit, with a commit-independent fingerprint', async () => {
    const repo = await newProject();
    const before = await repo.commit('initial', { 'README.md': 'hello\n' });
    const secret = key();
    const after = await repo.commit('add deploy config', { 'config/deploy.env': `AWS_ACCESS_KEY_ID=${secret}\n` });
    await repo.push('main');

    const scan = await scanOf(push(repo, before, after));

    expect(scan.data).toMatchObject({ status: 'ok', scan: 'gitleaks', handler: 'gitleaks', commit: after, rulesSource: 'component' });
    expect(scan.data.tool).toEqual({ name: 'gitleaks', version: 'v8.30.1' });
    expect(scan.data.scanned).toMatchObject({ commits: 1, description: `${before.slice(0, 7)}..${after.slice(0, 7)}` });
    expect(scan.data.findings).toHaveLength(1);
    expect(scan.data.findings[0]).toMatchObject({ ruleId: 'aws-access-token', file: 'config/deploy.env', startLine: 1, commit: after });
    expect(scan.data.findings[0]?.fingerprint).toMatch(/^aws-access-token:[0-9a-f]{32}$/);
    expect(scan.data.report).toMatchObject({ storage: 'inline', format: 'gitleaks-json' });
    expect(scan.id).toBe((await import('@secbot/contracts')).deterministicId('scan.completed', scan.securityCheckId, 'gitleaks'));

    // The same secret committed again elsewhere (a rebase, a squash) gets the same fingerprint.
    const again = await repo.commit('move it', { 'other/place.env': `KEY=${secret}\n`, 'config/deploy.env': 'AWS_ACCESS_KEY_ID=\n' });
    await repo.push('main');
    const second = await scanOf(push(repo, after, again));
    expect(second.data.findings.map((f) => f.fingerprint)).toEqual([scan.data.findings[0]?.fingerprint]);
  });

  it('does not report secrets that are only in older history', async () => {
    const repo = await newProject();
    await repo.commit('old leak', { 'old.env': `AWS=${key()}\n` });
    const before = await repo.commit('unrelated', { 'README.md': 'x\n' });
    const after = await repo.commit('clean change', { 'src/app.ts': 'export const x = 1;\n' });
    await repo.push('main');

    const scan = await scanOf(push(repo, before, after));

    expect(scan.data).toMatchObject({ status: 'ok', findings: [], scanned: { commits: 1 } });
    expect(scan.data.report).toEqual({ storage: 'inline', format: 'gitleaks-json', content: '[]' });
  });

  it('scans only the commits of a new branch that are not on the default branch', async () => {
    const repo = await newProject();
    await repo.commit('old leak on main', { 'old.env': `AWS=${key()}\n` });
    await repo.push('main');
    await repo.git('checkout', '-q', '-b', 'feature');
    await repo.commit('feature work', { 'a.txt': 'a\n' });
    const after = await repo.commit('feature leak', { 'feature.env': `AWS=${key()}\n` });
    await repo.push('feature');

    const scan = await scanOf(push(repo, null, after, {}, 'refs/heads/feature'));

    expect(scan.data.status).toBe('ok');
    expect(scan.data.scanned?.commits).toBe(2);
    expect(scan.data.scanned?.description).toMatch(/new branch/);
    expect(scan.data.findings.map((f) => f.file)).toEqual(['feature.env']);
  });

  it('scans what a force-push adds when before is not an ancestor of after', async () => {
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

  it('falls back to new-branch rules when before is gone from GitLab (force-push, cold mirror)', async () => {
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
    expect(scan.data.scanned?.description).toMatch(/unknown \(force-push\?\)/);
    expect(scan.data.findings.map((f) => f.file)).toEqual(['feature.env']);
  });

  it('scans the commits of a merge request from the target branch to its last commit', async () => {
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
    expect(scan.data.findings.map((f) => f.file)).toEqual(['mr.env']);
    expect(scan.data.scanned?.description).toMatch(/^MR !7/);
  });

  it('scans the whole tree at the tagged commit by default, ignoring the repository .gitleaksignore', async () => {
    const repo = await newProject();
    await repo.commit('leak', { 'deep/dir/leak.env': `AWS=${key()}\n` });
    // A repository could try to mute the gate: a global fingerprint for the file, and export-ignore.
    const commit = await repo.commit('mute', { '.gitleaksignore': 'deep/dir/leak.env:aws-access-token:1\n', '.gitattributes': 'deep/** export-ignore\n' });
    await repo.git('tag', 'v1.0.0');
    await repo.push('main', 'refs/tags/v1.0.0');
    const range: ChangeRange = { kind: 'tag', ref: 'refs/tags/v1.0.0', tag: 'v1.0.0', commit, tagObject: commit };

    const scan = await scanOf(anEventFor({ baseUrl: gitlab.url, project: repo.pathWithNamespace, range }));

    expect(scan.data).toMatchObject({ status: 'ok', rulesSource: 'component', scanned: { commits: 1, description: `tree at ${commit.slice(0, 7)}` } });
    expect(scan.data.findings).toMatchObject([{ file: 'deep/dir/leak.env', commit, startLine: 1 }]);
    expect(scan.data.findings[0]?.links['file']).toBe(`${gitlab.url}${repo.pathWithNamespace}/-/blob/${commit}/deep/dir/leak.env#L1`);
  });

  it('honours the repository .gitleaksignore only when the component says so, and says so', async () => {
    const repo = await newProject();
    const before = await repo.commit('initial', { 'README.md': 'x\n' });
    const after = await repo.commit('leak and ignore it', { 'leak.env': `AWS=${key()}\n`, '.gitleaksignore': 'leak.env:aws-access-token:1\n' });
    await repo.push('main');

    const scan = await scanOf(push(repo, before, after, { use_repository_config: true }));

    expect(scan.data).toMatchObject({ status: 'ok', rulesSource: 'repository', findings: [] });
  });

  it('reports an empty range as ok with nothing scanned', async () => {
    const repo = await newProject();
    const head = await repo.commit('only', { 'README.md': 'x\n' });
    await repo.push('main');

    const scan = await scanOf(push(repo, head, head));

    expect(scan.data).toMatchObject({ status: 'ok', findings: [], scanned: { commits: 0, bytes: 0 } });
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
    expect(scan.data.report).toMatchObject({ storage: 'object-store', bucket, name: `${scan.securityCheckId}/gitleaks.json` });
    const stored = await (await new Objm(nats.nc).open(bucket)).getBlob(`${scan.securityCheckId}/gitleaks.json`);
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

  it('publishes one result when the same check is scanned twice', async () => {
    const repo = await newProject();
    const before = await repo.commit('a', { 'a.txt': 'a\n' });
    const after = await repo.commit('b', { 'b.env': `AWS=${key()}\n` });
    await repo.push('main');
    const first = push(repo, before, after);
    await scanOf(first);

    const second = { ...first, id: (await import('node:crypto')).randomUUID() };
    await publish(second);
    const marker = push(repo, after, after);
    await scanOf(marker);

    expect(await results(first.securityCheckId)).toHaveLength(1);
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
