import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { EventReceivedV1, NotifiedV1, OutputCompletedV1, ScanCompletedV1, type StreamSettings } from '@secbot/contracts';
import { errorMessage, type Logger, type Metrics, type Nats } from '@secbot/service-kit';
import type { ProjectedEvent } from '../../check-status.ts';
import type { StoredEvent } from '../postgres/projection-store.ts';

const definitions = [EventReceivedV1, ScanCompletedV1, OutputCompletedV1, NotifiedV1];

export interface ProjectorOptions {
  nats: Nats;
  stream: StreamSettings;
  durable: string;
  /** Applies a batch durably; throwing means nothing of it was applied. */
  apply: (batch: StoredEvent[]) => Promise<unknown>;
  log: Logger;
  metrics?: Metrics;
  batchSize?: number;
}

export interface Projector {
  stop(): Promise<void>;
  readonly done: Promise<void>;
}

export function decode(stream: StreamSettings, subject: string, payload: unknown): ProjectedEvent | 'unknown' | 'invalid' {
  const definition = definitions.find((d) => d.subject(stream.prefix) === subject);
  if (!definition) return 'unknown';
  const parsed = definition.schema.safeParse(payload);
  return parsed.success ? parsed.data : 'invalid';
}

/**
 * The projection's consumer. Unlike service-kit's subscribe (one message, nak on failure), a projection must
 * apply events in stream order and never skip one: messages are batched (up to `batchSize`, or whatever is
 * pending), applied in one transaction, and acked only after the commit. A failing batch is retried in place
 * with backoff while its messages are kept alive, so later events never overtake it. A crash before the ack
 * means redelivery, which the store ignores by event id.
 */
export async function startProjector(opts: ProjectorOptions): Promise<Projector> {
  const { nats, stream, durable, log } = opts;
  const batchSize = opts.batchSize ?? 200;
  const ackWaitMs = 60_000;
  const config = {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: `${stream.prefix}.>`,
    ack_wait: nanos(ackWaitMs),
    max_ack_pending: batchSize * 2,
  };
  try {
    await nats.jsm.consumers.add(stream.name, config);
  } catch (err) {
    if (!/already (exists|in use)/i.test(errorMessage(err))) throw err;
  }
  const consumer = await nats.js.consumers.get(stream.name, durable);
  let stopped = false;
  let messages: ConsumerMessages | undefined;

  const flush = async (pending: JsMsg[]) => {
    const batch: StoredEvent[] = [];
    for (const m of pending) {
      let payload: unknown;
      try {
        payload = m.json();
      } catch {
        payload = undefined;
      }
      const decoded = decode(stream, m.subject, payload);
      if (decoded === 'invalid') log.error({ subject: m.subject, streamSequence: m.seq }, 'Event does not match its schema; not projected');
      else if (decoded !== 'unknown') batch.push({ seq: m.seq, event: decoded });
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await opts.apply(batch);
        break;
      } catch (err) {
        if (stopped) return; // not acked: redelivered to the next projector
        const delay = Math.min(30_000, 250 * 2 ** Math.min(attempt, 7));
        log.error({ err: errorMessage(err), attempt, retryInMs: delay, firstSeq: pending[0]?.seq }, 'Projection batch failed; retrying in order');
        for (const m of pending) m.working();
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    for (const m of pending) m.ack();
    opts.metrics?.messagesHandled.inc({ subject: `${stream.prefix}.>`, outcome: 'ack' }, pending.length);
  };

  const done = (async () => {
    while (!stopped) {
      try {
        messages = await consumer.consume({ max_messages: batchSize, expires: 5000 });
        let pending: JsMsg[] = [];
        for await (const m of messages) {
          pending.push(m);
          if (pending.length >= batchSize || m.info.pending === 0) {
            await flush(pending);
            pending = [];
          }
          if (stopped) break;
        }
        if (pending.length && !stopped) await flush(pending);
      } catch (err) {
        if (stopped) break;
        log.warn({ err: errorMessage(err) }, 'Projection consumer interrupted; restarting');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();

  return {
    done,
    async stop() {
      stopped = true;
      await messages?.close();
      await done;
    },
  };
}
