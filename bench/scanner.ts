// Benchmark of scanner-gitleaks' history engine on a large repository ("fast stays fast"):
//   setup  N commits on main with 100 planted fake keys (100 open findings after the first evaluation),
//          5,000 scanned tips (main, old-base and 4,998 branches of one commit each; the record's maximum), and a
//          branch from an old base (commit N/10);
//   (a)    a 1-commit push on main, through scanComponent (fetch + evaluation, real gitleaks, warm mirror),
//   (b)    a 1-commit push on the old-base branch, the same way,
//   (c)    the floor: raw gitleaks on exactly that one commit (`<sha>^!`) in the same mirror, same flags/rules,
//   (d)    a push of commits already scanned under another ref: no gitleaks run at all, and its latency,
//   (e)    the ancestry question: one `for-each-ref --merged` over the 100 finding refs, with and without
//          the mirror's commit-graph (in a copy without it); (e') the same over the 5,000 scanned-tip refs.
// Then where the time of (a) goes: fetch, gitleaks, project record, and one extra push with every git call
// traced (a `git` shim first on PATH) and the JS profiled (the V8 sampler `node --cpu-prof` uses).
// Target (issue): (a), (b) p50 ≤ 2 × floor p50 + 300 ms; (d) runs gitleaks 0 times. Exits 0 on a MISS too
// (a broken setup, e.g. a finding not found, throws). About 3 minutes with the defaults on 2 cores.
// Needs NATS on 127.0.0.1:4222 (project records in a real JetStream KV bucket) and gitleaks
// (scripts/install-gitleaks.sh).
// Usage: node bench/scanner.ts [--commits 20000] [--runs 20] [--tips 5000] [--evaluated-tips 100]
//                              [--records kv|memory] [--seed 1] [--profile] [--keep] [--pack-refs]
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import type { EventReceivedV1, PlannedComponent } from '@secbot/contracts';
import { createLogger } from '@secbot/service-kit';
import { fakeGitLabGit, git, ISOLATED_GIT_ENV, testNats } from '@secbot/testing';
import { createGitleaksCli, resolveGitleaksBin, type GitleaksCli } from '../services/scanner-gitleaks/src/adapters/gitleaks/cli.ts';
import { DEFAULT_GITLEAKS_CONFIG } from '../services/scanner-gitleaks/src/component-config.ts';
import { createMirrors, type Mirror, type Mirrors, type Remote } from '../services/scanner-gitleaks/src/adapters/git/mirror.ts';
import { kvProjectRecords } from '../services/scanner-gitleaks/src/adapters/nats-kv/project-records.ts';
import { evaluateCommit, type Detector } from '../services/scanner-gitleaks/src/evaluate.ts';
import { findingsPrefix, MAX_TIPS, scannedPrefix } from '../services/scanner-gitleaks/src/project-record.ts';
import { memoryProjectRecords, type ProjectRecords } from '../services/scanner-gitleaks/src/project-records.ts';
import { scanComponent, type ScanDeps, type ScanOutcome } from '../services/scanner-gitleaks/src/scan-component.ts';
import { anEventFor, fakeAwsKey } from '../services/scanner-gitleaks/src/test-support/events.ts';

const DEFAULT_COMMITS = 20_000;
const { values } = parseArgs({
  options: {
    commits: { type: 'string', default: String(DEFAULT_COMMITS) },
    runs: { type: 'string', default: '20' },
    tips: { type: 'string', default: '5000' },
    keys: { type: 'string', default: '100' },
    'evaluated-tips': { type: 'string', default: '100' },
    records: { type: 'string', default: 'kv' },
    seed: { type: 'string', default: '1' },
    profile: { type: 'boolean', default: false },
    /** Keep the mirror (and the rest of the work directory) for a look afterwards. */
    keep: { type: 'boolean', default: false },
    /** What-if, not what the engine does: pack the mirror's refs (git pack-refs --all) after the setup. */
    'pack-refs': { type: 'boolean', default: false },
    /** Internal: generate the repository into this bare repository and exit (run in a child process). */
    'generate-into': { type: 'string' },
  },
});
const COMMITS = Number(values.commits);
const RUNS = Number(values.runs);
/** Scanned tips in all: main, old-base and TIPS - 2 one-commit branches (the record keeps at most MAX_TIPS). */
const TIPS = Number(values.tips);
const BRANCHES = TIPS - 2;
const KEYS = Number(values.keys);
const EVALUATED_TIPS = Math.min(Number(values['evaluated-tips']), BRANCHES);
const OLD_BASE = Math.max(1, Math.floor(COMMITS / 10));
const COMPONENT = 'gitleaks';
const PROJECT = 'bench/large';
const ZERO = '0'.repeat(40);
if (values.records !== 'kv' && values.records !== 'memory') throw new Error('--records is kv or memory');
if (KEYS > COMMITS) throw new Error('--keys must not exceed --commits');
if (TIPS < 3 || TIPS > MAX_TIPS) throw new Error(`--tips is between 3 and ${MAX_TIPS} (the engine keeps at most ${MAX_TIPS} tips per scope in a project record)`);

