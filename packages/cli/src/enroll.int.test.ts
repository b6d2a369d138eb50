import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventReceivedV1, ProjectEnrolledV1, ScanCompletedV1 } from '@secbot/contracts';
import { decideBuiltin } from '@secbot/output-builtin';
import { startScannerGitleaks, type RunningScanner } from '@secbot/scanner-gitleaks';
import { createPublisher } from '@secbot/service-kit';
import { eventually, fakeGitLabGit, readStream, streamEnv, testNats, type FakeGitLabGit, type TestNats, type TestRepo } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anEventFor, fakeAwsKey } from '../../../services/scanner-gitleaks/src/test-support/events.ts';

const cli = new URL('./main.ts', import.meta.url).pathname;

describe('secbot enroll with real NATS, a real scanner-gitleaks and a fake GitLab', () => {
  let nats: TestNats;
  let gitlab: FakeGitLabGit;
  let scanner: RunningScanner;
  let dataDir: string;
  let cliEnv: Record<string, string>;
  const logs: string[] = [];
  const secrets: string[] = [];
  const id = randomBytes(4).toString('hex');
  const projectsBucket = `test-projects-${id}`;
  const reportBucket = `test-reports-${id}`;
  let host: string;

  const key = () => {
    const k = fakeAwsKey();
    secrets.push(k);
    return k;
  };
  const newProject = () => gitlab.createProject(`enroll-${id}-${randomBytes(3).toString('hex')}/app`);

  const secbot = (args: string[], extra: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> =>
    new Promise((resolve) => {
      const p = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env['PATH'], ...cliEnv, ...extra } });
      let out = '';
      let err = '';
      p.stdout.on('data', (b: Buffer) => (out += b.toString()));
      p.stderr.on('data', (b: Buffer) => (err += b.toString()));
      // Never outlive the test (the int tests' timeout is 60 s), whatever the command waits for.
      const guard = setTimeout(() => p.kill(), 55_000);
      p.on('exit', (code) => {
        clearTimeout(guard);
        resolve({ code, out, err });
      });
    });
  const enroll = (repo: TestRepo, ...extra: string[]) => secbot(['enroll', '--host', host, '--project', repo.pathWithNamespace, '--accept-history', '--timeout', '60', ...extra]);

  const scanOf = async (event: EventReceivedV1): Promise<ScanCompletedV1> => {
    await createPublisher({ js: nats.js, stream: nats.stream }).publish(EventReceivedV1, event);
    return eventually(
      async () =>
        (await readStream(nats, nats.stream))
          .filter((m) => m.subject === ScanCompletedV1.subject(nats.stream.prefix))
          .map((m) => ScanCompletedV1.schema.parse(m.json))
          .find((e) => e.securityCheckId === event.securityCheckId),
      30_000,
      'scan.completed',
    );
  };
  // The plan intake puts in each event: config.yml's gitleaks component, which the enrollment uses too.
  const push = (repo: TestRepo, before: string | null, after: string, branch = 'main') =>
    anEventFor({ baseUrl: gitlab.url, project: repo.pathWithNamespace, range: { kind: 'push', ref: `refs/heads/${branch}`, before, after }, config: { use_repository_config: true } });
  /** What the built-in output would block for this scan. */
  const blocking = (scan: ScanCompletedV1) => decideBuiltin(scan, new Date(), 1).flatMap((o) => o.data.blocking.map((f) => f.file));

  beforeAll(async () => {
    nats = await testNats('enroll');
    gitlab = await fakeGitLabGit();
    host = new URL(gitlab.url).hostname;
    dataDir = await mkdtemp(join(tmpdir(), 'enroll-scanner-'));
    const config = join(dataDir, 'config.yml');
    await writeFile(
      config,
      [
        'version: "1.0"',
        'components:',
        '  gitleaks: { handler_name: gitleaks, config: { use_repository_config: true } }',
        '  builtin: { handler_name: builtin }',
        'jobs:',
        '  - name: Secrets in every change',
        '    rules: { gitlab: { event_type: "push|tag_push|merge_request" } }',
        '    scans: [gitleaks]',
        '    outputs: [builtin]',
        '',
      ].join('\n'),
    );
    scanner = await startScannerGitleaks(
      {
        ...streamEnv(nats.stream),
        GITLAB_CONFIGS: JSON.stringify([{ host: gitlab.url, webhook_secret_token: 'webhook-secret-1', auth_token: gitlab.token, prefix: 'GIT_LOCAL', insecure: true }]),
        SECBOT_CONFIG: config,
        SCANNER_DATA_DIR: join(dataDir, 'data'),
        SCANNER_FINGERPRINT_KEY: 'test-fingerprint-key-0123456789',
        SCANNER_REPORT_BUCKET: reportBucket,
        SCANNER_PROJECTS_BUCKET: projectsBucket,
        // nats-server 2.9 ignores a termination that carries a reason (`+TERM <reason>`): a refused event is
        // then given up on only after max_deliver × ack_wait. Short here, so that case is seen quickly too.
        SCANNER_MAX_DELIVER: '2',
        SCANNER_ACK_WAIT_SECONDS: '3',
        LOG_LEVEL: 'info',
      },
      { port: 0, logDestination: { write: (line: string) => void logs.push(line) }, backoffMs: () => 200 },
    );
    // SECBOT_ENV_DIR points at an empty folder: the CLI sees only this environment, not the repo's .env.dev.
    cliEnv = { ...streamEnv(nats.stream), SECBOT_ENV_DIR: await mkdtemp(join(tmpdir(), 'enroll-env-')), SCANNER_PROJECTS_BUCKET: projectsBucket, SECBOT_ACTOR: 'alice' };
  });

  afterAll(async () => {
    await scanner?.close();
    // The buckets are streams: KV_<bucket> and OBJ_<bucket>.
    for (const s of [`KV_${projectsBucket}`, `OBJ_${reportBucket}`]) await nats.jsm.streams.delete(s).catch(() => undefined);
    await nats?.cleanup();
    await gitlab?.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(cliEnv['SECBOT_ENV_DIR'] ?? '', { recursive: true, force: true });
    // No secret in any log line of the scanner.
    for (const s of secrets) expect(logs.join('')).not.toContain(s);
  });

  it("accepts the default branch's history: the old key is reported as baseline and does not block; a key committed afterwards blocks", async () => {
    const repo = await newProject();
    await repo.commit('initial', { 'README.md': 'hello\n' });
    const leak = await repo.commit('old leak', { 'deploy/old.env': `AWS_ACCESS_KEY_ID=${key()}\n` });
    await repo.commit('remove it', { 'deploy/old.env': '# moved to the vault\n' });
    const head = await repo.commit('more work', { 'src/app.ts': 'export const x = 1;\n' });
    await repo.push('main');

    const { code, out, err } = await enroll(repo, '--reason', 'adopting SecBot');

    expect(code, err).toBe(0);
    expect(out).toContain(`Enrolled ${repo.pathWithNamespace} on ${host}`);
    expect(out).toMatch(new RegExp(`^  main  ${head}$`, 'm'));
    expect(out).toContain('Baseline findings in the project record: 1 (reported, never blocking).');
    expect(out).toContain('Other recorded findings: 0');
    for (const s of secrets) expect(out + err).not.toContain(s);
    // The event is the audit record: who, why, which branches (none named: the default branch).
    const enrolled = (await readStream(nats, nats.stream)).filter((m) => m.subject === ProjectEnrolledV1.subject(nats.stream.prefix)).map((m) => ProjectEnrolledV1.schema.parse(m.json));
    const mine = enrolled.find((e) => e.data.projectPath === repo.pathWithNamespace);
    expect(mine).toMatchObject({ source: 'cli', correlationId: `cli:enroll:${mine?.id}`, data: { instanceHost: host, acceptHistory: true, branches: [], actor: 'alice', reason: 'adopting SecBot' } });
    expect(out).toContain(`Enrollment ${mine?.id} by alice`);

    // A new commit on top of main: it carries the old key, which is baseline.
    const next = await repo.commit('feature', { 'src/feature.ts': 'export const y = 2;\n' });
    await repo.push('main');
    const scan = await scanOf(push(repo, head, next));
    expect(scan.data.status).toBe('ok');
    expect(scan.data.findings.map((f) => [f.file, f.commit, f.baseline])).toEqual([['deploy/old.env', leak, true]]);
    expect(blocking(scan)).toEqual([]);

    // A key committed after the enrollment is not baseline: it blocks (the old one still does not).
    const fresh = await repo.commit('new leak', { 'deploy/new.env': `AWS_ACCESS_KEY_ID=${key()}\n` });
    await repo.push('main');
    const after = await scanOf(push(repo, next, fresh));
    expect(after.data.findings.map((f) => [f.file, f.commit, f.baseline ?? false])).toEqual([
      ['deploy/new.env', fresh, false],
      ['deploy/old.env', leak, true],
    ]);
    expect(blocking(after)).toEqual(['deploy/new.env']);
  });

  it('keeps blocking a secret SecBot had reported before the enrollment', async () => {
    const repo = await newProject();
    const leak = await repo.commit('leak', { 'config/deploy.env': `AWS_ACCESS_KEY_ID=${key()}\n` });
    await repo.push('main');
    const before = await scanOf(push(repo, null, leak));
    expect(before.data.findings.map((f) => [f.file, f.baseline ?? false])).toEqual([['config/deploy.env', false]]);

    const { code, out, err } = await enroll(repo, '--branch', 'main');

    expect(code, err).toBe(0);
    expect(out).toMatch(new RegExp(`^  main  ${leak}$`, 'm'));
    expect(out).toContain('Baseline findings in the project record: 0');
    expect(out).toContain('Other recorded findings: 1 (they still block');
    const next = await repo.commit('unrelated', { 'README.md': 'x\n' });
    await repo.push('main');
    const scan = await scanOf(push(repo, leak, next));
    expect(scan.data.findings.map((f) => [f.file, f.commit, f.baseline ?? false])).toEqual([['config/deploy.env', leak, false]]);
    expect(blocking(scan)).toEqual(['config/deploy.env']);
  });

  it("takes the baseline of a named branch with the default branch's rules, as every scan does, never the branch's own", async () => {
    const repo = await newProject();
    const leak = await repo.commit('leak', { 'deploy/old.env': `AWS_ACCESS_KEY_ID=${key()}\n` });
    await repo.push('main');
    await repo.git('checkout', '-q', '-b', 'release');
    // Rules on an unprotected branch that would hide the key from a baseline taken with them.
    const head = await repo.commit('own rules', { '.gitleaks.toml': "[extend]\nuseDefault = true\n[allowlist]\npaths = ['''deploy/.*''']\n" });
    await repo.push('release');

    const { code, out, err } = await enroll(repo, '--branch', 'release');

    expect(code, err).toBe(0);
    expect(out).toMatch(new RegExp(`^  release  ${head}$`, 'm'));
    expect(out).toContain('Baseline findings in the project record: 1');
    const next = await repo.commit('work', { 'src/a.ts': 'export const a = 1;\n' });
    await repo.push('release');
    const scan = await scanOf(push(repo, head, next, 'release'));
    expect(scan.data.rulesSource).toBe('component');
    expect(scan.data.findings.map((f) => [f.file, f.commit, f.baseline ?? false])).toEqual([['deploy/old.env', leak, true]]);
    expect(blocking(scan)).toEqual([]);
    // Same rules, same scan scope: the history the enrollment scanned is not scanned again.
    expect(scan.data.scanned?.commits).toBe(1);
  });

  it('refuses without --accept-history, and says why (exit 2)', async () => {
    const { code, out, err } = await secbot(['enroll', '--host', host, '--project', 'group/app']);

    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain('--accept-history is required: it is the explicit acknowledgement that every secret already in the history');
    expect(err).toContain('will never block');
  });

  it('reports that the scanner refused an enrollment for a host it does not know, before the timeout (exit 1)', async () => {
    const { code, out, err } = await secbot(['enroll', '--host', 'gitlab.unknown.example', '--project', 'group/app', '--accept-history', '--timeout', '45']);

    expect(code).toBe(1);
    expect(out).toBe('');
    const id = /enrollment ([0-9a-f-]{36}) of group\/app on gitlab\.unknown\.example.* without recording it/.exec(err)?.[1];
    expect(err).toMatch(/^scanner-gitleaks gave up on enrollment /m);
    expect(err).toContain(`Its log says why: look for enrollment ${id}`);
    expect(err).not.toContain('Timed out');
    expect(logs.join('')).toContain('Enrollment of group/app refused: No GitLab instance with host gitlab.unknown.example');
  });

  it('times out with a clear message when no scanner takes the enrollment (exit 1)', async () => {
    const idle = await testNats('enrollidle');
    try {
      const { code, out, err } = await secbot(['enroll', '--host', host, '--project', 'group/app', '--accept-history', '--timeout', '2'], streamEnv(idle.stream));

      expect(code).toBe(1);
      expect(out).toBe('');
      expect(err).toMatch(/Timed out after 2 s: the project record of group\/app on \S+ does not hold enrollment [0-9a-f-]{36} yet/);
      expect(err).toContain(`No scanner-gitleaks has ever taken enrollments from stream ${idle.stream.name}`);
      expect(err).toContain('The enrollment is not cancelled');
    } finally {
      await idle.cleanup();
    }
  });

  it('publishes and returns at once with --no-wait', async () => {
    const idle = await testNats('enrollnowait');
    try {
      const { code, out, err } = await secbot(['enroll', '--host', host, '--project', 'group/app', '--accept-history', '--no-wait', '--branch', 'main', '--branch', 'release'], streamEnv(idle.stream));

      expect(code, err).toBe(0);
      expect(out).toMatch(/^Published enrollment [0-9a-f-]{36} of group\/app on \S+ \(stream TEST_\w+, sequence 1\)/);
      const [event] = (await readStream(idle, idle.stream)).map((m) => ProjectEnrolledV1.schema.parse(m.json));
      expect(event?.data.branches).toEqual(['main', 'release']);
    } finally {
      await idle.cleanup();
    }
  });
});
