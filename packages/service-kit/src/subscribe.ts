import { AckPolicy, DeliverPolicy, type ConsumerConfig, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { EventDefinitionBase, StreamSettings } from '@secbot/contracts';
import type { z } from 'zod';
import { errorMessage, RetryableError, TerminalError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import type { Nats } from './nats.ts';
import { withConsumeSpan } from './tracing.ts';

type AnyDefinition = EventDefinitionBase;

export interface MessageContext {
  subject: string;
  streamSequence: number;
  deliveryCount: number;
  /** Tells JetStream the handler is still busy, so the message is not redelivered meanwhile. */
  working(): void;
  log: Logger;
}

export interface SubscribeOptions<D extends readonly AnyDefinition[]> {
  nats: Nats;
  stream: StreamSettings;
  /** The durable consumer's name; replicas of a service share it and split the work. */
  durable: string;
  /** The events this consumer takes. One definition filters on its subject; several take `<prefix>.>`. */
  events: D;
  handle: (event: z.infer<D[number]['schema']>, ctx: MessageContext) => Promise<void>;
  log: Logger;
  metrics?: Metrics;
  /** Deliveries before a message is given up on (terminated, logged, counted). */
  maxDeliver?: number;
  ackWaitMs?: number;
  backoffMs?: (deliveryCount: number) => number;
  deliverPolicy?: 'all' | 'new';
  /** Messages pulled at once; handled one after the other. */
  batch?: number;
}

export interface Subscription {
  stop(): Promise<void>;
  /** Resolves when the consume loop ended (after stop()). */
  readonly done: Promise<void>;
}

export const defaultBackoffMs = (deliveryCount: number): number =>
  Math.min(60_000, 500 * 2 ** Math.max(0, deliveryCount - 1)) * (0.8 + Math.random() * 0.4);

/**
 * The single place where a message's fate is decided:
 * invalid payload → term; handler returns → ack; RetryableError (or unknown) → nak with backoff until
 * maxDeliver, then term; TerminalError → term. Long handlers keep the message alive with working().
 */
export async function subscribe<const D extends readonly AnyDefinition[]>(opts: SubscribeOptions<D>): Promise<Subscription> {
  const { nats, stream, durable, events, handle, log, metrics } = opts;
  const maxDeliver = opts.maxDeliver ?? 10;
  const ackWaitMs = opts.ackWaitMs ?? 30_000;
  const backoff = opts.backoffMs ?? defaultBackoffMs;
  const bySubject = new Map<string, AnyDefinition>(events.map((d) => [d.subject(stream.prefix), d]));
  const only = events.length === 1 ? events[0] : undefined;
  const filter = only ? only.subject(stream.prefix) : `${stream.prefix}.>`;

  const config: Partial<ConsumerConfig> = {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: opts.deliverPolicy === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
    filter_subject: filter,
    ack_wait: nanos(ackWaitMs),
    max_deliver: maxDeliver,
    max_ack_pending: 1000,
  };
  try {
    await nats.jsm.consumers.add(stream.name, config);
  } catch (err) {
    if (!/already (exists|in use)/i.test(errorMessage(err))) throw err;
    await nats.jsm.consumers.update(stream.name, durable, { ack_wait: config.ack_wait, max_deliver: maxDeliver, max_ack_pending: 1000 });
  }
  const consumer = await nats.js.consumers.get(stream.name, durable);

  let stopped = false;
  let messages: ConsumerMessages | undefined;

  const settle = async (m: JsMsg): Promise<void> => {
    const mlog = log.child({ subject: m.subject, streamSequence: m.seq, deliveryCount: m.info.deliveryCount });
    const count = (outcome: string) => metrics?.messagesHandled.inc({ subject: m.subject, outcome });
    const definition = bySubject.get(m.subject);
    if (!definition) {
      m.ack();
      count('ignored');
      return;
    }
    let event: unknown;
    try {
      event = definition.schema.parse(m.json());
    } catch (err) {
      mlog.error({ err: errorMessage(err) }, 'Invalid event payload; terminated');
      m.term(); // no reason: nats-server 2.9 ignores a term that carries one (the log says why)
      count('term');
      return;
    }
    const e = event as { id: string; correlationId: string; securityCheckId?: string };
    const elog = mlog.child({ eventId: e.id, correlationId: e.correlationId, securityCheckId: e.securityCheckId });
    const timer = setInterval(() => m.working(), Math.max(1000, Math.floor(ackWaitMs / 3)));
    try {
      await withConsumeSpan(m.subject, m.headers, () =>
        handle(event as z.infer<D[number]['schema']>, {
          subject: m.subject,
          streamSequence: m.seq,
          deliveryCount: m.info.deliveryCount,
          working: () => m.working(),
          log: elog,
        }),
      );
      m.ack();
      count('ack');
    } catch (err) {
      if (err instanceof TerminalError) {
        elog.error({ err: errorMessage(err) }, 'Event handling failed for good; terminated');
        m.term();
        count('term');
      } else if (m.info.deliveryCount >= maxDeliver) {
        elog.error({ err: errorMessage(err), maxDeliver }, 'Event handling kept failing; gave up after the last delivery');
        m.term();
        count('term');
      } else {
        const delay = err instanceof RetryableError && err.retryAfterMs !== undefined ? err.retryAfterMs : backoff(m.info.deliveryCount);
        elog.warn({ err: errorMessage(err), retryInMs: Math.round(delay) }, 'Event handling failed; will retry');
        m.nak(Math.round(delay));
        count('nak');
      }
    } finally {
      clearInterval(timer);
    }
  };

  const done = (async () => {
    while (!stopped) {
      try {
        messages = await consumer.consume({ max_messages: opts.batch ?? 64, expires: 5000 });
        for await (const m of messages) {
          await settle(m);
          if (stopped) break;
        }
      } catch (err) {
        if (stopped) break;
        log.warn({ err: errorMessage(err), durable }, 'Consumer loop interrupted; restarting');
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
