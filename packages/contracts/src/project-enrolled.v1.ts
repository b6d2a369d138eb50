import { z } from 'zod';
import { defineGlobalEvent, type EventOf } from './envelope.ts';

/**
 * An operator accepted a project's existing history as its baseline (`secbot enroll --accept-history`): the
 * scanner scans the named branches as they stand, and what it finds there for the first time is reported to
 * the outputs without blocking. Findings SecBot recorded before stay as they are. The event is the audit
 * record: who, when, which branches. Not about one check, so no securityCheckId.
 */
export const ProjectEnrolledV1 = defineGlobalEvent(
  'project.enrolled',
  1,
  z.object({
    /** Host name as in GITLAB_CONFIGS, e.g. `gitlab.example.com`. */
    instanceHost: z.string().min(1).max(255),
    projectPath: z.string().min(1).max(500),
    acceptHistory: z.literal(true),
    /** Branches whose history becomes the baseline; empty: the project's default branch, read from GitLab. */
    branches: z.array(z.string().min(1).max(255)).max(100),
    actor: z.string().min(1).max(200),
    reason: z.string().max(2000).optional(),
  }),
);
export type ProjectEnrolledV1 = EventOf<typeof ProjectEnrolledV1>;
