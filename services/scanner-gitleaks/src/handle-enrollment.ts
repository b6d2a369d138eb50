import type { PlannedComponent, ProjectEnrolledV1 } from '@secbot/contracts';
import { TerminalError, type GitLabInstanceConfig, type Logger } from '@secbot/service-kit';
import type { Mirrors } from './adapters/git/mirror.ts';
import { parseComponentConfig } from './component-config.ts';
import { recordEnrollment } from './project-record.ts';
import type { ProjectRecords } from './project-records.ts';
import { remoteByHost } from './remote.ts';
import type { ScanOutcome } from './scan-component.ts';
import type { CommitToJudge } from './scan-component.ts';
import type { GitleaksComponentConfig } from './component-config.ts';

export interface EnrollmentDeps {
  instances: GitLabInstanceConfig[];
  /** The gitleaks components of config.yml: the baseline is taken for each. */
  components: PlannedComponent[];
  mirrors: Mirrors;
  records: ProjectRecords;
  judge: (target: CommitToJudge, component: string, config: GitleaksComponentConfig) => Promise<ScanOutcome>;
  log: Logger;
}

const HEADS = '+refs/heads/*:refs/heads/*';

/**
 * `secbot enroll --accept-history`: judges the heads of the named branches (default: the project's default
 * branch, as GitLab advertises it) with every new finding marked baseline, then records the enrollment. What
 * SecBot had already found stays as it was: a reported secret cannot be laundered into a baseline. Running it
 * again is harmless (the commits are scanned already, and the enrollment is keyed by its event).
 */
export async function handleEnrollment(event: ProjectEnrolledV1, deps: EnrollmentDeps): Promise<void> {
  const { instanceHost, projectPath } = event.data;
  const log = deps.log.child({ project: projectPath, enrollment: event.id });
  const target = remoteByHost(instanceHost, projectPath, deps.instances);
  if (!target.ok) throw new TerminalError(`Enrollment of ${projectPath} refused: ${target.reason}`);
  if (deps.components.length === 0) throw new TerminalError('Enrollment refused: config.yml has no gitleaks component to take a baseline for.');
  const { remote } = target;
  const branches = event.data.branches.length ? event.data.branches : [await deps.mirrors.defaultBranch(remote)].filter((b): b is string => b !== null);
  if (branches.length === 0) throw new TerminalError(`Enrollment of ${projectPath} refused: GitLab advertises no default branch; name the branches.`);
  const mirror = await deps.mirrors.prepare(remote, { refspecs: [HEADS], required: [], skipWhenPresent: [] });
  const known = await mirror.branches();
  const heads: Record<string, string> = {};
  for (const b of branches) {
    const sha = known.get(b);
    if (!sha) throw new TerminalError(`Enrollment of ${projectPath} refused: it has no branch ${b}.`);
    heads[b] = sha;
  }
  const url = new URL(remote.url);
  const webUrl = `${url.origin}${url.pathname.replace(/\.git$/, '')}`;
  for (const component of deps.components) {
    const parsed = parseComponentConfig(component.config);
    if (!parsed.ok) throw new TerminalError(`Enrollment refused: component ${component.name} is invalid: ${parsed.problems.join('; ')}`);
    for (const [branch, head] of Object.entries(heads)) {
      const outcome = await deps.judge(
        { remote, host: instanceHost, project: projectPath, webUrl, head, fetch: { refspecs: [HEADS], required: [head], skipWhenPresent: [head] }, baseline: true },
        component.name,
        parsed.config,
      );
      if (outcome.status === 'error') throw new TerminalError(`Enrollment of ${projectPath}: the history of ${branch} could not be scanned: ${outcome.reason ?? 'unknown error'}`);
      log.info({ component: component.name, branch, head, scanned: outcome.scanned?.commits, baseline: outcome.findings.filter((f) => f.baseline).length, blocking: outcome.findings.filter((f) => !f.baseline).length }, 'Baseline taken');
    }
  }
  await deps.records.update(instanceHost, projectPath, (r) =>
    recordEnrollment(r, { at: event.occurredAt, actor: event.data.actor, eventId: event.id, branches, heads }),
  );
  log.info({ actor: event.data.actor, branches }, 'Project enrolled: its history is the baseline');
}
