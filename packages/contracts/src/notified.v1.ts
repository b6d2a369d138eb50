import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/** A notifier told people (or failed to). Never changes the check's status. */
export const NotifiedV1 = defineEvent(
  'notified',
  1,
  z.object({
    notifier: z.string().min(1),
    handler: z.string().min(1),
    scan: z.string().min(1),
    output: z.string().min(1),
    status: z.enum(['sent', 'skipped', 'error']),
    reason: z.string().optional(),
    /** e.g. the Slack channel, or `commit-status`. */
    target: z.string(),
    findingsAnnounced: z.number().int().nonnegative(),
  }),
);
export type NotifiedV1 = EventOf<typeof NotifiedV1>;
