import { Kvm, type KV } from '@nats-io/kv';
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { z } from 'zod';
import { hashKey, type NotifierMemory, type PostedRecord, type Versioned } from '../../memory.ts';

const Fingerprint = z.object({
  state: z.enum(['open', 'closed']),
  kind: z.enum(['new', 'regression']),
  by: z.string(),
  at: z.string(),
  closedBy: z.string().optional(),
});
const Output = z.object({ revision: z.number().int(), fingerprints: z.array(z.string()) });
const Posted = z.object({ ts: z.string(), channel: z.string(), findings: z.number().int(), at: z.string() });

const isWrongRevision = (err: unknown) =>
  err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

export interface KvMemoryOptions {
  /** Announced fingerprints and output memories: kept until deleted (a project's memory of its secrets). */
  bucket: string;
  /** Posted messages: only needed while an event can be redelivered. */
  postedBucket: string;
  postedTtlMs: number;
  replicas: number;
}

/**
 * The notifier's memory in two JetStream KV buckets (history 1; works on nats-server 2.9, no per-key TTL):
 * `fp.<project>.<fingerprint>` and `out.<check/scan/output>` in one, posted messages in the other.
 */
export async function kvNotifierMemory(js: JetStreamClient, opts: KvMemoryOptions): Promise<NotifierMemory> {
  const kvm = new Kvm(js);
  const kv: KV = await kvm.create(opts.bucket, { history: 1, replicas: opts.replicas });
  const posted: KV = await kvm.create(opts.postedBucket, { history: 1, ttl: opts.postedTtlMs, replicas: opts.replicas });

  async function read<S extends z.ZodType>(bucket: KV, key: string, schema: S): Promise<Versioned<z.infer<S>> | undefined> {
    const entry = await bucket.get(key);
    if (!entry || entry.operation !== 'PUT') return undefined;
    const parsed = schema.safeParse(entry.json());
    // An unreadable entry is treated as absent and overwritten by the next compare-and-set.
    return parsed.success ? { value: parsed.data, revision: entry.revision } : undefined;
  }
  async function save(key: string, value: unknown, revision: number | undefined): Promise<boolean> {
    try {
      if (revision === undefined) {
        await kv.create(key, JSON.stringify(value));
      } else {
        await kv.update(key, JSON.stringify(value), revision);
      }
      return true;
    } catch (err) {
      if (isWrongRevision(err)) return false;
      throw err;
    }
  }
  const fpKey = (project: string, fingerprint: string) => `fp.${hashKey(project)}.${hashKey(fingerprint)}`;

  return {
    fingerprint: (project, fingerprint) => read(kv, fpKey(project, fingerprint), Fingerprint),
    saveFingerprint: (project, fingerprint, value, revision) => save(fpKey(project, fingerprint), value, revision),
    output: (key) => read(kv, `out.${hashKey(key)}`, Output),
    saveOutput: (key, value, revision) => save(`out.${hashKey(key)}`, value, revision),
    async posted(key) {
      return (await read(posted, hashKey(key), Posted))?.value;
    },
    async recordPosted(key, value: PostedRecord) {
      await posted.put(hashKey(key), JSON.stringify(value));
    },
  };
}
