import type {
  CheckContext,
  CheckExpiredV1,
  EventReceivedV1,
  ExceptionScope,
  Finding,
  JobPlan,
  NotifiedV1,
  OutputCompletedV1,
  ReevaluationRequestedV1,
  ScanCompletedV1,
} from '@secbot/contracts';

/** What the CI gate reads. `not_started` is for ids no event mentions, so it is never stored. */
export type CheckStatus = 'not_started' | 'in_progress' | 'success' | 'fail' | 'error';

export type ProjectedEvent = EventReceivedV1 | ScanCompletedV1 | OutputCompletedV1 | NotifiedV1 | CheckExpiredV1 | ReevaluationRequestedV1;

export interface ScanState {
  status: 'pending' | 'ok' | 'error';
  reason?: string;
  findings: number;
  durationMs?: number;
  tool?: { name: string; version: string };
  scanned?: { description: string; commits: number; bytes: number };
  rulesSource?: 'component' | 'repository';
  completedAt?: string;
  /** A later evaluation that could not finish; the completed one above still decides. */
  lastError?: string;
}

export interface OutputState {
  scan: string;
  output: string;
  /** e.g. `builtin`, `defectdojo`; unknown until the output reports. */
  handler?: string;
  status: 'pending' | 'ok' | 'error';
  reason?: string;
  revision: number;
  findingsTotal: number;
  blocking: Finding[];
  links: Record<string, string>;
  updatedAt?: string;
  /** A later decision that could not be made; the completed one above still decides. */
  lastError?: string;
}

export interface NotificationState {
  notifier: string;
  scan: string;
  output: string;
  status: 'sent' | 'skipped' | 'error';
  reason?: string;
  target: string;
  findingsAnnounced: number;
  at: string;
}

export interface CheckState {
  securityCheckId: string;
  status: Exclude<CheckStatus, 'not_started'>;
  context: Omit<CheckContext, 'job'> | null;
  job: JobPlan | null;
  planError?: { reason: string; jobs: string[] };
  correlationId: string;
  /** How many GitLab deliveries asked for this check (the same commit pushed and opened as an MR counts twice). */
  triggers: number;
  receivedAt: string;
  updatedAt: string;
  completedAt?: string;
  scans: Record<string, ScanState>;
  /** Keyed `scan/output`. */
  outputs: Record<string, OutputState>;
  notifications: NotificationState[];
  /** Set by check.expired: the deadline passed while these were still awaited. */
  expired?: { at: string; deadlineSeconds: number; waitedFor: string[] };
}

const pairKey = (scan: string, output: string) => `${scan}/${output}`;

function contextOf(c: CheckContext | EventReceivedV1['data']): Omit<CheckContext, 'job'> {
  return {
    instance: c.instance,
    eventType: c.eventType,
    project: c.project,
    commit: c.commit,
    range: c.range,
    ...(c.mergeRequest ? { mergeRequest: c.mergeRequest } : {}),
    user: c.user,
  };
}

function planned(state: CheckState, job: JobPlan): CheckState {
  const scans = { ...state.scans };
  const outputs = { ...state.outputs };
  for (const s of job.scans) {
    scans[s.name] ??= { status: 'pending', findings: 0 };
    for (const o of job.outputs) {
      outputs[pairKey(s.name, o.name)] ??= { scan: s.name, output: o.name, status: 'pending', revision: -1, findingsTotal: 0, blocking: [], links: {} };
    }
  }
  return { ...state, job, scans, outputs };
}

function fresh(event: ProjectedEvent): CheckState {
  return {
    securityCheckId: event.securityCheckId,
    status: 'in_progress',
    context: null,
    job: null,
    correlationId: event.correlationId,
    triggers: 0,
    receivedAt: event.occurredAt,
    updatedAt: event.occurredAt,
    scans: {},
    outputs: {},
    notifications: [],
  };
}

/**
 * The status rules, as a pure function of the events of one check (in stream order):
 * `in_progress` from event.received until every (scan, output) pair of the plan has reported;
 * `error` when planning failed or any scan or output reported an error; else `fail` when any output
 * reports a blocking finding; else `success`. A notifier never changes the status.
 * An output's later revision (triage, an exception) replaces its earlier one.
 */
