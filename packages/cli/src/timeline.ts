import type { AnyEvent, AnyGlobalEvent } from '@secbot/contracts';

export interface ReplayEntry {
  seq: number;
  at: string;
  type: string;
  source: string;
  text: string;
}

export interface CheckStory {
  securityCheckId: string;
  project: string | null;
  commit: string | null;
  entries: ReplayEntry[];
}

/** One line per event, in words an auditor reads: who pushed what, which job, what was found, triage, notifications. */
export function describe(event: AnyEvent): string {
  switch (event.type) {
    case 'event.received': {
      const d = event.data;
      const who = d.user.username ?? d.user.name ?? 'someone';
      const what = d.range.kind === 'merge_request' ? `merge request !${d.range.iid} (${d.range.sourceBranch} → ${d.range.targetBranch})` : d.range.kind === 'tag' ? `tag ${d.range.tag}` : `branch ${d.range.ref.replace(/^refs\/heads\//, '')}`;
      const plan = d.job
        ? `job "${d.job.name}": scans ${d.job.scans.map((c) => c.name).join(', ')}; outputs ${d.job.outputs.map((c) => c.name).join(', ')}${d.job.notifiers.length ? `; notifiers ${d.job.notifiers.map((c) => c.name).join(', ')}` : ''}`
        : `not planned: ${d.planError?.reason ?? 'no job'}`;
      return `${who} ${d.eventType === 'merge_request' ? `updated ${what}` : `pushed ${what}`} of ${d.project.pathWithNamespace} at ${d.commit.sha.slice(0, 12)} (${d.hook} hook, delivery ${d.delivery.key}); ${plan}`;
    }
    case 'scan.completed': {
      const d = event.data;
      if (d.status === 'error') return `scan ${d.scan} failed after ${Math.round(d.durationMs)} ms: ${d.reason ?? 'no reason'}`;
      const rules = [...new Set(d.findings.map((f) => f.ruleId))];
      return `scan ${d.scan} (${d.tool?.name ?? d.handler} ${d.tool?.version ?? ''}) scanned ${d.scanned?.description ?? 'the change'}${d.scanned ? ` (${d.scanned.commits} commits)` : ''} in ${Math.round(d.durationMs)} ms: ${d.findings.length} finding(s)${rules.length ? ` [${rules.join(', ')}]` : ''}`;
    }
    case 'output.completed': {
      const d = event.data;
      if (d.status === 'error') return `output ${d.output} for scan ${d.scan} failed: ${d.reason ?? 'no reason'}`;
      const why = d.trigger === 'reevaluation' ? `triage changed (revision ${d.revision})` : 'decided';
      return `output ${d.output} ${why}: ${d.blocking.length} of ${d.findingsTotal} finding(s) block${d.blocking.length ? ` [${d.blocking.map((f) => `${f.ruleId} ${f.file}:${f.startLine}`).join('; ')}]` : ''}`;
    }
    case 'notified':
      return `notifier ${event.data.notifier} ${event.data.status} → ${event.data.target} (${event.data.findingsAnnounced} announced)${event.data.reason ? `: ${event.data.reason}` : ''}`;
    case 'check.expired':
      return `deadline of ${event.data.deadlineSeconds} s passed; still waiting for ${event.data.waitedFor.join(', ')}`;
    case 'reevaluation.requested':
      return 'a failed status was read; outputs asked to re-read triage';
  }
}

export function describeGlobal(event: AnyGlobalEvent): string {
  if (event.type === 'exception.created') {
    const d = event.data;
    const scope = d.scope.kind === 'project' ? `project ${d.scope.projectPath} on ${d.scope.instanceHost}` : `instance ${d.scope.instanceHost}`;
    return `${d.owner} accepted ${d.fingerprint} for ${scope}${d.expiresAt ? ` until ${d.expiresAt}` : ''}: ${d.reason} (exception ${d.exceptionId})`;
  }
  if (event.type === 'project.enrolled') {
    const d = event.data;
    const branches = d.branches.length ? d.branches.join(', ') : 'the default branch';
    return `${d.actor} accepted the history of ${branches} of ${d.projectPath} on ${d.instanceHost} as its baseline${d.reason ? `: ${d.reason}` : ''}`;
  }
  return `${event.data.revokedBy} revoked exception ${event.data.exceptionId}`;
}

export interface ReplayFilter {
  check?: string;
  project?: string;
}

/** Groups the events into each check's story; exceptions that concern a story's findings are woven in. */
export function buildStories(events: Array<{ seq: number; event: AnyEvent | AnyGlobalEvent }>, filter: ReplayFilter): { stories: CheckStory[]; exceptions: ReplayEntry[] } {
  const stories = new Map<string, CheckStory>();
  const exceptions: ReplayEntry[] = [];
  for (const { seq, event } of events) {
    if (!('securityCheckId' in event)) {
      exceptions.push({ seq, at: event.occurredAt, type: event.type, source: event.source, text: describeGlobal(event) });
      continue;
    }
    let story = stories.get(event.securityCheckId);
    if (!story) {
      story = { securityCheckId: event.securityCheckId, project: null, commit: null, entries: [] };
      stories.set(event.securityCheckId, story);
    }
    if (event.type === 'event.received') {
      story.project ??= event.data.project.pathWithNamespace;
      story.commit ??= event.data.commit.sha;
    } else if (event.type === 'scan.completed' || event.type === 'output.completed') {
      story.project ??= event.data.context.project.pathWithNamespace;
      story.commit ??= event.data.context.commit.sha;
    }
    story.entries.push({ seq, at: event.occurredAt, type: event.type, source: event.source, text: describe(event) });
  }
  const selected = [...stories.values()].filter(
    (s) => (!filter.check || s.securityCheckId === filter.check) && (!filter.project || s.project === filter.project),
  );
  const fingerprints = new Set(
    events.flatMap(({ event }) =>
      'securityCheckId' in event && selected.some((s) => s.securityCheckId === event.securityCheckId) && event.type === 'output.completed'
        ? event.data.blocking.map((f) => f.fingerprint)
        : [],
    ),
  );
  const relevant = exceptions.filter((e) => [...fingerprints].some((fp) => e.text.includes(fp)) || !filter.check);
  return { stories: selected, exceptions: relevant };
}
