import { Kvm, type KV } from '@nats-io/kv';
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { TerminalError } from '@secbot/service-kit';
import { emptyRecord, ProjectRecord, projectKey } from '../../project-record.ts';
import type { ProjectRecords } from '../../project-records.ts';

const isWrongRevision = (err: unknown) =>
  err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

/**
 * Project records in a JetStream KV bucket with no expiry (history 1; works on nats-server 2.9). Every write
 * is a compare-and-set on the key's revision, retried, so replicas scanning the same project never lose
 * each other's findings.
 */
export async function kvProjectRecords(
  js: JetStreamClient,
  opts: { bucket: string; replicas: number; maxPayload?: () => number },
): Promise<ProjectRecords> {
  const kv: KV = await new Kvm(js).create(opts.bucket, { history: 1, replicas: opts.replicas });
  const maxPayload = opts.maxPayload ?? (() => 1024 * 1024);

  async function read(host: string, project: string): Promise<{ record: ProjectRecord; revision: number | undefined }> {
    const entry = await kv.get(projectKey(host, project));
    if (!entry || entry.operation !== 'PUT') return { record: emptyRecord(host, project), revision: undefined };
    const parsed = ProjectRecord.safeParse(entry.json());
    // The record is the truth about the project's secrets: never overwrite one that cannot be read.
    if (!parsed.success) throw new TerminalError(`The project record of ${project} in KV bucket ${opts.bucket} cannot be read; restore it from a backup.`);
    return { record: parsed.data, revision: entry.revision };
  }

  return {
    async get(host, project) {
      return (await read(host, project)).record;
    },
    async update(host, project, change) {
      for (let attempt = 0; ; attempt++) {
        const { record, revision } = await read(host, project);
        const next = change(record);
        const value = JSON.stringify(next);
        const max = maxPayload();
        if (Buffer.byteLength(value) > max - 4096) {
          throw new TerminalError(
            `The project record of ${project} would be ${Buffer.byteLength(value)} bytes, over the NATS server's max_payload (${max}). ` +
              'Raise max_payload in nats-server, or triage findings (exceptions, DefectDojo) so fewer stay open.',
          );
        }
        try {
          if (revision === undefined) await kv.create(projectKey(host, project), value);
          else await kv.update(projectKey(host, project), value, revision);
          return next;
        } catch (err) {
          if (!isWrongRevision(err) || attempt >= 50) throw err;
        }
      }
    },
    async list() {
      const out: ProjectRecord[] = [];
      for await (const key of await kv.keys('p.>')) {
        const entry = await kv.get(key);
        const parsed = entry?.operation === 'PUT' ? ProjectRecord.safeParse(entry.json()) : undefined;
        if (parsed?.success) out.push(parsed.data);
      }
      return out;
    },
    async getMarker(name) {
      const entry = await kv.get(`m.${name}`);
      return entry?.operation === 'PUT' ? entry.string() : undefined;
    },
    async setMarker(name, value) {
      await kv.put(`m.${name}`, value);
    },
  };
}
