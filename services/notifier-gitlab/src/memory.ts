import { createHash } from 'node:crypto';
import type { CheckContext } from '@secbot/contracts';
import type { CheckView, CommitState } from './verdict.ts';

export interface Versioned<T> {
  value: T;
  revision: number;
}

/** What the notifier keeps per check: the view of its events and, per notifier, the status it last set. */
export interface StoredCheck {
  view: CheckView;
  /** The check's context from the first event that carried one, for events that carry none (check.expired). */
  context?: CheckContext;
  /** Merge requests this commit was checked for (a push and an MR of the same commit are one check). */
  mergeRequests?: number[];
  posted: Record<string, { state: CommitState | 'error'; description: string }>;
}

/** The latest check of a merge request (the newest push), so a late event of an older push cannot rewrite the note. */
export interface StoredMergeRequest {
  securityCheckId: string;
}

/** `save*` with revision undefined creates; with one, compares and sets; false when another writer was first. */
export interface GitLabNotifierMemory {
  check(securityCheckId: string): Promise<Versioned<StoredCheck> | undefined>;
  saveCheck(securityCheckId: string, value: StoredCheck, revision: number | undefined): Promise<boolean>;
  mergeRequest(key: string): Promise<Versioned<StoredMergeRequest> | undefined>;
  saveMergeRequest(key: string, value: StoredMergeRequest, revision: number | undefined): Promise<boolean>;
}

export const hashKey = (...parts: string[]): string => createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 40);

export function inMemoryGitLabNotifierMemory(): GitLabNotifierMemory {
  const entries = new Map<string, Versioned<unknown>>();
  let seq = 0;
  const save = (key: string, value: unknown, revision: number | undefined) => {
    const current = entries.get(key);
    if (revision === undefined ? current !== undefined : current?.revision !== revision) return Promise.resolve(false);
    entries.set(key, { value: structuredClone(value), revision: ++seq });
    return Promise.resolve(true);
  };
  return {
    check: (id) => Promise.resolve(entries.get(`check.${hashKey(id)}`) as Versioned<StoredCheck> | undefined),
    saveCheck: (id, value, revision) => save(`check.${hashKey(id)}`, value, revision),
    mergeRequest: (key) => Promise.resolve(entries.get(`mr.${hashKey(key)}`) as Versioned<StoredMergeRequest> | undefined),
    saveMergeRequest: (key, value, revision) => save(`mr.${hashKey(key)}`, value, revision),
  };
}
