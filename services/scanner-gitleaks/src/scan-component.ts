import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EventReceivedV1, PlannedComponent, ScanCompletedV1 } from '@secbot/contracts';
import type { Logger } from '@secbot/service-kit';
import type { GitleaksCli, GitleaksScan } from './adapters/gitleaks/cli.ts';
import type { Mirror, Mirrors, Remote } from './adapters/git/mirror.ts';
import { DEFAULT_GITLEAKS_CONFIG, parseComponentConfig, type GitleaksComponentConfig } from './component-config.ts';
import { asEventFinding, evaluateCommit, type Detection, type Detector, type Evaluation } from './evaluate.ts';
import { containsAnySecret, parseGitleaksReport, reportOf } from './findings.ts';
import { scopeDigest } from './project-record.ts';
import type { ProjectRecords } from './project-records.ts';
import { fetchPlan, headOf, type FetchPlan } from './scan-plan.ts';

/** What one scan component produced: scan.completed's data without the context the handler adds. */
export type ScanOutcome = Omit<ScanCompletedV1['data'], 'context' | 'scan' | 'handler' | 'report' | 'durationMs'> & {
  /** The redacted gitleaks report (JSON) of the findings, when the evaluation completed. */
  redactedReport?: string;
};

export interface ScanDeps {
  mirrors: Mirrors;
  gitleaks: GitleaksCli;
  records: ProjectRecords;
  fingerprintKey: string;
  /** Private temp directories are created here (mode 0700) and removed after each scan. */
  tmpDir: string;
  log: Logger;
}

/** One commit to judge for one component: where it is, what to fetch, and whether new findings are baseline. */
export interface CommitToJudge {
  remote: Remote;
  host: string;
  project: string;
  webUrl: string;
  head: string;
  fetch: FetchPlan;
  baseline?: boolean;
}

const short = (sha: string) => sha.slice(0, 7);

/**
 * Judges the commit of a change for one component. Throws RetryableError for transient git failures and
 * GitFetchError (terminal) for a rejected token or a missing project; returns `error` for everything that a
 * retry would not fix (bad component config, gitleaks failure or timeout).
 */
export async function scanComponent(event: EventReceivedV1, component: PlannedComponent, remote: Remote, deps: ScanDeps): Promise<ScanOutcome> {
  const { range, project, instance } = event.data;
  const head = headOf(range);
  const parsed = parseComponentConfig(component.config);
  if (!parsed.ok) {
    return { status: 'error', reason: `The config of component ${component.name} in config.yml is invalid: ${parsed.problems.join('; ')}`, commit: head, findings: [] };
  }
  return judgeCommit(
    { remote, host: instance.host, project: project.pathWithNamespace, webUrl: project.webUrl, head, fetch: fetchPlan(range) },
    component.name,
    parsed.config,
    deps,
  );
}

