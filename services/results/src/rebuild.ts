import type { StreamSettings } from '@secbot/contracts';
import type { Logger, Nats } from '@secbot/service-kit';
import { startProjector } from './adapters/nats/projector.ts';
import type { Database } from './adapters/postgres/database.ts';
import { applyBatch, cursorOf } from './adapters/postgres/projection-store.ts';

export interface RebuildResult {
  schema: string;
  fromSchema: string;
  events: number;
  seconds: number;
  eventsPerSecond: number;
}

/**
 * Rebuilds the projection from the event log into a fresh schema with the same projector the live service
 * runs, up to the stream's last event, then points the configured schema at it. A running results service
 * notices the pointer, resumes its projector from the new schema's checkpoint and serves reads from it: status
 * reads never pause. The old schema stays, for comparison or to point back to.
 */
export async function rebuildProjection(opts: {
  nats: Nats;
  stream: StreamSettings;
  db: Database;
  projectionName: string;
  schema?: string;
  batchSize?: number;
  log: Logger;
  onProgress?: (applied: number, target: number) => void;
}): Promise<RebuildResult> {
  const { db, nats, stream } = opts;
  const fromSchema = (await db.pointedSchema()) ?? db.baseSchema;
  const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  const schema = opts.schema ?? `${db.baseSchema.slice(0, 40)}_r${stamp}`;
  await db.switchTo(schema);
  const target = (await nats.jsm.streams.info(stream.name)).state.last_seq;
  const started = performance.now();
  let applied = 0;
  const projector = startProjector({
    nats,
    stream,
    name: opts.projectionName,
    checkpoint: async () => (await cursorOf(db, opts.projectionName))?.lastSeq ?? 0,
    apply: async (batch, upToSeq) => {
      await applyBatch(db, opts.projectionName, batch, upToSeq);
      applied += batch.length;
      opts.onProgress?.(upToSeq, target);
    },
    log: opts.log,
    batchSize: opts.batchSize ?? 500,
  });
  try {
    while (((await cursorOf(db, opts.projectionName))?.lastSeq ?? 0) < target) await new Promise((r) => setTimeout(r, 50));
  } finally {
    await projector.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  await db.point(schema);
  return { schema, fromSchema, events: applied, seconds, eventsPerSecond: Math.round(applied / Math.max(seconds, 0.001)) };
}
