import type { CheckContext, EventReceivedV1, Finding, JobPlan, OutputCompletedV1, ScanCompletedV1, CheckExpiredV1 } from '@secbot/contracts';

export type CommitState = 'pending' | 'running' | 'success' | 'failed';

/** At most this many blocking findings are kept per output (the note lists fewer); the count stays exact. */
export const KEPT_FINDINGS = 50;

export interface OutputSeen {
  revision: number;
  status: 'ok' | 'error';
  reason?: string;
  blockingCount: number;
  blocking: Finding[];
}

/** What the notifier knows about one check, from the events it has seen. */
export interface CheckView {
  job: { scans: string[]; outputs: string[] } | null;
  planError?: string;
  scans: Record<string, { status: 'ok' | 'error'; reason?: string }>;
  /** Keyed `scan/output`. */
  outputs: Record<string, OutputSeen>;
  expired?: { waitedFor: string[] };
}

export const emptyView = (): CheckView => ({ job: null, scans: {}, outputs: {} });

const planOf = (job: JobPlan) => ({ scans: job.scans.map((s) => s.name), outputs: job.outputs.map((o) => o.name) });

export type SeenEvent = EventReceivedV1 | ScanCompletedV1 | OutputCompletedV1 | CheckExpiredV1;

/** Folds one event into the view. An older revision of an output than one seen changes nothing. */
export function evolveView(view: CheckView, event: SeenEvent): CheckView {
  switch (event.type) {
    case 'event.received':
      if (view.job) return view;
      return {
        ...view,
        job: event.data.job ? planOf(event.data.job) : null,
        ...(event.data.planError ? { planError: event.data.planError.reason } : {}),
      };
    case 'scan.completed':
      // A completed evaluation stands, as in results: a later one that could not finish changes nothing.
      if (event.data.status === 'error' && view.scans[event.data.scan]?.status === 'ok') return view;
      return {
        ...view,
        job: view.job ?? planOf(event.data.context.job),
        scans: { ...view.scans, [event.data.scan]: { status: event.data.status, ...(event.data.reason ? { reason: event.data.reason } : {}) } },
      };
    case 'output.completed': {
      const key = `${event.data.scan}/${event.data.output}`;
      const current = view.outputs[key];
      if (current && current.revision > event.data.revision) return view;
      if (event.data.status === 'error' && current?.status === 'ok') return view;
      return {
        ...view,
        job: view.job ?? planOf(event.data.context.job),
        outputs: {
          ...view.outputs,
          [key]: {
            revision: event.data.revision,
            status: event.data.status,
            ...(event.data.reason ? { reason: event.data.reason } : {}),
            blockingCount: event.data.blocking.length,
            blocking: event.data.blocking.slice(0, KEPT_FINDINGS),
          },
        },
      };
    }
    case 'check.expired':
      return { ...view, expired: { waitedFor: event.data.waitedFor } };
  }
}

export interface Verdict {
  state: CommitState;
  /** ≤ 255 characters (GitLab's limit). */
  description: string;
  /** Blocking findings, worst first (at most KEPT_FINDINGS per output). */
  blocking: Finding[];
  blockingCount: number;
  /** Why the check could not finish, when it could not. */
  errors: string[];
}

const SEVERITY_ORDER: Record<Finding['severity'], number> = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };

export const truncate = (text: string, max: number): string => ([...text].length <= max ? text : `${[...text].slice(0, max - 1).join('')}…`);

/**
 * The commit status, computed conservatively from the events seen, as results computes the check status:
 * `failed` as soon as anything blocks or anything failed (a scan or output error, no plan, the deadline);
 * `success` only when every (scan, output) pair of the job has reported and nothing blocks; `running`
 * after the first scan reported; `pending` before. Limits: exceptions granted through the results API
 * for the built-in output are applied by results when it answers the gate, not here, so such a check
 * shows `failed` here until its output publishes a new revision; and what a notifier never sees (an
 * event it was not subscribed to) it cannot count.
 */
export function verdictOf(view: CheckView): Verdict {
  const errors: string[] = [];
  if (view.planError) errors.push(view.planError);
  for (const [name, s] of Object.entries(view.scans)) if (s.status === 'error') errors.push(`scan ${name}: ${s.reason ?? 'failed'}`);
  for (const [key, o] of Object.entries(view.outputs)) if (o.status === 'error') errors.push(`output ${key.split('/')[1] ?? key}: ${o.reason ?? 'failed'}`);
  const outputs = Object.values(view.outputs).filter((o) => o.status === 'ok');
  const blocking = outputs
    .flatMap((o) => o.blocking)
    .sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || a.file.localeCompare(b.file) || a.startLine - b.startLine);
  const blockingCount = outputs.reduce((n, o) => n + o.blockingCount, 0);
  const expected = view.job ? view.job.scans.flatMap((s) => view.job?.outputs.map((o) => `${s}/${o}`) ?? []) : [];
  const complete = view.job !== null && expected.every((k) => view.outputs[k] !== undefined || view.scans[k.split('/')[0] ?? '']?.status === 'error');

  if (blockingCount > 0) {
    const first = blocking[0];
    const where = first ? `: ${first.ruleId} in ${first.file}:${first.startLine}${blockingCount > 1 ? ` and ${blockingCount - 1} more` : ''}` : '';
    return { state: 'failed', description: truncate(`SecBot: ${blockingCount} blocking secret${blockingCount === 1 ? '' : 's'}${where}`, 255), blocking, blockingCount, errors };
  }
  if (errors.length) return { state: 'failed', description: truncate(`SecBot could not check this change: ${errors.join('; ')}`, 255), blocking, blockingCount, errors };
  if (view.expired && !complete) {
    const reason = `no result in time; waited for ${view.expired.waitedFor.join(', ')}`;
    return { state: 'failed', description: truncate(`SecBot could not check this change: ${reason}`, 255), blocking, blockingCount, errors: [reason] };
  }
  if (complete) return { state: 'success', description: 'SecBot: no blocking secrets', blocking, blockingCount, errors };
  if (Object.keys(view.scans).length > 0 || Object.keys(view.outputs).length > 0) {
    return { state: 'running', description: 'SecBot: scanned; waiting for the decision on the findings', blocking, blockingCount, errors };
  }
  return { state: 'pending', description: 'SecBot is checking this change for secrets', blocking, blockingCount, errors };
}

/** Where the status goes: the checked commit, in the project that has it (a fork's for a fork MR), and its ref. */
export function statusTarget(context: CheckContext): { projectId: number; sha: string; ref: string | undefined } {
  const range = context.range;
  const ref =
    range.kind === 'merge_request' ? range.sourceBranch : range.kind === 'tag' ? range.tag : range.ref.replace(/^refs\/heads\//, '');
  const projectId = range.kind === 'merge_request' ? (context.mergeRequest?.sourceProjectId ?? context.project.id) : context.project.id;
  return { projectId, sha: context.commit.sha, ref };
}
