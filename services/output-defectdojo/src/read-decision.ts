import type { Finding } from '@secbot/contracts';
import type { DefectDojoClient, DojoFinding } from './adapters/defectdojo/client.ts';
import { decideBlocking, toBlockingFindings } from './blocking.ts';

export interface TestDecision {
  findingsTotal: number;
  blocking: Finding[];
  /** Originals DefectDojo did not return: the caller must not decide. */
  missingOriginals: number[];
}

/** Reads the originals of the test's duplicates and decides which of the test's findings block. */
export async function decideOnTest(
  client: DefectDojoClient,
  findings: DojoFinding[],
  scan: { findings: readonly Finding[]; commit: string },
): Promise<TestDecision> {
  const originalIds = findings.flatMap((f) => (f.duplicate && typeof f.duplicate_finding === 'number' ? [f.duplicate_finding] : []));
  const originals = new Map((originalIds.length ? await client.getFindings(originalIds) : []).map((f) => [f.id, f]));
  const decision = decideBlocking(findings, originals);
  return {
    findingsTotal: findings.length,
    blocking: toBlockingFindings(decision.blocking, scan.findings, { commit: scan.commit, findingUrl: (id) => client.findingUrl(id) }),
    missingOriginals: decision.missingOriginals,
  };
}
