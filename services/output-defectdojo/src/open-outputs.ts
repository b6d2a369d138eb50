import { deterministicId, type Finding, type OutputCompletedV1 } from '@secbot/contracts';

/** An output that blocked the change, kept so triage in DefectDojo can be re-read without a rescan. */
export interface OpenOutput {
  /** The latest output.completed for this (check, scan, output). */
  last: OutputCompletedV1;
  testId: number;
  /** The scan's findings, to describe DefectDojo findings that become blocking later. */
  scanFindings: Finding[];
  commit: string;
  /** Set while `last` is stored but maybe not yet published; the next pass publishes it (same id). */
  pending?: boolean;
}

export interface StoredOpenOutput {
  key: string;
  value: OpenOutput;
  revision: number;
}

/** Where open outputs live between passes (a JetStream KV bucket in the service, a Map in tests). */
export interface OpenOutputs {
  /** Stores the entry unless one exists: a redelivered scan must not undo a later re-evaluation. */
  putIfAbsent(key: string, value: OpenOutput): Promise<void>;
  /** Every open output, or only those of one check. */
  list(securityCheckId?: string): Promise<StoredOpenOutput[]>;
  /** Compare-and-set on the entry's revision: the new revision, or undefined when another replica changed it first. */
  replace(key: string, value: OpenOutput, revision: number): Promise<number | undefined>;
  remove(key: string): Promise<void>;
}

/** Key chars allowed in a KV bucket: the check id, scan and output names are already in that set. */
export const openOutputKey = (securityCheckId: string, scan: string, output: string): string => `${securityCheckId}.${scan}.${output}`;

const fingerprints = (findings: readonly Finding[]) => [...new Set(findings.map((f) => `${f.fingerprint}\u0000${f.links['defectdojo'] ?? ''}`))].sort().join('\n');

/**
 * The next output.completed after DefectDojo was read again, or undefined when nothing changed that the gate
 * cares about (the blocking findings and the total). Revision + 1, so the latest wins downstream.
 */
export function reevaluated(last: OutputCompletedV1, now: { findingsTotal: number; blocking: Finding[] }, at: Date): OutputCompletedV1 | undefined {
  if (now.findingsTotal === last.data.findingsTotal && fingerprints(now.blocking) === fingerprints(last.data.blocking)) return undefined;
  const revision = last.data.revision + 1;
  return {
    ...last,
    id: deterministicId('output.completed', last.securityCheckId, last.data.scan, last.data.output, String(revision)),
    occurredAt: at.toISOString(),
    data: { ...last.data, status: 'ok', trigger: 'reevaluation', revision, findingsTotal: now.findingsTotal, blocking: now.blocking },
  };
}
