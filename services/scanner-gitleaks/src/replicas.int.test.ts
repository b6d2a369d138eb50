import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventReceivedV1, ScanCompletedV1 } from '@secbot/contracts';
import { createPublisher } from '@secbot/service-kit';
import { eventually, fakeGitLabGit, git, readStream, streamEnv, testNats, type FakeGitLabGit, type TestNats } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScannerGitleaks, type RunningScanner } from './service.ts';
import { anEventFor, fakeAwsKey } from './test-support/events.ts';

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

describe('several scanners and a killed one', () => {
  let nats: TestNats;
  let gitlab: FakeGitLabGit;
  let dataDir: string;
  let env: Record<string, string>;
  const running: RunningScanner[] = [];
  const silent = { write: () => undefined };

  const publish = (event: EventReceivedV1) => createPublisher({ js: nats.js, stream: nats.stream }).publish(EventReceivedV1, event);
  const results = async (checkId: string) =>
    (await readStream(nats, nats.stream))
      .filter((m) => m.subject === ScanCompletedV1.subject(nats.stream.prefix))
      .map((m) => ScanCompletedV1.schema.parse(m.json))
      .filter((e) => e.securityCheckId === checkId);

  beforeAll(async () => {
    nats = await testNats('replicas');
    gitlab = await fakeGitLabGit();
    dataDir = await mkdtemp(join(tmpdir(), 'scanner-replicas-'));
    env = {
      ...streamEnv(nats.stream),
      GITLAB_CONFIGS: JSON.stringify([{ host: gitlab.url, webhook_secret_token: 'webhook-secret-1', auth_token: gitlab.token, prefix: 'GIT_LOCAL', insecure: true }]),
      SCANNER_DATA_DIR: dataDir,
      SCANNER_FINGERPRINT_KEY: 'test-fingerprint-key-0123456789',
      SCANNER_ACK_WAIT_SECONDS: '2',
      SCANNER_REPORT_BUCKET: `test-replicas-${Date.now()}`,
      LOG_LEVEL: 'warn',
    };
  });

  afterAll(async () => {
    for (const s of running) await s.close();
    await nats?.cleanup();
    await gitlab?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('share the work on one project without corrupting its mirror', async () => {
    running.push(await startScannerGitleaks(env, { port: 0, logDestination: silent }));
    running.push(await startScannerGitleaks(env, { port: 0, logDestination: silent }));
    const repo = await gitlab.createProject('group/shared');
    const shas = [await repo.commit('initial', { 'README.md': 'x\n' })];
    for (let i = 0; i < 6; i++) shas.push(await repo.commit(`leak ${i}`, { [`leak${i}.env`]: `AWS=${fakeAwsKey()}\n` }));
    await repo.push('main');
    const events = shas.slice(1).map((after, i) =>
      anEventFor({ baseUrl: gitlab.url, project: repo.pathWithNamespace, range: { kind: 'push', ref: 'refs/heads/main', before: shas[i] ?? null, after } }),
    );

    await Promise.all(events.map(publish));
    const scans = await Promise.all(events.map((e) => eventually(async () => (await results(e.securityCheckId))[0], 30_000)));

    // Each commit carries every key of its history, whichever replica scanned which commits first.
    expect(scans.map((s) => [s.data.status, s.data.findings.map((f) => f.file)])).toEqual(
      events.map((_, i) => ['ok', Array.from({ length: i + 1 }, (_, j) => `leak${j}.env`)]),
    );
    for (const e of events) expect(await results(e.securityCheckId)).toHaveLength(1);
    const [mirror] = (await readdir(join(dataDir, 'mirrors'))).filter((n) => n.endsWith('.git'));
    await expect(git(join(dataDir, 'mirrors', mirror ?? 'missing'), ['fsck', '--no-progress'])).resolves.toBeDefined();
    while (running.length) await running.pop()?.close();
  });

  it('completes the check once when a scanner is killed mid-scan', async () => {
    const repo = await gitlab.createProject('group/killed');
    const before = await repo.commit('initial', { 'README.md': 'x\n' });
    const lines = Array.from({ length: 40_000 }, (_, i) => `line ${i} value=${(i * 2654435761).toString(36)}`).join('\n');
    const after = await repo.commit('big with a leak', { 'big1.txt': lines, 'big2.txt': lines + '\n', 'leak.env': `AWS=${fakeAwsKey()}\n` });
    await repo.push('main');
    const event = anEventFor({ baseUrl: gitlab.url, project: repo.pathWithNamespace, range: { kind: 'push', ref: 'refs/heads/main', before, after }, config: { max_target_megabytes: 0 } });
    const main = fileURLToPath(new URL('./main.ts', import.meta.url));
    const child: ChildProcess = spawn(process.execPath, [main], {
      env: { ...process.env, ...env, SCANNER_PORT: String(await freePort()), SECBOT_ENV_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child.stdout?.resume();
    child.stderr?.resume();

    try {
      await publish(event);
      await eventually(async () => ((await readdir(join(dataDir, 'tmp')).catch(() => [])).length > 0 ? true : undefined), 20_000, 'the child to start scanning');
      process.kill(-(child.pid ?? 0), 'SIGKILL');
      expect(await results(event.securityCheckId)).toEqual([]);
      running.push(await startScannerGitleaks(env, { port: 0, logDestination: silent }));

      const scan = await eventually(async () => (await results(event.securityCheckId))[0], 40_000, 'the redelivered scan');

      expect(scan.data).toMatchObject({ status: 'ok', findings: [{ file: 'leak.env' }] });
      await new Promise((r) => setTimeout(r, 500));
      expect(await results(event.securityCheckId)).toHaveLength(1);
    } finally {
      if (child.exitCode === null && child.signalCode === null) process.kill(-(child.pid ?? 0), 'SIGKILL');
    }
  });
});