export async function judgeCommit(target: CommitToJudge, componentName: string, config: GitleaksComponentConfig, deps: ScanDeps): Promise<ScanOutcome> {
  const { head } = target;
  const tool = { name: 'gitleaks', version: await deps.gitleaks.version() };
  if (/^0+$/.test(head)) {
    // A deleted branch or tag adds nothing (contracts.md 1.3: `after` is all zeros).
    return { status: 'ok', commit: head, scanned: { description: 'deleted ref: nothing added', commits: 0, bytes: 0 }, tool, rulesSource: 'component', findings: [] };
  }

  const t0 = performance.now();
  const mirror = await deps.mirrors.prepare(target.remote, target.fetch);
  deps.log.debug({ project: target.remote.project, ms: Math.round(performance.now() - t0) }, 'Mirror ready');

  await mkdir(deps.tmpDir, { recursive: true, mode: 0o700 });
  const work = await mkdtemp(join(deps.tmpDir, 'scan-'));
  try {
    const rules = await rulesFor(mirror, config, work, () => deps.mirrors.defaultBranch(target.remote));
    const cwd = join(work, 'cwd');
    await mkdir(cwd, { mode: 0o700 });
    const common = { allowInline: config.allow_inline_ignores, maxTargetMegabytes: config.max_target_megabytes, timeoutSeconds: config.timeout_seconds, cwd };
    const detectors = [gitleaksDetector(deps.gitleaks, { ...common, configPath: rules.component.path })];
    if (rules.repository) {
      const repo = rules.repository;
      detectors.push(gitleaksDetector(deps.gitleaks, { ...common, configPath: repo.path, ...(repo.ignorePath ? { ignorePath: repo.ignorePath } : {}) }));
    }
    const scope = scopeDigest({
      engine: 'history-v2',
      gitleaks: tool.version,
      rules: rules.component.text,
      repositoryRules: rules.repository?.text ?? null,
      repositoryIgnore: rules.repository?.ignoreText ?? null,
      allowInline: config.allow_inline_ignores,
      maxTargetMegabytes: config.max_target_megabytes,
    });
    const t1 = performance.now();
    const evaluation: Evaluation = await evaluateCommit({
      mirror,
      records: deps.records,
      host: target.host,
      project: target.project,
      webUrl: target.webUrl,
      component: componentName,
      scope,
      head,
      detector: unionOf(detectors),
      maxFileBytes: config.max_target_megabytes === 0 ? Number.MAX_SAFE_INTEGER : config.max_target_megabytes * 1024 * 1024,
      fingerprintKey: deps.fingerprintKey,
      ...(target.baseline ? { baseline: true } : {}),
    });
    deps.log.debug({ ms: Math.round(performance.now() - t1), scanned: evaluation.scanned.commits }, 'Evaluation finished');
    const base = { commit: head, tool, rulesSource: rules.repository ? ('repository' as const) : ('component' as const) };
    if (evaluation.status === 'error') {
      return { ...base, status: 'error', reason: evaluation.reason, scanned: { description: `history of ${short(head)}`, ...evaluation.scanned }, findings: [] };
    }
    const findings = evaluation.carried.map(asEventFinding);
    const blocking = findings.filter((f) => !f.baseline).length;
    const description =
      `history of ${short(head)}: ${evaluation.scanned.commits} commit(s) scanned now, the rest scanned before; ` +
      `${findings.length} finding(s) in its history${blocking < findings.length ? ` (${findings.length - blocking} in the accepted baseline)` : ''}`;
    const result: ScanOutcome = {
      ...base,
      status: 'ok',
      scanned: { description, ...evaluation.scanned },
      findings,
      redactedReport: JSON.stringify(reportOf(findings)),
    };
    // Last line of defence: nothing of a secret may leave this function.
    if (containsAnySecret(JSON.stringify(result), evaluation.raw)) {
      return { ...base, status: 'error', reason: 'A secret survived redaction; the result was withheld. Report this as a SecBot bug.', findings: [] };
    }
    return result;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The rules: always the component's; with `use_repository_config`, the repository's `.gitleaks.toml` (and its
 * `.gitleaksignore`, which applies to those rules only) as they are on the protected default branch (as GitLab
 * advertises it, never as the event says), never the
 * pushed commit's, ADD a second set of rules: a repository can find more, never silence the component's rules
 * (its allowlists and ignore file do not reach them). A rules change is a new scan scope: history is scanned
 * again.
 */
async function rulesFor(mirror: Mirror, config: GitleaksComponentConfig, work: string, defaultBranch: () => Promise<string | null>) {
  const text = config.gitleaks_config ?? DEFAULT_GITLEAKS_CONFIG;
  const component = { text, path: join(work, 'gitleaks.toml') };
  await writeFile(component.path, text, { mode: 0o600 });
  if (!config.use_repository_config) return { component };
  // The default branch as GitLab says it is, never as an event claims: the rules decide the scan scope, and
  // an event that could choose them could choose which findings count for the same commit.
  const branch = await defaultBranch();
  if (!branch) return { component };
  const rev = `refs/heads/${branch}`;
  const repoRules = await mirror.readFile(rev, '.gitleaks.toml');
  if (!repoRules) return { component };
  const repoIgnore = await mirror.readFile(rev, '.gitleaksignore');
  const repository: { text: string; path: string; ignoreText: string | null; ignorePath?: string } = {
    text: repoRules.toString('utf8'),
    path: join(work, 'repository.gitleaks.toml'),
    ignoreText: repoIgnore ? repoIgnore.toString('utf8') : null,
  };
  await writeFile(repository.path, repository.text, { mode: 0o600 });
  if (repoIgnore) {
    repository.ignorePath = join(work, 'repository.gitleaksignore');
    await writeFile(repository.ignorePath, repoIgnore, { mode: 0o600 });
  }
  return { component, repository };
}

/** Every detector on the same commits; the findings of all, or the first error. */
function unionOf(detectors: Detector[]): Detector {
  if (detectors.length === 1 && detectors[0]) return detectors[0];
  const all = async (each: (d: Detector) => Promise<Detection>): Promise<Detection> => {
    const findings = [];
    for (const d of detectors) {
      const outcome = await each(d);
      if (outcome.status === 'error') return outcome;
      findings.push(...outcome.findings);
    }
    return { status: 'ok', findings };
  };
  return {
    detect: (dir, logOpts) => all((d) => d.detect(dir, logOpts)),
    detectText: (text) => all((d) => d.detectText?.(text) ?? Promise.resolve({ status: 'ok', findings: [] })),
  };
}

/** The real gitleaks as the evaluation's detector, in git mode on the bare mirror. */
export function gitleaksDetector(cli: GitleaksCli, common: Omit<GitleaksScan, 'mode' | 'source' | 'logOpts'>): Detector {
  return {
    detect: (dir, logOpts) => run({ mode: 'git', source: dir, logOpts, ...common }),
    detectText: (text) => run({ mode: 'stdin', source: '-', input: text, ...common }),
  };
  async function run(scan: GitleaksScan): Promise<Detection> {
    const outcome = await cli.scan(scan);
    if (outcome.status === 'error') return outcome;
    if (outcome.status === 'clean') return { status: 'ok', findings: [] };
    try {
      return { status: 'ok', findings: parseGitleaksReport(outcome.report) };
    } catch {
      // The parser's message could quote the report, and the report holds secrets: say nothing of it.
      return { status: 'error', reason: 'The gitleaks report could not be read as gitleaks v8 JSON.' };
    }
  }
}
