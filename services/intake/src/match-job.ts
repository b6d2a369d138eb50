import type { JobPlan } from '@secbot/contracts';
import type { Policy, PolicyComponent, PolicyJob } from '@secbot/service-kit';

/** Value at a dotted path (`project.path_with_namespace`, `labels.0.title`), as a string; undefined if absent. */
export function valueAt(payload: unknown, path: string): string | undefined {
  let cur: unknown = payload;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return typeof cur === 'string' || typeof cur === 'number' || typeof cur === 'boolean' ? String(cur) : undefined;
}

/**
 * The jobs whose rules for this input all match. `event_type` is SecBot's own name for the event
 * (push, tag_push, merge_request); every other key is a dotted path into the hook body.
 */
export function matchJobs(policy: Policy, input: string, eventType: string, payload: unknown): PolicyJob[] {
  return policy.jobs.filter((job) => {
    const rules = job.rules[input];
    if (!rules) return false;
    return rules.every((rule) => {
      const value = rule.path === 'event_type' ? eventType : valueAt(payload, rule.path);
      return value !== undefined && rule.pattern.test(value);
    });
  });
}

const plan = (c: PolicyComponent) => ({ name: c.name, handler: c.handler, config: c.config });

export function toJobPlan(job: PolicyJob): JobPlan {
  return { name: job.name, scans: job.scans.map(plan), outputs: job.outputs.map(plan), notifiers: job.notifiers.map(plan) };
}
