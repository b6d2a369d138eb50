import { DeliverPolicy } from '@nats-io/jetstream';
import { decodeEvent, type AnyEvent, type AnyGlobalEvent, type StreamSettings } from '@secbot/contracts';
import type { Nats } from '@secbot/service-kit';

export interface StoredEvent {
  seq: number;
  event: AnyEvent | AnyGlobalEvent;
}

/**
 * Reads the event log itself (not the projection): an ordered consumer from `since` (or the start) to the
 * stream's last message at call time, stopping at `until`. Unknown subjects are skipped; events that break
 * their schema are counted, never silently dropped.
 */
export async function readEvents(
  nats: Nats,
  stream: StreamSettings,
  opts: { since?: Date; until?: Date; onBatch?: (n: number) => void; afterSeq?: number } = {},
): Promise<{ events: StoredEvent[]; invalid: number[]; lastSeq: number }> {
  const info = await nats.jsm.streams.info(stream.name);
  const last = info.state.last_seq;
  const events: StoredEvent[] = [];
  const invalid: number[] = [];
  if (info.state.messages === 0 || last <= (opts.afterSeq ?? 0)) return { events, invalid, lastSeq: last };
  const consumer = await nats.js.consumers.get(stream.name, {
    filter_subjects: `${stream.prefix}.>`,
    ...(opts.afterSeq
      ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: opts.afterSeq + 1 }
      : opts.since
        ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: opts.since.toISOString() }
        : { deliver_policy: DeliverPolicy.All }),
  });
  const messages = await consumer.consume({ max_messages: 1000, expires: 2000 });
  try {
    for await (const m of messages) {
      if (opts.until && m.info.timestampNanos / 1e6 > opts.until.getTime()) break;
      let payload: unknown;
      try {
        payload = m.json();
      } catch {
        payload = undefined;
      }
      const decoded = decodeEvent(stream.prefix, m.subject, payload);
      if (decoded === 'invalid') invalid.push(m.seq);
      else if (decoded !== 'unknown') events.push({ seq: m.seq, event: decoded });
      if (events.length % 1000 === 0) opts.onBatch?.(events.length);
      if (m.seq >= last || m.info.pending === 0) break;
    }
  } finally {
    await messages.close();
  }
  return { events, invalid, lastSeq: last };
}
