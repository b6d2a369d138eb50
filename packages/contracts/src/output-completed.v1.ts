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

/** Re-evaluations (triage) of one evaluation fit between it and the next: at most this many per evaluation. */
export const REVISIONS_PER_EVALUATION = 1_000_000;

/**
 * The revision of an output's first decision on a scan: the scan.completed's position in the event log, so a
 * later evaluation of the same commit (another event, every one judged by the commit's whole history)
 * replaces an earlier one everywhere revisions are compared, and its triage re-evaluations (+1 each) stay
 * below the next evaluation.
 */
export const evaluationRevision = (scanStreamSequence: number): number => scanStreamSequence * REVISIONS_PER_EVALUATION;
