import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * A check was still in progress past its deadline: it is `error` from now on, naming what it waited for.
 * Published by results (the id derives from the check, so replicas publish it once).
 */
export const CheckExpiredV1 = defineEvent(
  'check.expired',
  1,
  z.object({
    deadlineSeconds: z.number().int().positive(),
    /** e.g. `scan gitleaks`, `output defectdojo for scan gitleaks`. */
    waitedFor: z.array(z.string()).min(1),
  }),
);
export type CheckExpiredV1 = EventOf<typeof CheckExpiredV1>;
