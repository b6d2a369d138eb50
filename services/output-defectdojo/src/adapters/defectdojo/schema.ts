import { z } from 'zod';

// Permissive schemas of DefectDojo API v2 responses (3.2.0): only the fields SecBot reads; unknown keys are
// stripped, so a newer server adding fields changes nothing here. Reference: contracts.md § 2.

/** A LimitOffset page: `{count, next, previous, results}` (DRF, page size 25 unless `limit` is given). */
export const page = <T extends z.ZodType>(item: T) =>
  z.object({
    count: z.number().int().nonnegative(),
    next: z.string().nullable(),
    previous: z.string().nullable().optional(),
    results: z.array(item),
  });

export const DojoNamed = z.object({ id: z.number().int(), name: z.string() });
export type DojoNamed = z.infer<typeof DojoNamed>;

export const DojoTest = z.object({
  id: z.number().int(),
  engagement: z.number().int(),
  title: z.string().nullable().optional(),
  tags: z.array(z.string()).default([]),
  commit_hash: z.string().nullable().optional(),
});
export type DojoTest = z.infer<typeof DojoTest>;

export const DojoFinding = z.object({
  id: z.number().int(),
  test: z.number().int(),
  title: z.string(),
  severity: z.string(),
  file_path: z.string().nullable().optional(),
  line: z.number().int().nullable().optional(),
  active: z.boolean(),
  duplicate: z.boolean(),
  duplicate_finding: z.number().int().nullable().optional(),
  false_p: z.boolean(),
  risk_accepted: z.boolean(),
  is_mitigated: z.boolean(),
  out_of_scope: z.boolean(),
  hash_code: z.string().nullable().optional(),
  vuln_id_from_tool: z.string().nullable().optional(),
});
export type DojoFinding = z.infer<typeof DojoFinding>;

/** `POST /api/v2/import-scan/` → 201. `deduplication_complete` exists only where `async_wait` is supported. */
export const ImportScanResponse = z.object({
  test_id: z.number().int().optional(),
  test: z.number().int(),
  engagement_id: z.number().int().optional(),
  product_id: z.number().int().optional(),
  deduplication_complete: z.boolean().optional(),
});
export type ImportScanResponse = z.infer<typeof ImportScanResponse>;

/** DefectDojo's tags are lower-cased and may not contain spaces, commas or quotes (TAG_PATTERN). */
export function toDojoTag(text: string): string {
  return text.toLowerCase().replace(/[\s,'"]+/g, '_');
}

const GitleaksItem = z.looseObject({
  RuleID: z.string().optional(),
  Description: z.string().optional(),
  Secret: z.unknown().optional(),
  Match: z.unknown().optional(),
});

/**
 * The report as the "Gitleaks Scan" parser accepts it. Three traps of that parser (contracts § 2.5):
 * a v8 finding with an empty `Description` fails the whole import, so it gets the rule id instead;
 * `Secret`/`Match` are shown in clear, so anything but an already redacted secret is replaced here too;
 * and the commit hash, date and message go into the description, which is part of the hash_code, so the
 * same secret at the same place re-found in another commit (a rebase, a squash, a cherry-pick) would be a
 * new finding instead of a duplicate of the triaged one. They are blanked; the commit stays on the test
 * (`commit_hash`, tags) and in SecBot's events.
 * Returns undefined when the content is not a gitleaks JSON report.
 */
export function toDojoGitleaksReport(content: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch {
    return undefined;
  }
  if (parsed === null) return '[]';
  const items = z.array(GitleaksItem).safeParse(parsed);
  if (!items.success) return undefined;
  const cleaned = items.data.map((item) => {
    if ('rule' in item) return item;
    const secret = typeof item.Secret === 'string' ? item.Secret : '';
    const match = typeof item.Match === 'string' && secret !== '' && secret !== 'REDACTED' ? item.Match.split(secret).join('REDACTED') : item.Match;
    const description = item.Description || item.RuleID || 'gitleaks finding';
    return { ...item, Description: description, Secret: 'REDACTED', Match: match ?? '', Commit: '', Date: '', Message: '' };
  });
  return JSON.stringify(cleaned);
}
