import type { Finding } from '@secbot/contracts';
import type { DojoFinding } from './adapters/defectdojo/schema.ts';

type Status = Pick<DojoFinding, 'active' | 'false_p' | 'risk_accepted' | 'is_mitigated' | 'out_of_scope'>;

/** Open: nobody closed it (false positive, risk accepted, mitigated, out of scope) and it is active. */
export const isOpen = (f: Status): boolean => f.active && !f.false_p && !f.risk_accepted && !f.is_mitigated && !f.out_of_scope;

/** Closed by a person on the finding itself; DefectDojo's own `active=false` on duplicates does not count. */
const closedByPerson = (f: Status): boolean => f.false_p || f.risk_accepted || f.is_mitigated || f.out_of_scope;

export interface BlockingDecision<F> {
  blocking: F[];
  /** Originals named by `duplicate_finding` that were not among `originals`: the decision is incomplete. */
  missingOriginals: number[];
}

/**
 * A finding blocks when it is open. A duplicate is always inactive (DefectDojo sets that), so it blocks
 * when its original is open and nobody closed the duplicate itself: a secret triaged once does not block
 * again, and a secret found again while its original is still open blocks again. A duplicate without an
 * original (the original was deleted) blocks: SecBot does not pass what it cannot explain.
 */
export function decideBlocking<F extends Status & Pick<DojoFinding, 'duplicate' | 'duplicate_finding'>>(
  findings: readonly F[],
  originals: ReadonlyMap<number, Status>,
): BlockingDecision<F> {
  const blocking: F[] = [];
  const missingOriginals: number[] = [];
  for (const f of findings) {
    if (!f.duplicate) {
      if (isOpen(f)) blocking.push(f);
      continue;
    }
    if (closedByPerson(f)) continue;
    const originalId = f.duplicate_finding ?? undefined;
    if (originalId === undefined) {
      blocking.push(f);
      continue;
    }
    const original = originals.get(originalId);
    if (!original) missingOriginals.push(originalId);
    else if (isOpen(original)) blocking.push(f);
  }
  return { blocking, missingOriginals };
}

const SEVERITIES: Record<string, Finding['severity']> = { critical: 'critical', high: 'high', medium: 'medium', low: 'low', info: 'info' };

/**
 * The blocking DefectDojo findings as SecBot findings: the scan's own findings at the same file and line
 * (the parser keeps `File` and `StartLine`), each linked to DefectDojo. Never copies DefectDojo's
 * description, which quotes the matched line.
 */
export function toBlockingFindings(
  blocking: readonly DojoFinding[],
  scanFindings: readonly Finding[],
  opts: { commit: string; findingUrl: (id: number) => string },
): Finding[] {
  const out = new Map<string, Finding>();
  for (const d of blocking) {
    const link = opts.findingUrl(d.id);
    const line = d.line ?? 0;
    const matches = scanFindings.filter((f) => f.file === (d.file_path ?? '') && f.startLine === line);
    if (matches.length === 0) {
      const fingerprint = `defectdojo:${d.hash_code ?? String(d.id)}`;
      out.set(fingerprint, {
        fingerprint,
        ruleId: d.vuln_id_from_tool ?? 'unknown',
        description: d.title,
        file: d.file_path ?? '',
        startLine: line,
        endLine: line,
        commit: opts.commit,
        tags: [],
        severity: SEVERITIES[d.severity.toLowerCase()] ?? 'high',
        links: { defectdojo: link },
      });
    }
    for (const f of matches) out.set(f.fingerprint, { ...f, links: { ...f.links, defectdojo: link } });
  }
  return [...out.values()];
}
