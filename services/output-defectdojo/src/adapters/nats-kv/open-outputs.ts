import { Kvm, type KV } from '@nats-io/kv';
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { OutputCompletedV1, Finding } from '@secbot/contracts';
import { z } from 'zod';
import type { OpenOutput, OpenOutputs, StoredOpenOutput } from '../../open-outputs.ts';

const Stored = z.object({
  last: OutputCompletedV1.schema,
  testId: z.number().int(),
  scanFindings: z.array(Finding),
  commit: z.string(),
  pending: z.boolean().optional(),
});

const isWrongRevision = (err: unknown) =>
  err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

/** Open outputs in a JetStream KV bucket: no database, shared by replicas, forgotten after `ttlMs`. */
export async function kvOpenOutputs(js: JetStreamClient, opts: { bucket: string; ttlMs: number; replicas: number }): Promise<OpenOutputs> {
  const kv: KV = await new Kvm(js).create(opts.bucket, { history: 1, ttl: opts.ttlMs, replicas: opts.replicas });
  const encode = (value: OpenOutput) => JSON.stringify(value);
  return {
    async putIfAbsent(key, value) {
      try {
        await kv.create(key, encode(value));
      } catch (err) {
        if (!isWrongRevision(err)) throw err;
      }
    },
    async list(securityCheckId) {
      const out: StoredOpenOutput[] = [];
      for await (const key of await kv.keys(securityCheckId ? `${securityCheckId}.>` : '>')) {
        const entry = await kv.get(key);
        if (!entry || entry.operation !== 'PUT') continue;
        const parsed = Stored.safeParse(entry.json());
        if (parsed.success) out.push({ key, value: parsed.data, revision: entry.revision });
        else await kv.delete(key);
      }
      return out;
    },
    async replace(key, value, revision) {
      try {
        return await kv.update(key, encode(value), revision);
      } catch (err) {
        if (isWrongRevision(err)) return undefined;
        throw err;
      }
    },
    async remove(key) {
      await kv.purge(key);
    },
  };
}
