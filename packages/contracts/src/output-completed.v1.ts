import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';
import { CheckContext, Finding } from './shared.ts';

/**
 * An output decided which findings of one scan block the change. Published once per (scan, output) after
 * the scan, and again whenever the decision changes without a rescan (triage, an exception): the latest wins.
 */
export const OutputCompletedV1 = defineEvent(
  'output.completed',
  1,
  z.object({
    context: CheckContext,
    scan: z.string().min(1),
    output: z.string().min(1),
    handler: z.string().min(1),
    status: z.enum(['ok', 'error']),
    reason: z.string().optional(),
    trigger: z.enum(['scan', 'reevaluation']),
    /** Monotonic per (check, scan, output): a re-evaluation carries a higher revision. */
    revision: z.number().int().nonnegative(),
    findingsTotal: z.number().int().nonnegative(),
    blocking: z.array(Finding),
    links: z.record(z.string(), z.url()).default({}),
  }),
);
export type OutputCompletedV1 = EventOf<typeof OutputCompletedV1>;
