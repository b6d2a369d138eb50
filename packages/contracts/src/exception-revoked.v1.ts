import { z } from 'zod';
import { defineGlobalEvent, type EventOf } from './envelope.ts';

/** An exception stopped applying before its expiry; the finding blocks again from the next status read. */
export const ExceptionRevokedV1 = defineGlobalEvent(
  'exception.revoked',
  1,
  z.object({
    exceptionId: z.uuid(),
    revokedBy: z.string().min(1).max(200),
  }),
);
export type ExceptionRevokedV1 = EventOf<typeof ExceptionRevokedV1>;
