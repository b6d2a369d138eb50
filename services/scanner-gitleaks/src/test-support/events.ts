import { randomBytes, randomUUID } from 'node:crypto';
import { securityCheckId, type ChangeRange, type EventReceivedV1 } from '@secbot/contracts';

/**
 * A fake AWS access key id built at run time (never a literal in the repository): AKIA + 16 base32 chars.
 * gitleaks' aws-access-token rule ignores matches with Shannon entropy below 3, which about one random key in
 * a few hundred has (e.g. many repeated letters), so such keys are drawn again.
 */
export function fakeAwsKey(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  for (;;) {
    const key = 'AKIA' + [...randomBytes(16)].map((b) => alphabet[b % 32]).join('');
    if (shannonEntropy(key) >= 3.5) return key;
  }
}

export function shannonEntropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) h -= (n / s.length) * Math.log2(n / s.length);
  return h;
}

export interface EventInput {
  baseUrl: string;
  prefix?: string;
  project: string;
  range: ChangeRange;
  config?: Record<string, unknown>;
  components?: Array<{ name: string; config?: Record<string, unknown> }>;
  jobNull?: boolean;
  defaultBranch?: string;
}

/** An event.received as intake publishes it, for a project on the fake GitLab. */
export function anEventFor(input: EventInput): EventReceivedV1 {
  const { range } = input;
  const sha = range.kind === 'push' ? range.after : range.kind === 'tag' ? range.commit : range.lastCommit;
  const host = new URL(input.baseUrl).hostname;
  const prefix = input.prefix ?? 'GIT_LOCAL';
  const webUrl = `${input.baseUrl}${input.project}`;
  const components = input.components ?? [{ name: 'gitleaks', config: input.config ?? {} }];
  return {
    id: randomUUID(),
    type: 'event.received',
    version: 1,
    occurredAt: new Date().toISOString(),
    correlationId: `delivery-${randomUUID()}`,
    securityCheckId: securityCheckId(prefix, host, input.project, sha),
    source: 'test',
    data: {
      input: 'gitlab',
      instance: { host, url: input.baseUrl, prefix },
      eventType: range.kind === 'tag' ? 'tag_push' : range.kind,
      hook: 'project',
      delivery: { key: randomUUID(), keySource: 'idempotency-key' },
      project: { id: 1, pathWithNamespace: input.project, webUrl, gitHttpUrl: `${webUrl}.git`, defaultBranch: input.defaultBranch ?? 'main' },
      commit: { sha, ref: range.kind === 'merge_request' ? `refs/heads/${range.sourceBranch}` : range.ref },
      range,
      ...(range.kind === 'merge_request'
        ? { mergeRequest: { iid: range.iid, sourceBranch: range.sourceBranch, targetBranch: range.targetBranch } }
        : {}),
      user: { username: 'dev' },
      job: input.jobNull
        ? null
        : {
            name: 'Secrets in every change',
            scans: components.map((c) => ({ name: c.name, handler: 'gitleaks', config: c.config ?? {} })),
            outputs: [{ name: 'builtin', handler: 'builtin', config: {} }],
            notifiers: [],
          },
    },
  };
}
