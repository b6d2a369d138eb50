import { Kvm, type KV } from '@nats-io/kv';
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { CheckContext, Finding } from '@secbot/contracts';
import { z } from 'zod';
import { hashKey, type GitLabNotifierMemory, type Versioned } from '../../memory.ts';

const Output = z.object({
  revision: z.number().int(),
  status: z.enum(['ok', 'error']),
  reason: z.string().optional(),
  blockingCount: z.number().int(),
  blocking: z.array(Finding),
});
const Check = z.object({
  view: z.object({
    job: z.object({ scans: z.array(z.string()), outputs: z.array(z.string()) }).nullable(),
    planError: z.string().optional(),
    scans: z.record(z.string(), z.object({ status: z.enum(['ok', 'error']), reason: z.string().optional() })),
    outputs: z.record(z.string(), Output),
    expired: z.object({ waitedFor: z.array(z.string()) }).optional(),
  }),
  context: CheckContext.optional(),
  mergeRequests: z.array(z.number().int()).optional(),
  posted: z.record(z.string(), z.object({ state: z.enum(['pending', 'running', 'success', 'failed', 'error']), description: z.string() })),
});
const MergeRequest = z.object({ securityCheckId: z.string() });

const isWrongRevision = (err: unknown) =>
  err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

/** Check views and merge request pointers in one JetStream KV bucket (history 1, TTL; nats-server 2.9 is enough). */
export async function kvGitLabNotifierMemory(js: JetStreamClient, opts: { bucket: string; ttlMs: number; replicas: number }): Promise<GitLabNotifierMemory> {
  const kv: KV = await new Kvm(js).create(opts.bucket, { history: 1, ttl: opts.ttlMs, replicas: opts.replicas });
  async function read<S extends z.ZodType>(key: string, schema: S): Promise<Versioned<z.infer<S>> | undefined> {
    const entry = await kv.get(key);
    if (!entry || entry.operation !== 'PUT') return undefined;
    const parsed = schema.safeParse(entry.json());
    // An unreadable entry is replaced: the events carry enough to rebuild what matters.
    if (!parsed.success) {
      await kv.purge(key);
      return undefined;
    }
    return { value: parsed.data, revision: entry.revision };
  }
  async function save(key: string, value: unknown, revision: number | undefined): Promise<boolean> {
    try {
      if (revision === undefined) await kv.create(key, JSON.stringify(value));
      else await kv.update(key, JSON.stringify(value), revision);
      return true;
    } catch (err) {
      if (isWrongRevision(err)) return false;
      throw err;
    }
  }
  return {
    check: (id) => read(`check.${hashKey(id)}`, Check),
    saveCheck: (id, value, revision) => save(`check.${hashKey(id)}`, value, revision),
    mergeRequest: (key) => read(`mr.${hashKey(key)}`, MergeRequest),
    saveMergeRequest: (key, value, revision) => save(`mr.${hashKey(key)}`, value, revision),
  };
}
