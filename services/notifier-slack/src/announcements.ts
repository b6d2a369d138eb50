import type { Finding } from '@secbot/contracts';
import type { Announcement } from './slack-message.ts';

/**
 * What the notifier remembers about one fingerprint in one project.
 * `by` is the decision that announced it last: `check/scan/output/revision`.
 */
export interface AnnouncedFingerprint {
  state: 'open' | 'closed';
  kind: 'new' | 'regression';
  by: string;
  at: string;
  /** The decision that dropped it from the blocking list (triage, an exception, a mitigation). */
  closedBy?: string;
}

/** The blocking fingerprints of the latest revision seen of one (check, scan, output). */
export interface OutputMemory {
  revision: number;
  fingerprints: string[];
}

export interface AnnouncementInput {
  /** `check/scan/output/revision` of the event being handled. */
  owner: string;
  revision: number;
  blocking: readonly Finding[];
  /** What the same (check, scan, output) blocked at its latest revision seen so far. */
  previous: OutputMemory | undefined;
  /** Current memory of every fingerprint in `blocking` and in `previous`. */
  known: ReadonlyMap<string, AnnouncedFingerprint>;
  now: Date;
}

export interface AnnouncementPlan {
  announce: Announcement[];
  /** Fingerprint memories to write (create or compare-and-set) before anything is posted. */
  writes: Map<string, AnnouncedFingerprint>;
  /** The output memory to store, or undefined when the event is older than what was seen (nothing to do). */
  output: OutputMemory | undefined;
}

/**
 * The announcement rule, per project (instance host + project id):
 *
 * - a blocking fingerprint the project has never announced is announced as **new**;
 * - one announced before and still open is not announced again, whichever check, branch or MR finds it;
 * - it becomes **closed** when a later revision of the decision that blocked on it no longer blocks on it
 *   (the output re-read triage: false positive, risk accepted, mitigated, an exception) — the only signal an
 *   event carries that a secret was dealt with, since scans only see what a change adds;
 * - a closed fingerprint that blocks again (a new push of the same secret, or reactivated by triage) is
 *   announced as a **regression**, and is open again;
 * - a redelivery of the decision that announced a fingerprint announces it again (`by` matches), so every
 *   channel of that decision gets the same list, however often the event is delivered;
 * - a revision older than one already seen for the same (check, scan, output) changes nothing.
 */
export function planAnnouncements(input: AnnouncementInput): AnnouncementPlan {
  const { owner, revision, previous, known } = input;
  const writes = new Map<string, AnnouncedFingerprint>();
  if (previous && previous.revision > revision) return { announce: [], writes, output: undefined };
  const at = input.now.toISOString();

  const announcedKinds = new Map<string, 'new' | 'regression'>();
  const current = new Set(input.blocking.map((f) => f.fingerprint));
  for (const fingerprint of current) {
    const memory = known.get(fingerprint);
    if (!memory) {
      announcedKinds.set(fingerprint, 'new');
      writes.set(fingerprint, { state: 'open', kind: 'new', by: owner, at });
    } else if (memory.by === owner) {
      announcedKinds.set(fingerprint, memory.kind);
    } else if (memory.state === 'closed') {
      announcedKinds.set(fingerprint, 'regression');
      writes.set(fingerprint, { state: 'open', kind: 'regression', by: owner, at });
    }
  }

  if (previous && previous.revision < revision) {
    for (const fingerprint of previous.fingerprints) {
      const memory = known.get(fingerprint);
      if (current.has(fingerprint) || !memory || memory.state !== 'open') continue;
      writes.set(fingerprint, { ...memory, state: 'closed', closedBy: owner, at });
    }
  }

  const announce: Announcement[] = [];
  for (const finding of input.blocking) {
    const kind = announcedKinds.get(finding.fingerprint);
    if (kind) announce.push({ finding, kind });
  }
  return { announce, writes, output: { revision, fingerprints: [...current].sort() } };
}
