import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EventReceivedV1, PlannedComponent, ScanCompletedV1 } from '@secbot/contracts';
import type { Logger } from '@secbot/service-kit';
import type { GitleaksCli } from './adapters/gitleaks/cli.ts';
import type { Mirrors, Remote } from './adapters/git/mirror.ts';
import { DEFAULT_GITLEAKS_CONFIG, parseComponentConfig } from './component-config.ts';
import { containsAnySecret, parseGitleaksReport, redactReport, toFinding } from './findings.ts';
import { fetchPlan, scanTarget } from './scan-plan.ts';

/** What one scan component produced: scan.completed's data without the context the handler adds. */
export type ScanOutcome = Omit<ScanCompletedV1['data'], 'context' | 'scan' | 'handler' | 'report' | 'durationMs'> & {
  /** The redacted gitleaks report (JSON), when gitleaks ran. */
  redactedReport?: string;
};

export interface ScanDeps {
  mirrors: Mirrors;
  gitleaks: GitleaksCli;
  fingerprintKey: string;
  /** Private temp directories are created here (mode 0700) and removed after each scan. */
  tmpDir: string;
  log: Logger;
}

/**
 * Scans what the change adds for one component. Throws RetryableError for transient git failures and
 * GitFetchError (terminal) for a rejected token or a missing project; returns `error` for everything that a
 * retry would not fix (bad component config, gitleaks failure or timeout).
 */
export async function scanComponent(event: EventReceivedV1, component: PlannedComponent, remote: Remote, deps: ScanDeps): Promise<ScanOutcome> {
  const { range, project } = event.data;
  const commitOf = range.kind === 'push' ? range.after : range.kind === 'tag' ? range.commit : range.lastCommit;
  const parsed = parseComponentConfig(component.config);
  if (!parsed.ok) {
    return { status: 'error', reason: `The config of component ${component.name} in config.yml is invalid: ${parsed.problems.join('; ')}`, commit: commitOf, findings: [] };
  }
  const config = parsed.config;
  const version = await deps.gitleaks.version();
  const tool = { name: 'gitleaks', version };
  if (/^0+$/.test(commitOf)) {
    // A deleted branch or tag adds nothing (contracts.md 1.3: `after` is all zeros).
    return { status: 'ok', commit: commitOf, scanned: { description: 'deleted ref: nothing added', commits: 0, bytes: 0 }, tool, rulesSource: 'component', findings: [] };
  }

  const t0 = performance.now();
  const mirror = await deps.mirrors.prepare(remote, fetchPlan(range));
  deps.log.debug({ project: remote.project, ms: Math.round(performance.now() - t0) }, 'Mirror ready');
  // A push to an existing branch (the common case) needs one look-up: is `before` known? New branches, a
  // force-push whose `before` is gone, MRs and tags also need the branches.
  const present = range.kind === 'push' && range.before ? await mirror.present([range.before]) : new Set<string>();
  const simplePush = range.kind === 'push' && range.before !== null && present.has(range.before);
  const branches = simplePush ? new Map<string, string>() : await mirror.branches();
  const target = scanTarget(range, { has: (s) => present.has(s), branch: (b) => branches.get(b) ?? null, defaultBranch: project.defaultBranch }, config);

  if (target.kind === 'empty') {
    return { status: 'ok', commit: target.commit, scanned: { description: target.description, commits: 0, bytes: 0 }, tool, rulesSource: 'component', findings: [] };
  }

  await mkdir(deps.tmpDir, { recursive: true, mode: 0o700 });
  const work = await mkdtemp(join(deps.tmpDir, 'scan-'));
  try {
    const cwd = join(work, 'cwd');
    await mkdir(cwd, { mode: 0o700 });
    let rules = config.gitleaks_config ?? DEFAULT_GITLEAKS_CONFIG;
    let ignorePath: string | undefined;
    let rulesSource: 'component' | 'repository' = 'component';
    if (config.use_repository_config) {
      const repoRules = await mirror.readFile(target.commit, '.gitleaks.toml');
      const repoIgnore = await mirror.readFile(target.commit, '.gitleaksignore');
      if (repoRules) rules = repoRules.toString('utf8');
      if (repoIgnore) {
        ignorePath = join(work, 'gitleaksignore');
        await writeFile(ignorePath, repoIgnore, { mode: 0o600 });
      }
      if (repoRules || repoIgnore) rulesSource = 'repository';
    }
    const configPath = join(work, 'gitleaks.toml');
    await writeFile(configPath, rules, { mode: 0o600 });

    const common = {
      configPath,
      allowInline: config.allow_inline_ignores,
      maxTargetMegabytes: config.max_target_megabytes,
      timeoutSeconds: config.timeout_seconds,
      cwd,
      ...(ignorePath ? { ignorePath } : {}),
    };
    let fileOf: ((f: string) => string) | undefined;
    let statsPromise;
    let outcomePromise;
    if (target.kind === 'tree') {
      const tree = join(work, 'tree');
      await mkdir(tree, { mode: 0o700 });
      await mirror.exportTree(target.commit, tree);
      // gitleaks always reads <source>/.gitleaksignore; only the explicit option may let the repository's apply.
      await rm(join(tree, '.gitleaksignore'), { force: true });
      fileOf = (f) => (f.startsWith(`${tree}/`) ? f.slice(tree.length + 1) : f);
      statsPromise = mirror.treeStats(target.commit);
      outcomePromise = deps.gitleaks.scan({ mode: 'dir', source: tree, ...common });
    } else {
      statsPromise = mirror.rangeStats(target.revisions);
      outcomePromise = deps.gitleaks.scan({ mode: 'git', source: mirror.dir, logOpts: target.revisions, ...common });
    }
    const t1 = performance.now();
    const [stats, outcome] = await Promise.all([statsPromise, outcomePromise]);
    deps.log.debug({ mode: target.kind, ms: Math.round(performance.now() - t1) }, 'gitleaks finished');
    const scanned = { description: target.description, ...stats };
    const base = { commit: target.commit, scanned, tool, rulesSource };
    if (outcome.status === 'error') return { ...base, status: 'error', reason: outcome.reason, findings: [] };
    if (outcome.status === 'clean') return { ...base, status: 'ok', findings: [], redactedReport: '[]' };

    let raw;
    try {
      raw = parseGitleaksReport(outcome.report);
    } catch {
      // The parser's message could quote the report, and the report holds secrets: say nothing of it.
      return { ...base, status: 'error', reason: 'The gitleaks report could not be read as gitleaks v8 JSON.', findings: [] };
    }
    const findings = raw.map((f) =>
      toFinding(f, {
        fingerprintKey: deps.fingerprintKey,
        webUrl: project.webUrl,
        ...(target.kind === 'tree' ? { treeCommit: target.commit } : {}),
        ...(fileOf ? { file: fileOf } : {}),
      }),
    );
    const redactedReport = JSON.stringify(redactReport(raw, fileOf));
    const result: ScanOutcome = { ...base, status: 'ok', findings, redactedReport };
    // Last line of defence: nothing of a secret may leave this function.
    if (containsAnySecret(JSON.stringify(result), raw)) {
      return { ...base, status: 'error', reason: 'A secret survived redaction; the result was withheld. Report this as a SecBot bug.', findings: [] };
    }
    return result;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
