export * from './check-id.ts';
export * from './envelope.ts';
export * from './shared.ts';
export * from './stream.ts';
export { EventReceivedV1 } from './event-received.v1.ts';
export { ScanCompletedV1 } from './scan-completed.v1.ts';
export { OutputCompletedV1 } from './output-completed.v1.ts';
export { NotifiedV1 } from './notified.v1.ts';

import { EventReceivedV1 } from './event-received.v1.ts';
import { NotifiedV1 } from './notified.v1.ts';
import { OutputCompletedV1 } from './output-completed.v1.ts';
import { ScanCompletedV1 } from './scan-completed.v1.ts';
import type { EventReceivedV1 as EventReceived } from './event-received.v1.ts';
import type { NotifiedV1 as Notified } from './notified.v1.ts';
import type { OutputCompletedV1 as OutputCompleted } from './output-completed.v1.ts';
import type { ScanCompletedV1 as ScanCompleted } from './scan-completed.v1.ts';

/** Every event version SecBot publishes. A breaking change adds a new `.vN.ts` entry; old ones stay. */
export const events = { EventReceivedV1, ScanCompletedV1, OutputCompletedV1, NotifiedV1 } as const;
export type AnyEvent = EventReceived | ScanCompleted | OutputCompleted | Notified;
