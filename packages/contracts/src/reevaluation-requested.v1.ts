import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * Someone read a failed check's status (the CI gate polling): outputs backed by an external system
 * (DefectDojo) should look again at triage now rather than at their next periodic pass. Published by
 * results at most once per check per `windowSeconds` (the id derives from the check and the window).
 */
export const ReevaluationRequestedV1 = defineEvent(
  'reevaluation.requested',
  1,
  z.object({
    reason: z.literal('status-read'),
    windowSeconds: z.number().int().positive(),
  }),
);
export type ReevaluationRequestedV1 = EventOf<typeof ReevaluationRequestedV1>;
