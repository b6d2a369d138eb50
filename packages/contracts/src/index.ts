export * from './check-id.ts';
export * from './envelope.ts';
export * from './shared.ts';
export * from './stream.ts';
export * from './git-names.ts';
export { EventReceivedV1 } from './event-received.v1.ts';
export { ScanCompletedV1 } from './scan-completed.v1.ts';
export { OutputCompletedV1, evaluationRevision, REVISIONS_PER_EVALUATION } from './output-completed.v1.ts';
export { NotifiedV1 } from './notified.v1.ts';
export { ExceptionCreatedV1, ExceptionScope } from './exception-created.v1.ts';
export { ExceptionRevokedV1 } from './exception-revoked.v1.ts';
export { CheckExpiredV1 } from './check-expired.v1.ts';
export { ReevaluationRequestedV1 } from './reevaluation-requested.v1.ts';
export { ProjectEnrolledV1 } from './project-enrolled.v1.ts';

import { EventReceivedV1 } from './event-received.v1.ts';
import { NotifiedV1 } from './notified.v1.ts';
import { OutputCompletedV1 } from './output-completed.v1.ts';
import { ScanCompletedV1 } from './scan-completed.v1.ts';
import { ExceptionCreatedV1 } from './exception-created.v1.ts';
import { ExceptionRevokedV1 } from './exception-revoked.v1.ts';
import { CheckExpiredV1 } from './check-expired.v1.ts';
import { ReevaluationRequestedV1 } from './reevaluation-requested.v1.ts';
import { ProjectEnrolledV1 } from './project-enrolled.v1.ts';
import type { EventReceivedV1 as EventReceived } from './event-received.v1.ts';
import type { NotifiedV1 as Notified } from './notified.v1.ts';
import type { OutputCompletedV1 as OutputCompleted } from './output-completed.v1.ts';
import type { ScanCompletedV1 as ScanCompleted } from './scan-completed.v1.ts';
import type { CheckExpiredV1 as CheckExpired } from './check-expired.v1.ts';
import type { ReevaluationRequestedV1 as ReevaluationRequested } from './reevaluation-requested.v1.ts';
import type { ExceptionCreatedV1 as ExceptionCreated } from './exception-created.v1.ts';
import type { ExceptionRevokedV1 as ExceptionRevoked } from './exception-revoked.v1.ts';
import type { ProjectEnrolledV1 as ProjectEnrolled } from './project-enrolled.v1.ts';

/** Every event version SecBot publishes. A breaking change adds a new `.vN.ts` entry; old ones stay. */
export const events = {
  EventReceivedV1,
  ScanCompletedV1,
  OutputCompletedV1,
  NotifiedV1,
  CheckExpiredV1,
  ReevaluationRequestedV1,
  ExceptionCreatedV1,
  ExceptionRevokedV1,
  ProjectEnrolledV1,
} as const;
/** Events about one check. */
export type AnyEvent = EventReceived | ScanCompleted | OutputCompleted | Notified | CheckExpired | ReevaluationRequested;
/** Events about no single check. */
export type AnyGlobalEvent = ExceptionCreated | ExceptionRevoked | ProjectEnrolled;

type KnownDefinition = (typeof events)[keyof typeof events];

/** The definition whose subject this is under `prefix`, or undefined for a subject SecBot does not know. */
export function definitionForSubject(prefix: string, subject: string): KnownDefinition | undefined {
  return Object.values(events).find((d) => d.subject(prefix) === subject);
}

/** Parses a stored message into its event: 'unknown' for another subject, 'invalid' when it breaks its schema. */
export function decodeEvent(prefix: string, subject: string, payload: unknown): AnyEvent | AnyGlobalEvent | 'unknown' | 'invalid' {
  const definition = definitionForSubject(prefix, subject);
  if (!definition) return 'unknown';
  const parsed = definition.schema.safeParse(payload);
  return parsed.success ? (parsed.data) : 'invalid';
}
