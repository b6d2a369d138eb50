// Benchmark of scanner-gitleaks on a large repository (issue 3, "Done when"):
//   1. a 1-commit push handled end to end on a warm mirror (event.received published → scan.completed stored),
//   2. raw `gitleaks git` over the same range on a local clone,
//   3. the original product's approach: full clone over HTTP + gitleaks over the full history.
// Needs NATS on 127.0.0.1:4222 and gitleaks (scripts/install-gitleaks.sh).
// Usage: node bench/scanner.ts [--commits 20000] [--runs 5]
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EventReceivedV1, ScanCompletedV1 } from '@secbot/contracts';
import { createPublisher } from '@secbot/service-kit';
import { fakeGitLabGit, git, ISOLATED_GIT_ENV, streamEnv, testNats, type TestRepo } from '@secbot/testing';
import { createGitleaksCli, resolveGitleaksBin } from '../services/scanner-gitleaks/src/adapters/gitleaks/cli.ts';
import { DEFAULT_GITLEAKS_CONFIG } from '../services/scanner-gitleaks/src/component-config.ts';
import { startScannerGitleaks } from '../services/scanner-gitleaks/src/service.ts';
import { anEventFor, fakeAwsKey } from '../services/scanner-gitleaks/src/test-support/events.ts';

const { values } = parseArgs({ options: { commits: { type: 'string', default: '20000' }, runs: { type: 'string', default: '5' } } });
const COMMITS = Number(values.commits);
const RUNS = Number(values.runs);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const ms = (n: number) => `${Math.round(n).toLocaleString('en')} ms`;

