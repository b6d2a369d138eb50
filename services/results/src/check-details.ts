import { blockingFindings, effectiveStatus, errorReasons, type ActiveException, type CheckState } from './check-status.ts';

export interface TimelineEntry {
  seq: number;
  type: string;
  version: number;
  source: string;
  occurredAt: Date;
  summary: string;
}

/** What a person wants to see about one check. Built only from the projection; never carries a secret. */
export function toCheckDetails(
  id: string,
  state: CheckState,
  timeline: TimelineEntry[],
  selfUrl: string,
  exceptions: ActiveException[] = [],
  now: Date = new Date(),
) {
  const ctx = state.context;
  const outputs = Object.values(state.outputs);
  const listed = blockingFindings(state, exceptions, now).map(({ scan, output, finding: f, exception }) => ({
    exception,
    scan,
    output,
    rule: f.ruleId,
    description: f.description,
    file: f.file,
    line: f.startLine,
    end_line: f.endLine,
    commit: f.commit,
    author: f.author ?? null,
    date: f.date ?? null,
    fingerprint: f.fingerprint,
    severity: f.severity,
    links: {
      ...(ctx && f.commit && /^[0-9a-f]{40}/.test(f.commit)
        ? { file: `${ctx.project.webUrl}/-/blob/${f.commit}/${f.file.split('/').map(encodeURIComponent).join('/')}#L${f.startLine}` }
        : {}),
      ...f.links,
    },
  }));
  const blocking = listed.filter((f) => !f.exception).map(({ exception: _e, ...f }) => f);
  const excepted = listed.flatMap(({ exception, ...f }) =>
    exception ? [{ ...f, exception: { id: exception.id, owner: exception.owner, reason: exception.reason, expires_at: exception.expiresAt } }] : [],
  );
  return {
    security_check_id: id,
    status: effectiveStatus(state, exceptions, now),
    reasons: errorReasons(state),
    project: ctx ? { id: ctx.project.id, path: ctx.project.pathWithNamespace, web_url: ctx.project.webUrl, default_branch: ctx.project.defaultBranch } : null,
    instance: ctx ? { host: ctx.instance.host, prefix: ctx.instance.prefix } : null,
    event_type: ctx?.eventType ?? null,
    commit: ctx ? { sha: ctx.commit.sha, ref: ctx.commit.ref, title: ctx.commit.title ?? null, url: ctx.commit.url ?? `${ctx.project.webUrl}/-/commit/${ctx.commit.sha}` } : null,
    range: ctx?.range ?? null,
    merge_request: ctx?.mergeRequest ?? null,
    pushed_by: ctx ? ctx.user : null,
    job: state.job
      ? { name: state.job.name, scans: state.job.scans.map((c) => c.name), outputs: state.job.outputs.map((c) => c.name), notifiers: state.job.notifiers.map((c) => c.name) }
      : null,
    plan_error: state.planError ?? null,
    deliveries: state.triggers,
    correlation_id: state.correlationId,
    received_at: state.receivedAt,
    updated_at: state.updatedAt,
    completed_at: state.completedAt ?? null,
    scans: Object.entries(state.scans).map(([name, s]) => ({
      name,
      status: s.status,
      reason: s.reason ?? null,
      findings: s.findings,
      duration_ms: s.durationMs ?? null,
      tool: s.tool ?? null,
      scanned: s.scanned ?? null,
      rules_source: s.rulesSource ?? null,
      completed_at: s.completedAt ?? null,
    })),
    outputs: outputs.map((o) => ({
      scan: o.scan,
      output: o.output,
      status: o.status,
      reason: o.reason ?? null,
      revision: o.revision,
      findings_total: o.findingsTotal,
      blocking: o.blocking.length,
      links: o.links,
      updated_at: o.updatedAt ?? null,
    })),
    notifications: state.notifications,
    counts: {
      findings: Object.values(state.scans).reduce((n, s) => n + s.findings, 0),
      blocking: blocking.length,
    },
    blocking_findings: blocking,
    excepted_findings: excepted,
    expired: state.expired ?? null,
    links: { self: selfUrl, ...(ctx ? { project: ctx.project.webUrl } : {}) },
    timeline: timeline.map((t) => ({ seq: t.seq, at: t.occurredAt.toISOString(), type: t.type, version: t.version, source: t.source, summary: t.summary })),
  };
}
export type CheckDetails = ReturnType<typeof toCheckDetails>;