export function evolveCheckState(state: CheckState | null, event: ProjectedEvent): CheckState {
  let next = state ?? fresh(event);
  switch (event.type) {
    case 'event.received': {
      next = { ...next, triggers: next.triggers + 1 };
      if (next.triggers > 1 && (next.job || next.planError)) break; // the first plan of a commit stands
      next = { ...next, context: contextOf(event.data), correlationId: event.correlationId, receivedAt: event.occurredAt };
      if (event.data.planError) next = { ...next, planError: event.data.planError };
      if (event.data.job) next = planned(next, event.data.job);
      break;
    }
    case 'scan.completed': {
      const d = event.data;
      if (!next.job) next = planned({ ...next, context: next.context ?? contextOf(d.context) }, d.context.job);
      const previous = next.scans[d.scan];
      if (d.status === 'error' && previous?.status === 'ok') {
        // A completed evaluation stands: a later one that could not finish changes nothing but the record.
        next = { ...next, scans: { ...next.scans, [d.scan]: { ...previous, lastError: d.reason ?? 'failed' } } };
        break;
      }
      next = {
        ...next,
        scans: {
          ...next.scans,
          [d.scan]: {
            status: d.status,
            ...(d.reason ? { reason: d.reason } : {}),
            findings: d.findings.length,
            durationMs: d.durationMs,
            ...(d.tool ? { tool: d.tool } : {}),
            ...(d.scanned ? { scanned: d.scanned } : {}),
            ...(d.rulesSource ? { rulesSource: d.rulesSource } : {}),
            completedAt: event.occurredAt,
          },
        },
      };
      break;
    }
    case 'output.completed': {
      const d = event.data;
      if (!next.job) next = planned({ ...next, context: next.context ?? contextOf(d.context) }, d.context.job);
      const key = pairKey(d.scan, d.output);
      const current = next.outputs[key];
      if (current && current.revision > d.revision) break; // an older decision arriving late changes nothing
      if (d.status === 'error' && current?.status === 'ok') {
        next = { ...next, outputs: { ...next.outputs, [key]: { ...current, lastError: d.reason ?? 'failed' } } };
        break;
      }
      next = {
        ...next,
        outputs: {
          ...next.outputs,
          [key]: {
            scan: d.scan,
            output: d.output,
            handler: d.handler,
            status: d.status,
            ...(d.reason ? { reason: d.reason } : {}),
            revision: d.revision,
            findingsTotal: d.findingsTotal,
            blocking: d.blocking,
            links: d.links,
            updatedAt: event.occurredAt,
          },
        },
      };
      break;
    }
    case 'notified': {
      const d = event.data;
      next = {
        ...next,
        notifications: [
          ...next.notifications,
          { notifier: d.notifier, scan: d.scan, output: d.output, status: d.status, ...(d.reason ? { reason: d.reason } : {}), target: d.target, findingsAnnounced: d.findingsAnnounced, at: event.occurredAt },
        ],
      };
      return { ...next, updatedAt: event.occurredAt };
    }
    case 'check.expired': {
      next = { ...next, expired: { at: event.occurredAt, deadlineSeconds: event.data.deadlineSeconds, waitedFor: event.data.waitedFor } };
      break;
    }
    case 'reevaluation.requested':
      return next; // only the timeline records it
  }
  const status = statusOf(next);
  const finished = status !== 'in_progress';
  return {
    ...next,
    status,
    updatedAt: event.occurredAt,
    ...(finished ? { completedAt: next.status === status && next.completedAt ? next.completedAt : event.occurredAt } : {}),
  };
}

/**
 * The status from what the check's evaluations said: `fail` beats `error` beats `in_progress` beats
 * `success`. A blocking finding fails the check even while another scan errs or is still running; `error`
 * when nothing was planned, or a scan or output could not complete (an earlier completed evaluation stands
 * over a later failure, see evolveCheckState); `in_progress` while something is awaited (`error` past the
 * deadline); else `success`. `blocks` decides per finding (exceptions, applied at read time).
 */
export function statusOf(state: CheckState, blocks: (o: OutputState, f: Finding) => boolean = () => true): Exclude<CheckStatus, 'not_started'> {
  if (state.planError) return 'error';
  const scans = Object.values(state.scans);
  const outputs = Object.values(state.outputs);
  if (outputs.some((o) => o.status === 'ok' && o.blocking.some((f) => blocks(o, f)))) return 'fail';
  if (scans.some((s) => s.status === 'error') || outputs.some((o) => o.status === 'error')) return 'error';
  if (!state.job || scans.some((s) => s.status === 'pending') || outputs.some((o) => o.status === 'pending')) {
    // Past its deadline a check stops waiting; should the awaited results still come, they decide.
    return state.expired ? 'error' : 'in_progress';
  }
  return 'success';
}

