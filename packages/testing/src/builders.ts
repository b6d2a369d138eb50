import { randomBytes } from 'node:crypto';
import {
  deterministicId,
  securityCheckId,
  type CheckContext,
  type CheckExpiredV1,
  type EventReceivedV1,
  type Finding,
  type JobPlan,
  type NotifiedV1,
  type OutputCompletedV1,
  type ScanCompletedV1,
} from '@secbot/contracts';

/** Builders for events and findings, so tests say only what matters to them. */

// Random, not a counter: checks built in different test files or processes never collide.
const nextSha = () => randomBytes(20).toString('hex');

export function aJobPlan(overrides: Partial<JobPlan> = {}): JobPlan {
  return {
    name: 'Secrets in every change',
    scans: [{ name: 'gitleaks', handler: 'gitleaks', config: {} }],
    outputs: [{ name: 'builtin', handler: 'builtin', config: {} }],
    notifiers: [],
    ...overrides,
  };
}

export function aFinding(overrides: Partial<Finding> = {}): Finding {
  return {
    fingerprint: 'aws-access-token:0123456789abcdef',
    ruleId: 'aws-access-token',
    description: 'AWS access key',
    file: 'config/deploy.yml',
    startLine: 3,
    endLine: 3,
    commit: 'a'.repeat(40),
    tags: [],
    severity: 'high',
    links: {},
    ...overrides,
  };
}

export interface CheckFixture {
  securityCheckId: string;
  sha: string;
  correlationId: string;
  context: CheckContext;
}

export function aCheck(opts: { sha?: string; project?: string; job?: JobPlan; host?: string; instanceUrl?: string } = {}): CheckFixture {
  const sha = opts.sha ?? nextSha();
  const project = opts.project ?? 'mike/diaspora';
  const host = opts.host ?? 'example.com';
  return {
    sha,
    securityCheckId: securityCheckId('GIT_LOCAL', host, project, sha),
    correlationId: `delivery-${sha.slice(0, 8)}`,
    context: {
      instance: { host, url: opts.instanceUrl ?? `http://${host}/`, prefix: 'GIT_LOCAL' },
      eventType: 'push',
      project: { id: 15, pathWithNamespace: project, webUrl: `${opts.instanceUrl ?? `http://${host}/`}${project}`, gitHttpUrl: `${opts.instanceUrl ?? `http://${host}/`}${project}.git`, defaultBranch: 'master' },
      commit: { sha, ref: 'refs/heads/master' },
      range: { kind: 'push', ref: 'refs/heads/master', before: 'b'.repeat(40), after: sha },
      user: { id: 4, username: 'jsmith', name: 'John Smith' },
      job: opts.job ?? aJobPlan(),
    },
  };
}

const envelope = (check: CheckFixture, type: string, source: string, idParts: string[], occurredAt: string) => ({
  id: deterministicId(type, check.securityCheckId, ...idParts),
  version: 1 as const,
  occurredAt,
  correlationId: check.correlationId,
  securityCheckId: check.securityCheckId,
  source,
});

export function anEventReceived(
  check: CheckFixture,
  opts: { at?: string; delivery?: string; planError?: { reason: string; jobs: string[] } } = {},
): EventReceivedV1 {
  const { job, ...ctx } = check.context;
  return {
    ...envelope(check, 'event.received', 'intake', [opts.delivery ?? check.correlationId], opts.at ?? '2026-11-23T10:00:00.000Z'),
    type: 'event.received',
    data: {
      input: 'gitlab',
      hook: 'system',
      delivery: { key: opts.delivery ?? check.correlationId, keySource: 'idempotency-key' },
      ...ctx,
      job: opts.planError ? null : job,
      ...(opts.planError ? { planError: opts.planError } : {}),
    },
  };
}

export function aScanCompleted(
  check: CheckFixture,
  opts: { scan?: string; findings?: Finding[]; status?: 'ok' | 'error'; reason?: string; at?: string } = {},
): ScanCompletedV1 {
  const scan = opts.scan ?? 'gitleaks';
  return {
    ...envelope(check, 'scan.completed', 'scanner-gitleaks', [scan], opts.at ?? '2026-11-23T10:00:05.000Z'),
    type: 'scan.completed',
    data: {
      context: check.context,
      scan,
      handler: 'gitleaks',
      status: opts.status ?? 'ok',
      ...(opts.reason ? { reason: opts.reason } : {}),
      commit: check.sha,
      scanned: { description: `${'b'.repeat(7)}..${check.sha.slice(0, 7)}`, commits: 1, bytes: 100 },
      durationMs: 120,
      tool: { name: 'gitleaks', version: 'v8.30.1' },
      findings: opts.findings ?? [],
    },
  };
}

export function anOutputCompleted(
  check: CheckFixture,
  opts: { scan?: string; output?: string; blocking?: Finding[]; status?: 'ok' | 'error'; reason?: string; revision?: number; at?: string; findingsTotal?: number } = {},
): OutputCompletedV1 {
  const scan = opts.scan ?? 'gitleaks';
  const output = opts.output ?? 'builtin';
  const revision = opts.revision ?? 0;
  const blocking = opts.blocking ?? [];
  return {
    ...envelope(check, 'output.completed', 'output-builtin', [scan, output, String(revision)], opts.at ?? '2026-11-23T10:00:06.000Z'),
    type: 'output.completed',
    data: {
      context: check.context,
      scan,
      output,
      handler: output,
      status: opts.status ?? 'ok',
      ...(opts.reason ? { reason: opts.reason } : {}),
      trigger: revision === 0 ? 'scan' : 'reevaluation',
      revision,
      findingsTotal: opts.findingsTotal ?? blocking.length,
      blocking,
      links: {},
    },
  };
}

export function aNotified(check: CheckFixture, opts: { status?: 'sent' | 'skipped' | 'error'; at?: string } = {}): NotifiedV1 {
  return {
    ...envelope(check, 'notified', 'notifier-slack', ['slack', 'c'], opts.at ?? '2026-11-23T10:00:07.000Z'),
    type: 'notified',
    data: { notifier: 'slack', handler: 'slack', scan: 'gitleaks', output: 'builtin', status: opts.status ?? 'sent', target: '#security', findingsAnnounced: 1 },
  };
}

export function aCheckExpired(check: CheckFixture, waitedFor: string[], opts: { at?: string } = {}): CheckExpiredV1 {
  return {
    ...envelope(check, 'check.expired', 'results', ['expired'], opts.at ?? '2026-11-23T10:30:00.000Z'),
    type: 'check.expired',
    data: { deadlineSeconds: 1800, waitedFor },
  };
}
