import { deterministicId, type EventReceivedV1, type JobPlan } from '@secbot/contracts';
import type { GitLabInstanceConfig } from '@secbot/service-kit';
import type { Change } from './to-change.ts';

export interface EventInput {
  /** The instance's host name, as CI_SERVER_HOST. */
  host: string;
  instance: GitLabInstanceConfig;
  kind: EventReceivedV1['data']['eventType'];
  hook: EventReceivedV1['data']['hook'];
  delivery: EventReceivedV1['data']['delivery'];
  checkId: string;
  change: Change;
  job: JobPlan | null;
  planError?: { reason: string; jobs: string[] };
  ciJob?: EventReceivedV1['data']['ciJob'];
  now: Date;
}

/** The event.received intake publishes, from a GitLab hook or a CI job's announcement. */
export function buildEventReceived(input: EventInput): EventReceivedV1 {
  const { host, instance, kind, delivery, checkId, change } = input;
  return {
    id: deterministicId('event.received', host, delivery.keySource, delivery.key, kind, checkId),
    type: 'event.received',
    version: 1,
    occurredAt: input.now.toISOString(),
    correlationId: delivery.key,
    securityCheckId: checkId,
    source: 'intake',
    data: {
      input: 'gitlab',
      instance: { host, url: instance.host, prefix: instance.prefix },
      eventType: kind,
      hook: input.hook,
      delivery,
      project: change.project,
      commit: change.commit,
      range: change.range,
      ...(change.mergeRequest ? { mergeRequest: change.mergeRequest } : {}),
      user: change.user,
      job: input.job,
      ...(input.planError ? { planError: input.planError } : {}),
      ...(input.ciJob ? { ciJob: input.ciJob } : {}),
    },
  };
}