// ---------------------------------------------------------------------------------------------- helpers

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
};
const p50 = (xs: number[]) => quantile(xs, 0.5);
const p90 = (xs: number[]) => quantile(xs, 0.9);
const ms = (n: number) => (Number.isFinite(n) ? `${n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString('en')} ms` : 'n/a');
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const say = (s: string) => console.log(s);
const rss = () => `${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`;

/** A small seeded PRNG (mulberry32): the same --seed plants the keys in the same commits. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs `command`, writing `input` (a string, or chunks written as the child reads them) to its stdin. */
function pipeInto(command: string, args: string[], input: string | Iterable<string>, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stdout.resume();
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${err.slice(-500)}`))));
    child.stdin.on('error', () => undefined);
    if (typeof input === 'string') child.stdin.end(input);
    else pipeline(Readable.from(input), child.stdin).catch(() => undefined);
  });
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await fn();
  return [value, performance.now() - start];
}

// ------------------------------------------------------------------------------------ the repository

/** A modest real-world change: one source file of about 1.5 KB rewritten (two per commit below). */
const moduleBody = (i: number, f: number) =>
  Array.from({ length: 24 }, (_, l) => `export const item${f}_${l} = { id: ${i * 31 + l}, label: 'revision ${i} of module ${f}' };`).join('\n') + '\n';
const data = (s: string) => `data ${Buffer.byteLength(s)}\n${s}\n`;
const T0 = 1_700_000_000;
const header = (ref: string, mark: number | null, time: number, message: string) =>
  `commit ${ref}\n${mark === null ? '' : `mark :${mark}\n`}author Bench <bench@example.com> ${time} +0000\ncommitter Bench <bench@example.com> ${time} +0000\n${data(message)}`;

interface Layout {
  /** Commit index (1-based, on main) → the planted key's file. */
  planted: Map<number, string>;
  /** Commit index each bench branch forks from. */
  forks: number[];
}

/**
 * main: COMMITS commits, each changing two of 500 source files; KEYS of them (seeded random) also add
 * `config/leak-<n>.env` with a fake AWS key. `old-base`: one commit on top of main's commit N/10.
 * `bench/tip-<j>`: TIPS - 2 branches of one commit each, forked from random commits of main. All written with
 * git fast-import into the fake GitLab's repository (seconds, not minutes).
 */
function* fastImportStream(layout: Layout): Generator<string> {
  for (let i = 1; i <= COMMITS; i++) {
    const parts = [header('refs/heads/main', i, T0 + i, `change ${i}`), i > 1 ? `from :${i - 1}\n` : ''];
    for (const f of [i % 500, (i * 7 + 3) % 500]) parts.push(`M 100644 inline src/module${f}.ts\n${data(moduleBody(i, f))}`);
    const leak = layout.planted.get(i);
    if (leak) parts.push(`M 100644 inline ${leak}\n${data(`AWS_ACCESS_KEY_ID=${fakeAwsKey()}\n`)}`);
    yield parts.join('');
  }
  yield header('refs/heads/old-base', null, T0 + COMMITS + 1, 'old-base: start') + `from :${OLD_BASE}\n` + `M 100644 inline src/old-base.ts\n${data(moduleBody(0, 9999))}`;
  for (const [j, fork] of layout.forks.entries())
    yield header(`refs/heads/bench/tip-${j}`, null, T0 + COMMITS + 2 + j, `tip ${j}`) + `from :${fork}\n` + `M 100644 inline branches/tip-${j}.ts\n${data(moduleBody(j, 10_000 + j))}`;
}

/** Where the keys go and where the branches fork, from --seed (the parent and the generating child agree). */
function layoutOf(seed: number): { rand: () => number; layout: Layout } {
  const rand = prng(seed);
  const planted = new Map<number, string>();
  while (planted.size < KEYS) {
    const i = 1 + Math.floor(rand() * COMMITS);
    if (!planted.has(i)) planted.set(i, `config/leak-${planted.size}.env`);
  }
  const forks = Array.from({ length: BRANCHES }, () => 1 + Math.floor(rand() * COMMITS));
  return { rand, layout: { planted, forks } };
}

// ---------------------------------------------------------------------------- instrumented dependencies

interface Meter {
  gitleaksRuns: number;
  gitleaksMs: number;
  prepareMs: number;
  recordsMs: number;
}
const newMeter = (): Meter => ({ gitleaksRuns: 0, gitleaksMs: 0, prepareMs: 0, recordsMs: 0 });

/** The production adapters, each wrapped to count and time its calls (a few µs of overhead). */
function metered(m: { current: Meter }, gitleaks: GitleaksCli, mirrors: Mirrors, records: ProjectRecords) {
  const time = async <T>(key: 'gitleaksMs' | 'prepareMs' | 'recordsMs', fn: () => Promise<T>): Promise<T> => {
    const [value, took] = await timed(fn);
    m.current[key] += took;
    return value;
  };
  return {
    gitleaks: {
      bin: gitleaks.bin,
      version: () => gitleaks.version(),
      scan: (s) => {
        m.current.gitleaksRuns++;
        return time('gitleaksMs', () => gitleaks.scan(s));
      },
    } satisfies GitleaksCli,
    mirrors: {
      prepare: (remote, request) => time('prepareMs', () => mirrors.prepare(remote, request)),
      defaultBranch: (remote) => mirrors.defaultBranch(remote),
    } satisfies Mirrors,
    records: {
      get: (h, p) => time('recordsMs', () => records.get(h, p)),
      update: (h, p, change) => time('recordsMs', () => records.update(h, p, change)),
      list: () => records.list(),
      getMarker: (n) => records.getMarker(n),
      setMarker: (n, v) => records.setMarker(n, v),
    } satisfies ProjectRecords,
  };
}

/**
 * A `git` first on PATH that logs each call's duration and arguments, then runs the real git. The mirror's
 * and gitleaks' children inherit PATH (and only a few other variables), so one traced evaluation shows which
 * git calls its time goes to. Adds a bash start (a few ms) per call: used for one extra run only.
 */
async function gitTracer(dir: string): Promise<{ enable(): void; disable(): void; calls(): Promise<Array<{ ms: number; args: string }>> }> {
  const realGit = (process.env['PATH'] ?? '').split(':').map((d) => join(d, 'git')).find((f) => existsSync(f));
  if (!realGit) throw new Error('git is not on PATH');
  const log = join(dir, 'git-trace.log');
  await mkdir(join(dir, 'bin'), { recursive: true });
  const shim = join(dir, 'bin', 'git');
  await writeFile(
    shim,
    `#!/bin/bash\ns=$EPOCHREALTIME\n${realGit} "$@"\nrc=$?\ne=$EPOCHREALTIME\nprintf '%s %s\\t%s\\n' "$s" "$e" "$*" >> ${log}\nexit $rc\n`,
  );
  await chmod(shim, 0o755);
  const original = process.env['PATH'] ?? '';
  return {
    enable() {
      process.env['PATH'] = `${join(dir, 'bin')}:${original}`;
    },
    disable() {
      process.env['PATH'] = original;
    },
    async calls() {
      const text = await readFile(log, 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [times = '', args = ''] = line.split('\t');
          const [s = '0', e = '0'] = times.split(' ');
          return { ms: (Number(e) - Number(s)) * 1000, args };
        });
    },
  };
}

