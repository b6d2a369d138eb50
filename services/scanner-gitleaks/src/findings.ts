import { createHmac } from 'node:crypto';
import type { Finding } from '@secbot/contracts';
import { z } from 'zod';

/** One finding of gitleaks' JSON report (report/finding.go); only the fields SecBot reads are checked. */
export const GitleaksReportFinding = z.looseObject({
  RuleID: z.string(),
  Description: z.string().default(''),
  StartLine: z.number().int().nonnegative(),
  EndLine: z.number().int().nonnegative(),
  Match: z.string().default(''),
  Secret: z.string(),
  File: z.string(),
  Commit: z.string().default(''),
  Author: z.string().default(''),
  Email: z.string().default(''),
  Date: z.string().default(''),
  Tags: z.array(z.string()).nullable().default([]),
});
export type GitleaksReportFinding = z.infer<typeof GitleaksReportFinding>;

/** v8 writes `[]` for a clean run; older versions wrote `null`. */
export const GitleaksReport = z
  .array(GitleaksReportFinding)
  .nullable()
  .transform((r) => r ?? []);

export function parseGitleaksReport(text: string): GitleaksReportFinding[] {
  return GitleaksReport.parse(JSON.parse(text === '' ? 'null' : text));
}

/** `<rule>:<HMAC-SHA256(key, secret)>`: the same secret matches after a rebase or squash; the key keeps it unguessable. */
export function fingerprintOf(ruleId: string, secret: string, key: string): string {
  return `${ruleId}:${createHmac('sha256', key).update(secret, 'utf8').digest('hex').slice(0, 32)}`;
}

export interface NormaliseOptions {
  fingerprintKey: string;
  /** The project's web URL, for links to the file at the commit. */
  webUrl: string;
}

export function toFinding(raw: GitleaksReportFinding, opts: NormaliseOptions): Finding {
  const file = raw.File;
  const commit = raw.Commit;
  const links: Record<string, string> = {};
  if (commit) {
    const path = file.split('/').map(encodeURIComponent).join('/');
    links['file'] = `${opts.webUrl.replace(/\/$/, '')}/-/blob/${commit}/${path}#L${raw.StartLine}`;
  }
  return {
    fingerprint: fingerprintOf(raw.RuleID, raw.Secret, opts.fingerprintKey),
    ruleId: raw.RuleID,
    description: raw.Description,
    file,
    startLine: raw.StartLine,
    endLine: raw.EndLine,
    commit,
    ...(raw.Author ? { author: raw.Author } : {}),
    ...(raw.Email ? { email: raw.Email } : {}),
    ...(raw.Date ? { date: raw.Date } : {}),
    tags: raw.Tags ?? [],
    severity: 'high',
    links,
  };
}

export const REDACTED = 'REDACTED';

/** True when any secret of the report appears in `text`; the last check before anything leaves the process. */
export function containsAnySecret(text: string, findings: GitleaksReportFinding[]): boolean {
  return findings.some((f) => f.Secret.length > 0 && text.includes(f.Secret));
}

/**
 * A gitleaks v8 JSON report (as `--redact` writes it) of findings SecBot already holds, for outputs that
 * import reports (DefectDojo's "Gitleaks Scan" parser). A commit's evaluation answers with every finding its
 * history carries, also those found by earlier evaluations, so the report is built from the findings.
 */
export function reportOf(findings: readonly Finding[]): unknown[] {
  return findings.map((f) => ({
    RuleID: f.ruleId,
    Description: f.description,
    StartLine: f.startLine,
    EndLine: f.endLine,
    StartColumn: 0,
    EndColumn: 0,
    Match: REDACTED,
    Secret: REDACTED,
    File: f.file,
    SymlinkFile: '',
    Commit: f.commit,
    Entropy: 0,
    Author: f.author ?? '',
    Email: f.email ?? '',
    Date: f.date ?? '',
    Message: '',
    Tags: f.tags,
    Fingerprint: `${f.commit}:${f.file}:${f.ruleId}:${f.startLine}`,
  }));
}
