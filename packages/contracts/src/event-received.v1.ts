import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';
import { Actor, ChangeRange, CommitRef, Instance, JobPlan, MergeRequestRef, Project } from './shared.ts';

/**
 * Intake accepted a GitLab event for a check. Published once per delivery (the id derives from it).
 * Every later service takes what it needs from here: where the code is, what the change adds, the plan.
 */
export const EventReceivedV1 = defineEvent(
  'event.received',
  1,
  z.object({
    input: z.literal('gitlab'),
    instance: Instance,
    eventType: z.enum(['push', 'tag_push', 'merge_request']),
    /** `system` for a system hook, `project` for a project or group webhook. */
    hook: z.enum(['system', 'project']),
    delivery: z.object({
      key: z.string().min(1),
      keySource: z.enum(['idempotency-key', 'event-uuid', 'body-sha256']),
      gitlabInstance: z.string().optional(),
      userAgent: z.string().optional(),
    }),
    project: Project,
    commit: CommitRef,
    range: ChangeRange,
    mergeRequest: MergeRequestRef.optional(),
    user: Actor,
    /** The matched job, or null when the check could not be planned (see `planError`). */
    job: JobPlan.nullable(),
    /** Set when more than one job matched: the check is recorded as `error` and nothing runs. */
    planError: z.object({ reason: z.string(), jobs: z.array(z.string()) }).optional(),
    /**
     * Set when no hook announced the commit but a CI job of the project did (fork MRs, merged results
     * pipelines): GitLab confirmed, for the job's token, that the job runs in this project on this commit.
     */
    ciJob: z.object({ id: z.number().int(), pipelineId: z.number().int().optional() }).optional(),
  }),
);
export type EventReceivedV1 = EventOf<typeof EventReceivedV1>;
