import { Objm, type ObjectStore } from '@nats-io/obj';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { RetryableError } from '@secbot/service-kit';
import type { ReportLocation } from '../../handle-event-received.ts';

export interface ReportStore {
  put(name: string, content: string): Promise<ReportLocation>;
}

/**
 * Redacted reports too large for a message go to a JetStream object store bucket; scan.completed names the
 * bucket and object. The object name derives from (check, component), so a retry overwrites, not duplicates.
 */
export function createReportStore(nc: NatsConnection, bucket: string, opts: { retentionDays: number; replicas: number }): ReportStore {
  let store: Promise<ObjectStore> | undefined;
  return {
    async put(name, content) {
      // Kept as long as the event log that references them.
      store ??= new Objm(nc).create(bucket, {
        description: 'SecBot: redacted gitleaks reports',
        ttl: nanos(opts.retentionDays * 86_400_000),
        replicas: opts.replicas,
      });
      try {
        await (await store).putBlob({ name }, new TextEncoder().encode(content));
      } catch (err) {
        store = undefined;
        throw new RetryableError(`Could not store the report in object store bucket ${bucket}: ${(err as Error).message}`, { cause: err });
      }
      return { bucket, name };
    },
  };
}
