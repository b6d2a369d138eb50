import { z } from 'zod';

/**
 * A gitleaks component's `config` in config.yml. Every key is optional; unknown keys are refused so a typo
 * cannot silently weaken the gate.
 */
export const GitleaksComponentConfig = z.strictObject({
  /** Report format; only gitleaks' JSON is produced. Kept because config.yml examples carry it. */
  format: z.literal('json').default('json'),
  timeout_seconds: z.number().int().min(1).max(7200).default(300),
  /** Files larger than this are skipped by gitleaks (0 = no limit). */
  max_target_megabytes: z.number().int().min(0).max(10_000).default(10),
  /**
   * No longer used: every commit is judged by its whole history, scanned once, so nothing is bounded (a scan
   * that cannot finish within timeout_seconds ends in `error`, never in a pass). Accepted so older config.yml
   * files still load.
   */
  new_branch_max_commits: z.number().int().min(1).max(1_000_000).optional(),
  /**
   * No longer used: every event kind is judged by the history of its commit (which covers its tree, and
   * reads blobs from git's object database, never through a checkout). Accepted so older config.yml files load.
   */
  modes: z
    .strictObject({
      push: z.enum(['range', 'tree']).optional(),
      merge_request: z.enum(['range', 'tree']).optional(),
      tag_push: z.enum(['range', 'tree']).optional(),
    })
    .optional(),
  /**
   * gitleaks TOML used as the rules. Default: gitleaks' built-in rules. To add rules to them, start with
   * `[extend]` / `useDefault = true`.
   */
  gitleaks_config: z.string().min(1).optional(),
  /**
   * Honour the repository's own .gitleaks.toml / .gitleaksignore, as they are on the protected default branch
   * (then the event says rulesSource: repository). Never the pushed commit's.
   */
  use_repository_config: z.boolean().default(false),
  /** Honour inline `gitleaks:allow` comments. Off by default: a developer could silence the gate. */
  allow_inline_ignores: z.boolean().default(false),
});
export type GitleaksComponentConfig = z.infer<typeof GitleaksComponentConfig>;

/** gitleaks' built-in rules, passed explicitly so a repository's .gitleaks.toml never applies by accident. */
export const DEFAULT_GITLEAKS_CONFIG = '# SecBot: gitleaks built-in rules\n[extend]\nuseDefault = true\n';

export function parseComponentConfig(raw: Record<string, unknown>): { ok: true; config: GitleaksComponentConfig } | { ok: false; problems: string[] } {
  const parsed = GitleaksComponentConfig.safeParse(raw);
  if (parsed.success) return { ok: true, config: parsed.data };
  return { ok: false, problems: parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`) };
}
