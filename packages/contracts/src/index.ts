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

/** Every event version SecBot publishes. A breaking change adds a new `.vN.ts` entry; old ones stay. */
export const events = { EventReceivedV1, ScanCompletedV1, OutputCompletedV1, NotifiedV1 } as const;
export type AnyEvent =
  | import('./event-received.v1.ts').EventReceivedV1
  | import('./scan-completed.v1.ts').ScanCompletedV1
  | import('./output-completed.v1.ts').OutputCompletedV1
  | import('./notified.v1.ts').NotifiedV1;
