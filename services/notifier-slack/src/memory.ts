import { createHash } from 'node:crypto';
import type { AnnouncedFingerprint, OutputMemory } from './announcements.ts';

export interface Versioned<T> {
  value: T;
  /** Opaque compare-and-set token (the KV entry's revision). */
  revision: number;
}

/** A message Slack accepted, recorded before the event is acknowledged so a redelivery posts nothing. */
export interface PostedRecord {
  ts: string;
  channel: string;
  findings: number;
  at: string;
}

/**
 * What the notifier remembers between events (a JetStream KV bucket in the service, a Map in unit tests).
 * `save*` with `revision` undefined creates; with a revision it compares and sets. Both return false when
 * another writer got there first.
 */
export interface NotifierMemory {
  fingerprint(project: string, fingerprint: string): Promise<Versioned<AnnouncedFingerprint> | undefined>;
  saveFingerprint(project: string, fingerprint: string, value: AnnouncedFingerprint, revision: number | undefined): Promise<boolean>;
  output(key: string): Promise<Versioned<OutputMemory> | undefined>;
  saveOutput(key: string, value: OutputMemory, revision: number | undefined): Promise<boolean>;
  posted(key: string): Promise<PostedRecord | undefined>;
  recordPosted(key: string, value: PostedRecord): Promise<void>;
}

/** KV keys allow `[-/_=.a-zA-Z0-9]`; fingerprints, channels and check ids are hashed into that set. */
export const hashKey = (...parts: string[]): string => createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 40);

/** An in-process memory, for unit tests and a single replica without persistence. */
export function inMemoryNotifierMemory(): NotifierMemory & { entries: Map<string, Versioned<unknown>> } {
  const entries = new Map<string, Versioned<unknown>>();
  let seq = 0;
  const get = <T>(key: string) => entries.get(key) as Versioned<T> | undefined;
  const save = (key: string, value: unknown, revision: number | undefined) => {
    const current = entries.get(key);
    if (revision === undefined ? current !== undefined : current?.revision !== revision) return false;
    entries.set(key, { value, revision: ++seq });
    return true;
  };
  return {
    entries,
    fingerprint: (project, fingerprint) => Promise.resolve(get<AnnouncedFingerprint>(`fp.${hashKey(project)}.${hashKey(fingerprint)}`)),
    saveFingerprint: (project, fingerprint, value, revision) => Promise.resolve(save(`fp.${hashKey(project)}.${hashKey(fingerprint)}`, value, revision)),
    output: (key) => Promise.resolve(get<OutputMemory>(`out.${hashKey(key)}`)),
    saveOutput: (key, value, revision) => Promise.resolve(save(`out.${hashKey(key)}`, value, revision)),
    posted: (key) => Promise.resolve(get<PostedRecord>(`posted.${hashKey(key)}`)?.value),
    recordPosted: (key, value) => {
      entries.set(`posted.${hashKey(key)}`, { value, revision: ++seq });
      return Promise.resolve();
    },
  };
}