/** Top self-time JS frames of one call, from the V8 sampling profiler (the same data as `node --cpu-prof`). */
async function cpuProfile<T>(fn: () => Promise<T>): Promise<{ value: T; top: string[]; totalMs: number }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  const value = await fn();
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  const deltas = profile.timeDeltas ?? [];
  const samples = profile.samples ?? [];
  const selfUs = new Map<number, number>();
  samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i] ?? 0)));
  const byFrame = new Map<string, number>();
  for (const node of profile.nodes) {
    const f = node.callFrame;
    const where = f.url ? `${f.url.replace(/^.*\/(services|packages|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    byFrame.set(key, (byFrame.get(key) ?? 0) + (selfUs.get(node.id) ?? 0));
  }
  const totalUs = [...byFrame.values()].reduce((a, b) => a + b, 0);
  const top = [...byFrame]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([k, us]) => `${ms(us / 1000).padStart(9)}  ${((100 * us) / totalUs).toFixed(1).padStart(5)} %  ${k}`);
  return { value, top, totalMs: totalUs / 1000 };
}

// --------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const wall = performance.now();
  const loadAtStart = load();
  const work = await mkdtemp(join(tmpdir(), 'bench-scanner-'));
  const nats = await testNats('bench');
  const gitlab = await fakeGitLabGit();
  const realGitleaks = createGitleaksCli(resolveGitleaksBin(process.env['GITLEAKS_BIN']));
  const kvBucket = `bench-projects-${Date.now()}`;
  try {
    const version = await realGitleaks.version();
    say(`scanner bench: gitleaks ${version}, git ${(await git(work, ['--version'])).replace('git version ', '')}, load average ${loadAtStart} (${cpus().length} cores)`);
    if (COMMITS < DEFAULT_COMMITS) say(`note: --commits ${COMMITS} is below the default ${DEFAULT_COMMITS.toLocaleString('en')}`);

    // ---- setup: the repository
    const { rand, layout } = layoutOf(Number(values.seed));
    const keysBeforeOldBase = [...layout.planted.keys()].filter((i) => i <= OLD_BASE).length;
    const repo = await gitlab.createProject(PROJECT);
    // In a child process (this script again): spawn() forks this process for every git call, so every MiB the
    // generation would leave in this one would be paid again in each measured call.
    let [, took] = await timed(() => pipeInto(process.execPath, [...process.execArgv, process.argv[1] ?? '', ...process.argv.slice(2), '--generate-into', repo.bare], '', {}));
    say(
      `setup: ${COMMITS.toLocaleString('en')} commits on main (${KEYS} with a fake key), old-base from commit ${OLD_BASE.toLocaleString('en')} ` +
        `(${keysBeforeOldBase} keys in its history), ${BRANCHES.toLocaleString('en')} one-commit branches: generated in ${ms(took)} (bench RSS ${rss()})`,
    );

    const remoteUrl = `${gitlab.url}${PROJECT}.git`;
    const remote: Remote = { url: remoteUrl, token: gitlab.token, key: `bench ${remoteUrl}`, project: PROJECT };
    const host = new URL(gitlab.url).hostname;
    const records: ProjectRecords = values.records === 'kv' ? await kvProjectRecords(nats.js, { bucket: kvBucket, replicas: 1 }) : memoryProjectRecords();
    const plainMirrors = createMirrors({ dataDir: join(work, 'data'), gitTimeoutMs: 3_600_000, lockWaitMs: 60_000 });
    const meter = { current: newMeter() };
    const deps = metered(meter, realGitleaks, plainMirrors, records);
    const scanDeps: ScanDeps = {
      mirrors: deps.mirrors,
      gitleaks: deps.gitleaks,
      records: deps.records,
      fingerprintKey: 'bench-fingerprint-key-0123456789',
      tmpDir: join(work, 'data', 'tmp'),
      log: createLogger({ service: 'bench', level: 'silent' }),
    };
    // Defaults, with a timeout long enough for the first evaluation of the whole history (not part of the scope).
    const component: PlannedComponent = { name: COMPONENT, handler: 'gitleaks', config: { timeout_seconds: 7200 } };
    const sha = (ref: string) => git(repo.bare, ['rev-parse', ref]);
    const pushEvent = (ref: string, before: string, after: string): EventReceivedV1 =>
      anEventFor({ baseUrl: gitlab.url, project: PROJECT, range: { kind: 'push', ref: `refs/heads/${ref}`, before, after } });
    const judge = async (ref: string, before: string, after: string): Promise<{ outcome: ScanOutcome; ms: number; meter: Meter }> => {
      meter.current = newMeter();
      const [outcome, took] = await timed(() => scanComponent(pushEvent(ref, before, after), component, remote, scanDeps));
      if (outcome.status !== 'ok') throw new Error(`evaluation of ${ref} @ ${after.slice(0, 12)} ended in ${outcome.status}: ${outcome.reason ?? ''}`);
      return { outcome, ms: took, meter: meter.current };
    };

    // ---- setup: the first evaluation of main (cold mirror: clone + whole history through gitleaks)
    const main0 = await sha('refs/heads/main');
    const first = await judge('main', ZERO, main0);
    const open = first.outcome.findings.length;
    say(
      `setup: first evaluation of main (clone + ${first.outcome.scanned?.commits.toLocaleString('en')} commits through gitleaks): ${ms(first.ms)} ` +
        `(fetch ${ms(first.meter.prepareMs)}, gitleaks ${ms(first.meter.gitleaksMs)}); ${open} open findings (want ${KEYS}) (bench RSS ${rss()})`,
    );
    const oldBase0 = await sha('refs/heads/old-base');
    const oldFirst = await judge('old-base', ZERO, oldBase0);
    say(`setup: first evaluation of old-base (${oldFirst.outcome.scanned?.commits} new commit): ${ms(oldFirst.ms)}; carries ${oldFirst.outcome.findings.length} findings (want ${keysBeforeOldBase})`);

    const mirror: Mirror = await plainMirrors.prepare(remote, { refspecs: [], required: [], skipWhenPresent: [main0] });
    const scopes = Object.keys((await records.get(host, PROJECT)).components[COMPONENT]?.tips ?? {});
    if (scopes.length !== 1 || !scopes[0]) throw new Error(`expected one scan scope in the record, found ${scopes.length}`);
    const scope = scopes[0];
    const tipsPrefix = scannedPrefix(COMPONENT, scope);

    // ---- setup: the scanned tips. The first EVALUATED_TIPS go through evaluateCommit (a detector that finds
    // nothing, which is the truth for these commits: no key in them); the rest are written the way it writes
    // them (a tip ref per head in the mirror, the same tips in the record) since 5,000 evaluations would take
    // minutes; then both are checked to agree.
    const branches = await mirror.branches();
    const tipHeads = Array.from({ length: BRANCHES }, (_, j) => {
      const head = branches.get(`bench/tip-${j}`);
      if (!head) throw new Error(`bench/tip-${j} is not in the mirror`);
      return head;
    });
    let fakeRuns = 0;
    const nothingFound: Detector = {
      detect: () => {
        fakeRuns++;
        return Promise.resolve({ status: 'ok', findings: [] });
      },
    };
    const evaluateTip = (head: string) =>
      evaluateCommit({ mirror, records, host, project: PROJECT, webUrl: `${gitlab.url}${PROJECT}`, component: COMPONENT, scope, head, detector: nothingFound, fingerprintKey: scanDeps.fingerprintKey });
    const perTip: number[] = [];
    for (const head of tipHeads.slice(0, EVALUATED_TIPS)) {
      const [e, took] = await timed(() => evaluateTip(head));
      if (e.status !== 'ok' || e.scanned.commits !== 1) throw new Error(`tip ${head} evaluated to ${e.status} with ${e.scanned.commits} commits scanned (want ok, 1)`);
      perTip.push(took);
    }
    const direct = tipHeads.slice(EVALUATED_TIPS);
    [, took] = await timed(async () => {
      await mirror.locked(() => mirror.updateRefs(direct.map((h) => ({ ref: `${tipsPrefix}${h}`, sha: h }))));
      await records.update(host, PROJECT, (r) => {
        const c = r.components[COMPONENT] ?? { findings: {}, tips: {} };
        // As recordTip keeps them: in recording order, the newest last.
        const had = c.tips[scope] ?? [];
        const tips = [...had, ...direct.filter((h) => !had.includes(h))];
        return { ...r, components: { ...r.components, [COMPONENT]: { ...c, tips: { ...c.tips, [scope]: tips } } } };
      });
    });
    const refTips = [...(await mirror.refs(tipsPrefix)).keys()].map((r) => r.slice(tipsPrefix.length)).sort();
    const recordTips = [...((await records.get(host, PROJECT)).components[COMPONENT]?.tips[scope] ?? [])].sort();
    const consistent = refTips.length === recordTips.length && refTips.every((t, i) => t === recordTips[i]) && refTips.length === TIPS;
    // A few directly written tips, evaluated: nothing to scan (their tip ref covers them).
    const before = fakeRuns;
    for (const head of direct.slice(0, 5)) {
      const e = await evaluateTip(head);
      if (e.status !== 'ok' || e.scanned.commits !== 0) throw new Error(`directly written tip ${head} was scanned again (${e.scanned.commits} commits)`);
    }
    const recordBytes = JSON.stringify(await records.get(host, PROJECT)).length;
    say(
      `setup: ${TIPS.toLocaleString('en')} scanned tips: ${EVALUATED_TIPS} through evaluateCommit (no-find detector; p50 ${ms(p50(perTip))}, p90 ${ms(p90(perTip))} each, ` +
        `i.e. ~${Math.round((p50(perTip) * BRANCHES) / 1000)} s for all), ${direct.length.toLocaleString('en')} written directly in ${ms(took)}; ` +
        `mirror refs = record tips = ${refTips.length.toLocaleString('en')} (${BRANCHES.toLocaleString('en')} branches + main + old-base): ${consistent ? 'consistent' : 'INCONSISTENT'}; ` +
        `re-evaluating 5 written tips ran the detector ${fakeRuns - before} times; project record ${Math.round(recordBytes / 1024)} KiB in ${values.records === 'kv' ? 'NATS KV' : 'memory'} (bench RSS ${rss()})`,
    );
    if (!consistent) throw new Error('the record and the mirror disagree about the scanned tips');
    // Merged feature branches are deleted; their tips stay scanned in the mirror (the next fetch prunes the branches).
    await pipeInto('git', ['-C', repo.bare, 'update-ref', '--stdin'], Array.from({ length: BRANCHES }, (_, j) => `delete refs/heads/bench/tip-${j}\n`).join(''), ISOLATED_GIT_ENV);

    if (values['pack-refs']) {
      [, took] = await timed(() => mirror.locked(() => git(mirror.dir, ['pack-refs', '--all'])));
      say(`setup: WHAT-IF --pack-refs: the mirror's refs packed (git pack-refs --all) in ${ms(took)}; the engine does not do this itself`);
    }

    // ---- measurements
    const configPath = join(work, 'rules.toml');
    await writeFile(configPath, DEFAULT_GITLEAKS_CONFIG);
    const floorCwd = join(work, 'floor-cwd');
    await mkdir(floorCwd);
    const rawScan = async (logOpts: string[]) => {
      const [outcome, took] = await timed(() =>
        realGitleaks.scan({ mode: 'git', source: mirror.dir, logOpts, configPath, allowInline: false, maxTargetMegabytes: 10, timeoutSeconds: 300, cwd: floorCwd }),
      );
      if (outcome.status === 'error') throw new Error(`raw gitleaks failed: ${outcome.reason}`);
      return took;
    };

    let pushes = 0;
    /** One commit on `branch` in the fake GitLab's repository (as a developer's push lands there). */
    const pushCommit = async (branch: string): Promise<[string, string]> => {
      pushes++;
      const parent = await sha(`refs/heads/${branch}`);
      const i = COMMITS + TIPS + 10 + pushes;
      const stream = [header(`refs/heads/${branch}`, null, T0 + i, `push ${pushes} on ${branch}`), `from ${parent}\n`];
      for (const f of [i % 500, (i * 7 + 3) % 500]) stream.push(`M 100644 inline src/module${f}.ts\n${data(moduleBody(i, f))}`);
      await pipeInto('git', ['-C', repo.bare, 'fast-import', '--quiet'], stream.join(''), ISOLATED_GIT_ENV);
      return [parent, await sha(`refs/heads/${branch}`)];
    };

    interface Push {
      ms: number;
      meter: Meter;
    }
    const a: Push[] = [];
    const b: Push[] = [];
    const floor: number[] = [];
    const engineOpts: number[] = [];
    const d: Push[] = [];
    const pushAndJudge = async (branch: string, want: number, into: Push[] | null) => {
      const [before, after] = await pushCommit(branch);
      const r = await judge(branch, before, after);
      if (r.outcome.scanned?.commits !== 1) throw new Error(`a 1-commit push on ${branch} scanned ${r.outcome.scanned?.commits} commits`);
      if (r.outcome.findings.length !== want) throw new Error(`${branch} carries ${r.outcome.findings.length} findings, want ${want}`);
      into?.push({ ms: r.ms, meter: r.meter });
      return after;
    };
    // Warm-up (not measured): the first fetch prunes the deleted branches and adds a commit-graph layer.
    await pushAndJudge('main', open, null);
    await pushAndJudge('old-base', keysBeforeOldBase, null);

    const loadAtMeasure = load();
    const scannedMainCommits: string[] = [];
    for (let run = 0; run < RUNS; run++) {
      const m = await pushAndJudge('main', open, a);
      scannedMainCommits.push(m);
      floor.push(await rawScan([`${m}^!`]));
      // What gitleaks costs with the engine's own selection (5,000 tips as negative refs), for the breakdown.
      engineOpts.push(await rawScan(['--remerge-diff', m, '--not', `${m}^`, `--glob=${tipsPrefix}*`]));
      const o = await pushAndJudge('old-base', keysBeforeOldBase, b);
      floor.push(await rawScan([`${o}^!`]));

      // (d) a branch pushed at commits already scanned under another ref: alternately a scanned branch tip
      // and a commit of main covered by main's tip.
      const at = run % 2 === 0 ? (tipHeads[Math.floor(rand() * BRANCHES)] ?? main0) : (scannedMainCommits[Math.floor(rand() * scannedMainCommits.length)] ?? main0);
      await git(repo.bare, ['update-ref', `refs/heads/bench/copy-${run}`, at]);
      const r = await judge(`bench/copy-${run}`, ZERO, at);
      if (r.outcome.scanned?.commits !== 0) throw new Error(`a push of scanned commits scanned ${r.outcome.scanned?.commits} commits`);
      d.push({ ms: r.ms, meter: r.meter });
    }
    const loadAfterMeasure = load();

    // One more push on main, traced (every git call timed) and profiled (JS self time); not in the figures.
    const tracer = await gitTracer(join(work, 'trace'));
    const [tBefore, tAfter] = await pushCommit('main');
    tracer.enable();
    let traced: { outcome: ScanOutcome; ms: number; meter: Meter };
    let profileTop: string[] = [];
    let profileTotal = 0;
    try {
      const p = await cpuProfile(() => judge('main', tBefore, tAfter));
      traced = p.value;
      profileTop = p.top;
      profileTotal = p.totalMs;
    } finally {
      tracer.disable();
    }
    const gitCalls = await tracer.calls();

    // (e) the ancestry question on the big mirror, with and without its commit-graph.
    const findingRefs = findingsPrefix(COMPONENT);
    const noGraph = join(work, 'no-commit-graph.git');
    await cp(mirror.dir, noGraph, { recursive: true });
    await rm(join(noGraph, 'objects', 'info', 'commit-graph'), { force: true });
    await rm(join(noGraph, 'objects', 'info', 'commit-graphs'), { recursive: true, force: true });
    const graphFiles = (await git(mirror.dir, ['-c', 'core.commitGraph=true', 'commit-graph', 'verify', '--shallow']).then(() => 'verified', (e: Error) => `verify failed: ${e.message.slice(0, 80)}`));
    const mergedCall = async (dir: string, head: string) => {
      const [out, took] = await timed(() => git(dir, ['for-each-ref', `--merged=${head}`, '--format=%(refname)', findingRefs]));
      return { refs: out.split('\n').filter(Boolean).length, ms: took };
    };
    const mainHead = await sha('refs/heads/main');
    const oldHead = await sha('refs/heads/old-base');
    const ancestry = { graph: [] as number[], none: [] as number[], graphOld: [] as number[], noneOld: [] as number[], tipsGraph: [] as number[], tipsNone: [] as number[] };
    let agree = true;
    for (let i = 0; i < 5; i++) {
      const g = await mergedCall(mirror.dir, mainHead);
      const n = await mergedCall(noGraph, mainHead);
      const go = await mergedCall(mirror.dir, oldHead);
      const no = await mergedCall(noGraph, oldHead);
      agree &&= g.refs === open && n.refs === open && go.refs === keysBeforeOldBase && no.refs === keysBeforeOldBase;
      ancestry.graph.push(g.ms);
      ancestry.none.push(n.ms);
      ancestry.graphOld.push(go.ms);
      ancestry.noneOld.push(no.ms);
      // The engine's other --merged call: which scanned tips the new head covers (over every tip ref).
      const [, tg] = await timed(() => git(mirror.dir, ['for-each-ref', `--merged=${mainHead}`, '--format=%(refname)', tipsPrefix]));
      const [, tn] = await timed(() => git(noGraph, ['for-each-ref', `--merged=${mainHead}`, '--format=%(refname)', tipsPrefix]));
      ancestry.tipsGraph.push(tg);
      ancestry.tipsNone.push(tn);
    }
    const refCount = (await git(mirror.dir, ['for-each-ref', '--format=%(refname)'])).split('\n').filter(Boolean).length;
    const tipRefsAfter = (await mirror.refs(tipsPrefix)).size;
    const recordTipsAfter = (await records.get(host, PROJECT)).components[COMPONENT]?.tips[scope]?.length ?? 0;
    const packedRefs = (await readFile(join(mirror.dir, 'packed-refs'), 'utf8').catch(() => '')).split('\n').filter((l) => /^[0-9a-f]{40} /.test(l)).length;
    const graphLayers = (await readFile(join(mirror.dir, 'objects', 'info', 'commit-graphs', 'commit-graph-chain'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

    // ---- report
    const floorP50 = p50(floor);
    const budget = 2 * floorP50 + 300;
    const rows: string[][] = [];
    const row = (figure: string, xs: number[], target: string, ratio: string, verdict: string) => rows.push([figure, ms(p50(xs)), ms(p90(xs)), target, ratio, verdict]);
    const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
    const aMs = a.map((x) => x.ms);
    const bMs = b.map((x) => x.ms);
    const dMs = d.map((x) => x.ms);
    row(`(a) 1-commit push on main (fetch + evaluation)`, aMs, `≤ ${ms(budget)}`, (p50(aMs) / budget).toFixed(2), verdict(p50(aMs) <= budget));
    row(`(b) 1-commit push on old-base (from commit ${OLD_BASE.toLocaleString('en')})`, bMs, `≤ ${ms(budget)}`, (p50(bMs) / budget).toFixed(2), verdict(p50(bMs) <= budget));
    row(`(c) floor: raw gitleaks on <sha>^! (a's and b's commits)`, floor, 'floor', '', '');
    row(`    gitleaks with the engine's log-opts (--not ${refTips.length.toLocaleString('en')} tips)`, engineOpts, 'info', (p50(engineOpts) / floorP50).toFixed(2) + '× floor', '');
    const dRuns = d.reduce((n, x) => n + x.meter.gitleaksRuns, 0);
    row(`(d) push of already-scanned commits: gitleaks runs ${dRuns} in ${d.length}`, dMs, '0 gitleaks runs', '', verdict(dRuns === 0));
    const pair = (q: (xs: number[]) => number, w: number[], wo: number[]) => `${ms(q(w))} / ${ms(q(wo))}`;
    const ancestryRow = (figure: string, w: number[], wo: number[], ok = true) =>
      rows.push([figure, pair(p50, w, wo), pair(p90, w, wo), 'info', `${(p50(wo) / p50(w)).toFixed(1)}× without`, ok ? '' : 'WRONG ANSWER']);
    ancestryRow(`(e) for-each-ref --merged=<main head>, ${open} finding refs; with / without commit-graph`, ancestry.graph, ancestry.none, agree);
    ancestryRow(`    the same, --merged=<old-base head> (${keysBeforeOldBase} carried); with / without`, ancestry.graphOld, ancestry.noneOld, agree);
    ancestryRow(`(e') for-each-ref --merged=<main head> over the ${refTips.length.toLocaleString('en')} tip refs; with / without`, ancestry.tipsGraph, ancestry.tipsNone);
    rows.push([`cold: first evaluation of main (clone + whole history)`, ms(first.ms), '', 'info', `${(first.ms / p50(aMs)).toFixed(0)}× (a)`, '']);

    const widths = [0, 1, 2, 3, 4, 5].map((c) => Math.max(...[['figure', 'p50', 'p90', 'target/floor', 'ratio', ''], ...rows].map((r) => (r[c] ?? '').length)));
    const line = (r: string[]) => r.map((cell, c) => (c === 0 || c === 3 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ');
    say('');
    say(
      `repository: ${COMMITS.toLocaleString('en')} commits, ${open} open findings, ${refTips.length.toLocaleString('en')} scanned tips; ${RUNS} runs each; ` +
        `records: ${values.records === 'kv' ? 'NATS JetStream KV' : 'memory'}; bench RSS ${rss()}; load average ${loadAtMeasure} before the runs, ${loadAfterMeasure} after (2 cores, shared)`,
    );
    say(line(['figure', 'p50', 'p90', 'target/floor', 'ratio', '']));
    say(line(widths.map((w) => '-'.repeat(w))));
    for (const r of rows) say(line(r));
    say(`target: (a), (b) p50 ≤ 2 × floor p50 (${ms(floorP50)}) + 300 ms = ${ms(budget)}; ratio = p50 / target`);

    const part = (xs: Push[], k: keyof Meter) => ms(p50(xs.map((x) => x.meter[k])));
    const rest = (xs: Push[]) => ms(p50(xs.map((x) => x.ms - x.meter.prepareMs - x.meter.gitleaksMs - x.meter.recordsMs)));
    say('');
    say('where the time goes (p50 of each part):');
    for (const [name, xs] of [['(a) main', a], ['(b) old-base', b], ['(d) scanned', d]] as const)
      say(`  ${name.padEnd(13)} fetch+commit-graph ${part(xs, 'prepareMs').padStart(7)}   gitleaks ${part(xs, 'gitleaksMs').padStart(7)}   project record (${values.records}) ${part(xs, 'recordsMs').padStart(7)}   other git + JS ${rest(xs).padStart(7)}`);
    say(`one more push on main, every git call traced (adds a bash start per call) and the JS profiled: ${ms(traced.ms)}`);
    const short = (args: string) =>
      args
        .replace(/[0-9a-f]{40}/g, (s) => s.slice(0, 7))
        .replace(/refs\/secbot\/(scanned|findings)\/[0-9a-f]+\/([0-9a-f]{16}\/)?/g, 'refs/secbot/$1/…/')
        .replace(/\/tmp\/[^ ]*/g, '<dir>')
        .slice(0, 130);
    for (const c of gitCalls) say(`  ${ms(c.ms).padStart(9)}  git ${short(c.args)}`);
    say(`  ${ms(gitCalls.reduce((n, c) => n + c.ms, 0)).padStart(9)}  in ${gitCalls.length} git calls (gitleaks' own git log included)`);
    if (values.profile || p50(aMs) > budget || p50(bMs) > budget) {
      say(`JS self time of that push (V8 sampling profiler, ${ms(profileTotal)} sampled incl. idle):`);
      for (const t of profileTop) say(`  ${t}`);
    }
    say(`mirror: ${refCount.toLocaleString('en')} refs, ${packedRefs.toLocaleString('en')} of them in packed-refs (the rest loose files); commit-graph ${graphFiles}, ${graphLayers} layer(s); after the runs ${tipRefsAfter.toLocaleString('en')} tip refs, ${recordTipsAfter.toLocaleString('en')} tips in the record`);

    const missed = rows.filter((r) => r[5] === 'MISS' || r[5] === 'WRONG ANSWER');
    say('');
    if (missed.length) say(`!!! MISS: ${missed.map((r) => r[0]?.trim()).join('; ')} !!!`);
    else say('all targets met (PASS)');
    say(`whole run: ${ms(performance.now() - wall)}; load average at the end ${load()}`);
  } finally {
    await gitlab.close();
    if (values.records === 'kv') await nats.jsm.streams.delete(`KV_${kvBucket}`).catch(() => false);
    await nats.cleanup();
    if (values.keep) say(`kept: ${work} (mirror under data/mirrors)`);
    else await rm(work, { recursive: true, force: true });
  }
}

const generateInto = values['generate-into'];
if (generateInto) await pipeInto('git', ['-C', generateInto, 'fast-import', '--quiet'], fastImportStream(layoutOf(Number(values.seed)).layout), ISOLATED_GIT_ENV);
else await main();
