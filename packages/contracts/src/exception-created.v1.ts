import { z } from 'zod';
import { defineGlobalEvent, type EventOf } from './envelope.ts';

export const ExceptionScope = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('project'), instanceHost: z.string().min(1), projectPath: z.string().min(1) }),
  z.object({ kind: z.literal('instance'), instanceHost: z.string().min(1) }),
]);
export type ExceptionScope = z.infer<typeof ExceptionScope>;

/**
 * Someone accepted a finding (by fingerprint) for a project or a whole GitLab instance: the built-in output
 * no longer blocks on it while the exception is active. Not about one check, so no securityCheckId.
 */
export const ExceptionCreatedV1 = defineGlobalEvent(
  'exception.created',
  1,
  z.object({
    exceptionId: z.uuid(),
    fingerprint: z.string().min(1).max(500),
    scope: ExceptionScope,
    owner: z.string().min(1).max(200),
    reason: z.string().min(1).max(2000),
    /** null: until revoked. */
    expiresAt: z.iso.datetime({ offset: true }).nullable(),
  }),
);
export type ExceptionCreatedV1 = EventOf<typeof ExceptionCreatedV1>;
