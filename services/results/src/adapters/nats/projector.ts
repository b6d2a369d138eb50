import { DeliverPolicy, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { decodeEvent, type StreamSettings } from '@secbot/contracts';
import { errorMessage, type Logger, type Metrics, type Nats } from '@secbot/service-kit';
import type { StoredEvent } from '../postgres/projection-store.ts';

export interface ProjectorOptions {
  nats: Nats;
  stream: StreamSettings;
  /** Names the projection (and its checkpoint row); one per schema. */
  name: string;
  /** The last stream sequence the projection has durably applied (its checkpoint), 0 for none. */
  checkpoint: () => Promise<number>;
  /** Applies a batch and moves the checkpoint to `upToSeq` in one transaction; throwing means nothing applied. */
  apply: (batch: StoredEvent[], upToSeq: number) => Promise<unknown>;
  log: Logger;
  metrics?: Metrics;
  batchSize?: number;
}

export interface Projector {
  stop(): Promise<void>;
  readonly done: Promise<void>;
}


/**
 * The projection reads the event log like a checkpointed event store: its durable position is the checkpoint
 * committed in the same transaction as the rows it produced, and it reads with an ordered consumer starting
 * right after it. Events are therefore applied strictly in stream order, exactly once per checkpoint, and a
 * restart or crash resumes precisely where the last commit left off — no ack window, no redelivery reordering.
 * A failing batch is retried in place with backoff, so a later event never overtakes it. Two projectors on
 * the same schema stay correct (the store ignores event ids it already has); they only duplicate work.
 */
export function startProjector(opts: ProjectorOptions): Projector {
  const { nats, stream, log } = opts;
  const batchSize = opts.batchSize ?? 200;
  let stopped = false;
  let messages: ConsumerMessages | undefined;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) => new Promise<void>((r) => {
    wake = r;
    setTimeout(r, ms);
  });

  const flush = async (pending: JsMsg[]): Promise<boolean> => {
    const batch: StoredEvent[] = [];
    for (const m of pending) {
      let payload: unknown;
      try {
        payload = m.json();
      } catch {
        payload = undefined;
      }
      const decoded = decodeEvent(stream.prefix, m.subject, payload);
      if (decoded === 'invalid') log.error({ subject: m.subject, streamSequence: m.seq }, 'Event does not match its schema; not projected');
      else if (decoded !== 'unknown') batch.push({ seq: m.seq, event: decoded });
    }
    const upTo = pending.at(-1)?.seq ?? 0;
    for (let attempt = 1; !stopped; attempt++) {
      try {
        await opts.apply(batch, upTo);
        opts.metrics?.messagesHandled.inc({ subject: `${stream.prefix}.>`, outcome: 'projected' }, pending.length);
        return true;
      } catch (err) {
        const delay = Math.min(30_000, 250 * 2 ** Math.min(attempt, 7));
        log.error({ err: errorMessage(err), attempt, retryInMs: delay, firstSeq: pending[0]?.seq }, 'Projection batch failed; retrying in order');
        await sleep(delay);
      }
    }
    return false;
  };

  const done = (async () => {
    while (!stopped) {
      try {
        const after = await opts.checkpoint();
        const consumer = await nats.js.consumers.get(stream.name, {
          filter_subjects: `${stream.prefix}.>`,
          ...(after > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 } : { deliver_policy: DeliverPolicy.All }),
        });
        messages = await consumer.consume({ max_messages: batchSize, expires: 5000 });
        let pending: JsMsg[] = [];
        for await (const m of messages) {
          if (stopped) break;
          pending.push(m);
          if (pending.length >= batchSize || m.info.pending === 0) {
            if (!(await flush(pending))) break;
            pending = [];
          }
        }
      } catch (err) {
        if (stopped) break;
        log.warn({ err: errorMessage(err) }, 'Projection consumer interrupted; resuming from the checkpoint');
        await sleep(1000);
      }
    }
  })();

  return {
    done,
    async stop() {
      stopped = true;
      wake?.();
      await messages?.close();
      await done;
    },
  };
}