/** What a check still waits for, in words: `scan gitleaks`, `output defectdojo for scan gitleaks`. */
export function awaited(state: CheckState): string[] {
  const waiting = Object.entries(state.scans)
    .filter(([, s]) => s.status === 'pending')
    .map(([name]) => `scan ${name}`);
  for (const o of Object.values(state.outputs)) if (o.status === 'pending' && state.scans[o.scan]?.status !== 'error') waiting.push(`output ${o.output} for scan ${o.scan}`);
  return waiting.length || state.job ? waiting : ['the job plan (no event.received)'];
}

export interface ActiveException {
  id: string;
  fingerprint: string;
  scope: ExceptionScope;
  owner: string;
  reason: string;
  expiresAt: string | null;
}

export function exceptionCovers(e: ActiveException, fingerprint: string, state: CheckState, now: Date): boolean {
  if (e.fingerprint !== fingerprint || (e.expiresAt && new Date(e.expiresAt) <= now) || !state.context) return false;
  if (e.scope.instanceHost !== state.context.instance.host) return false;
  return e.scope.kind === 'instance' || e.scope.projectPath === state.context.project.pathWithNamespace;
}

/** Every blocking finding of the check with the exception (built-in output only) that covers it, if any. */
export function blockingFindings(state: CheckState, exceptions: ActiveException[], now: Date) {
  return Object.values(state.outputs).flatMap((o) =>
    o.blocking.map((finding) => ({
      scan: o.scan,
      output: o.output,
      finding,
      exception: o.handler === 'builtin' ? exceptions.find((e) => exceptionCovers(e, finding.fingerprint, state, now)) : undefined,
    })),
  );
}

/**
 * The status as of `now`, with exceptions applied to the built-in output's findings (DefectDojo triages in
 * DefectDojo). Exceptions take effect on the next read and lapse at their expiry, without any event about
 * the check itself.
 */
export function effectiveStatus(state: CheckState, exceptions: ActiveException[], now: Date): Exclude<CheckStatus, 'not_started'> {
  if (state.status !== 'fail') return state.status;
  return statusOf(state, (o, f) => o.handler !== 'builtin' || !exceptions.some((e) => exceptionCovers(e, f.fingerprint, state, now)));
}

/** Why a check is `error`, in words a person can act on. */
export function errorReasons(state: CheckState): string[] {
  const reasons: string[] = [];
  if (state.planError) reasons.push(state.planError.reason);
  for (const [name, s] of Object.entries(state.scans)) if (s.status === 'error') reasons.push(`scan ${name}: ${s.reason ?? 'failed'}`);
  for (const o of Object.values(state.outputs)) if (o.status === 'error') reasons.push(`output ${o.output} (scan ${o.scan}): ${o.reason ?? 'failed'}`);
  if (state.expired && state.status === 'error' && reasons.length === 0) {
    reasons.push(`no result within ${state.expired.deadlineSeconds} s; still waiting for ${state.expired.waitedFor.join(', ')}`);
  }
  return reasons;
}

/** One line for the check's timeline; never contains a finding's content beyond counts. */
export function summarize(event: ProjectedEvent): string {
  switch (event.type) {
    case 'event.received': {
      const d = event.data;
      const who = d.user.username ?? d.user.name ?? 'someone';
      const what = d.range.kind === 'merge_request' ? `merge request !${d.range.iid}` : d.range.kind === 'tag' ? `tag ${d.range.tag}` : d.range.ref.replace(/^refs\/heads\//, 'branch ');
      const plan = d.job ? `job "${d.job.name}"` : `not planned: ${d.planError?.reason ?? 'no job'}`;
      return `${who} ${d.eventType === 'merge_request' ? 'updated' : 'pushed'} ${what} of ${d.project.pathWithNamespace} at ${d.commit.sha.slice(0, 8)}; ${plan}`;
    }
    case 'scan.completed':
      return event.data.status === 'ok'
        ? `scan ${event.data.scan} found ${event.data.findings.length} finding(s) in ${event.data.scanned?.description ?? 'the change'}`
        : `scan ${event.data.scan} failed: ${event.data.reason ?? 'unknown error'}`;
    case 'output.completed':
      return event.data.status === 'ok'
        ? `output ${event.data.output} (${event.data.trigger}, revision ${event.data.revision}): ${event.data.blocking.length} of ${event.data.findingsTotal} finding(s) block`
        : `output ${event.data.output} failed: ${event.data.reason ?? 'unknown error'}`;
    case 'notified':
      return `notifier ${event.data.notifier} ${event.data.status} to ${event.data.target}${event.data.reason ? `: ${event.data.reason}` : ''}`;
    case 'check.expired':
      return `deadline of ${event.data.deadlineSeconds} s passed; still waiting for ${event.data.waitedFor.join(', ')}`;
    case 'reevaluation.requested':
      return 'failed status read: outputs asked to look at triage again';
  }
}
