import { headers as natsHeaders } from '@nats-io/nats-core';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { EventDefinitionBase, EventOf, StreamSettings } from '@secbot/contracts';
import { RetryableError, TerminalError } from './errors.ts';
import type { Metrics } from './metrics.ts';
import { withPublishSpan } from './tracing.ts';

export interface PublishResult {
  seq: number;
  duplicate: boolean;
}

export interface Publisher {
  /**
   * Validates the event against its definition and resolves only once JetStream has stored it.
   * The envelope id is the `Nats-Msg-Id`, so publishing the same event twice stores it once.
   */
  publish<D extends EventDefinitionBase>(definition: D, event: EventOf<D>): Promise<PublishResult>;
}

export interface PublisherOptions {
  js: JetStreamClient;
  stream: StreamSettings;
  metrics?: Metrics;
  timeoutMs?: number;
}

export function createPublisher({ js, stream, metrics, timeoutMs = 5000 }: PublisherOptions): Publisher {
  return {
    async publish(definition, event) {
      const parsed = definition.schema.safeParse(event);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
        throw new TerminalError(`Refusing to publish an invalid ${definition.type} v${definition.version} event: ${issues}`);
      }
      const subject = definition.subject(stream.prefix);
      const h = natsHeaders();
      h.set('Secbot-Correlation-Id', parsed.data.correlationId);
      if (parsed.data.securityCheckId) h.set('Secbot-Security-Check-Id', parsed.data.securityCheckId);
      const payload = JSON.stringify(parsed.data);
      try {
        const ack = await withPublishSpan(subject, h, () =>
          js.publish(subject, payload, { msgID: parsed.data.id, headers: h, timeout: timeoutMs, expect: { streamName: stream.name } }),
        );
        metrics?.eventsPublished.inc({ subject, duplicate: String(ack.duplicate) });
        return { seq: ack.seq, duplicate: ack.duplicate };
      } catch (err) {
        throw new RetryableError(`JetStream did not acknowledge ${subject}: ${(err as Error).message}`, { cause: err });
      }
    },
  };
}