function pipeInto(command: string, args: string[], input: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stdout.resume();
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${err.slice(-500)}`))));
    child.stdin.end(input);
  });
}

/**
 * COMMITS commits, each changing two of 500 source files by about 1.5 KB (a modest real-world commit),
 * written with git fast-import (seconds, not minutes).
 */
function fastImportStream(commits: number): string {
  const parts: string[] = [];
  const t0 = 1_700_000_000;
  const body = (i: number, f: number) =>
    Array.from({ length: 24 }, (_, l) => `export const item${f}_${l} = { id: ${i * 31 + l}, label: 'revision ${i} of module ${f}' };`).join('\n') + '\n';
  for (let i = 1; i <= commits; i++) {
    const message = `change ${i}`;
    parts.push(
      `commit refs/heads/main\nmark :${i}\nauthor Bench <bench@example.com> ${t0 + i} +0000\ncommitter Bench <bench@example.com> ${t0 + i} +0000\n`,
      `data ${Buffer.byteLength(message)}\n${message}\n`,
      i > 1 ? `from :${i - 1}\n` : '',
    );
    for (const f of [i % 500, (i * 7 + 3) % 500]) {
      const content = body(i, f);
      parts.push(`M 100644 inline src/module${f}.ts\ndata ${Buffer.byteLength(content)}\n${content}\n`);
    }
  }
  return parts.join('');
}

async function timeGitleaks(bin: string, source: string, logOpts: string | undefined, cwd: string, configPath: string): Promise<number> {
  const start = performance.now();
  const args = ['git', source, '--config', configPath, '--report-format', 'json', '--report-path', '-', '--exit-code', '42', '--no-banner', '--log-level', 'error'];
  if (logOpts) args.push(`--log-opts=${logOpts}`);
  await new Promise<void>((resolve, reject) => {
    const child = spawn(bin, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.resume();
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code) => (code === 0 || code === 42 ? resolve() : reject(new Error(`gitleaks exited ${code}`))));
  });
  return performance.now() - start;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'bench-scanner-'));
  const nats = await testNats('bench');
  const gitlab = await fakeGitLabGit();
  const gitleaks = createGitleaksCli(resolveGitleaksBin(process.env['GITLEAKS_BIN']));
  try {
    console.log(`gitleaks ${await gitleaks.version()}; generating a repository of ${COMMITS.toLocaleString('en')} commits ...`);
    const repo: TestRepo = await gitlab.createProject('bench/large');
    let t = performance.now();
    await pipeInto('git', ['-C', repo.bare, 'fast-import', '--quiet'], fastImportStream(COMMITS), ISOLATED_GIT_ENV);
    await repo.git('fetch', '-q', 'origin', 'main');
    await repo.git('reset', '-q', '--hard', 'FETCH_HEAD');
    console.log(`generated in ${ms(performance.now() - t)} (${await repo.git('rev-list', '--count', 'HEAD')} commits)`);

    const scanner = await startScannerGitleaks(
      {
        ...streamEnv(nats.stream),
        GITLAB_CONFIGS: JSON.stringify([{ host: gitlab.url, webhook_secret_token: 'bench-webhook-secret', auth_token: gitlab.token, prefix: 'GIT_LOCAL' }]),
        SCANNER_DATA_DIR: join(work, 'data'),
        SCANNER_FINGERPRINT_KEY: 'bench-fingerprint-key-0123456789',
        SCANNER_REPORT_BUCKET: `bench-${Date.now()}`,
        LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'warn',
      },
      { port: 0 },
    );
    const publisher = createPublisher({ js: nats.js, stream: nats.stream });
    const done = new Map<string, () => void>();
    const sub = nats.nc.subscribe(ScanCompletedV1.subject(nats.stream.prefix), {
      callback: (_err, msg) => {
        const e = ScanCompletedV1.schema.parse(msg.json());
        done.get(e.securityCheckId)?.();
      },
    });

    /** One commit with a fake key, pushed; returns [before, after]. */
    const pushOne = async (i: number): Promise<[string, string]> => {
      const before = await repo.sha();
      const after = await repo.commit(`bench push ${i}`, { [`config/bench-${i}.env`]: `AWS_ACCESS_KEY_ID=${fakeAwsKey()}\n` });
      await repo.push('main');
      return [before, after];
    };
    const handle = async (before: string, after: string): Promise<number> => {
      const event = anEventFor({ baseUrl: gitlab.url, project: repo.pathWithNamespace, range: { kind: 'push', ref: 'refs/heads/main', before, after } });
      const finished = new Promise<void>((resolve) => done.set(event.securityCheckId, resolve));
      const start = performance.now();
      await publisher.publish(EventReceivedV1, event);
      await finished;
      return performance.now() - start;
    };

    const [b0, a0] = await pushOne(0);
    const cold = await handle(b0, a0);
    console.log(`cold mirror (first event clones the repository): ${ms(cold)}`);

    const warm: number[] = [];
    const raw: number[] = [];
    const clone = join(work, 'local-clone.git');
    const cwd = join(work, 'cwd');
    await mkdir(cwd);
    const configPath = join(work, 'rules.toml');
    await writeFile(configPath, DEFAULT_GITLEAKS_CONFIG);
    for (let i = 1; i <= RUNS; i++) {
      const [before, after] = await pushOne(i);
      warm.push(await handle(before, after));
      await rm(clone, { recursive: true, force: true });
      await git(work, ['clone', '-q', '--mirror', repo.bare, clone]);
      raw.push(await timeGitleaks(gitleaks.bin, clone, `${before}..${after}`, cwd, configPath));
    }

    t = performance.now();
    const full = join(work, 'full-clone');
    await pipeInto('git', ['clone', '-q', '--bare', `${gitlab.url}${repo.pathWithNamespace}.git`, full], '', {
      ...ISOLATED_GIT_ENV,
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.extraHeader',
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from(`oauth2:${gitlab.token}`).toString('base64')}`,
    });
    const cloneMs = performance.now() - t;
    const scanMs = await timeGitleaks(gitleaks.bin, full, undefined, cwd, configPath);
    const fullMs = cloneMs + scanMs;

    sub.unsubscribe();
    await scanner.close();

    const w = median(warm);
    const r = median(raw);
    console.log('');
    console.log(`repository: ${COMMITS.toLocaleString('en')} commits; ${RUNS} runs of a 1-commit push (medians)`);
    console.log(`  warm-mirror push, end to end (event.received → scan.completed): ${ms(w)}   [runs: ${warm.map((x) => Math.round(x)).join(', ')}]`);
    console.log(`  raw gitleaks git over the same range on a local clone:          ${ms(r)}   [runs: ${raw.map((x) => Math.round(x)).join(', ')}]`);
    console.log(`  full clone + full-history scan (original approach):             ${ms(fullMs)}   (clone ${ms(cloneMs)} + scan ${ms(scanMs)})`);
    console.log('');
    const t1 = w < 2 * r + 300;
    const t2 = fullMs / w >= 20;
    console.log(`  target: warm push < 2 × raw + 300 ms (${ms(2 * r + 300)}): ${t1 ? 'PASS' : 'FAIL'}`);
    console.log(`  target: ≥ 20× faster than full clone + full history (${(fullMs / w).toFixed(1)}×): ${t2 ? 'PASS' : 'FAIL'}`);
    process.exitCode = t1 && t2 ? 0 : 1;
  } finally {
    await gitlab.close();
    await nats.cleanup();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
