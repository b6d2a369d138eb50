import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';
import { CheckContext, Finding } from './shared.ts';

/** A scanner finished (or gave up on) one scan component of a check. Findings never contain the secret. */
export const ScanCompletedV1 = defineEvent(
  'scan.completed',
  1,
  z.object({
    /** The check as intake planned it: project, commit, range and the job's outputs and notifiers. */
    context: CheckContext,
    /** The component name from config.yml, e.g. `gitleaks`. */
    scan: z.string().min(1),
    handler: z.string().min(1),
    status: z.enum(['ok', 'error']),
    /** For `error`: what went wrong and what to do about it. */
    reason: z.string().optional(),
    commit: z.string(),
    scanned: z
      .object({
        /** Human-readable range, e.g. `a1b2c3d..e4f5a6b` or `tree at e4f5a6b`. */
        description: z.string(),
        commits: z.number().int().nonnegative(),
        bytes: z.number().int().nonnegative(),
      })
      .optional(),
    durationMs: z.number().nonnegative(),
    tool: z.object({ name: z.string(), version: z.string() }).optional(),
    /** Whether the repository's own .gitleaks.toml / .gitleaksignore applied (an explicit option). */
    rulesSource: z.enum(['component', 'repository']).optional(),
    findings: z.array(Finding),
    /** The redacted raw report for outputs that import it: inline, or in the object store when too large. */
    report: z
      .discriminatedUnion('storage', [
        z.object({ storage: z.literal('inline'), format: z.string(), content: z.string() }),
        z.object({ storage: z.literal('object-store'), format: z.string(), bucket: z.string(), name: z.string() }),
      ])
      .optional(),
  }),
);
export type ScanCompletedV1 = EventOf<typeof ScanCompletedV1>;
