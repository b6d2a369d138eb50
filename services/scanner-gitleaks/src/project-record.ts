import { createHash } from 'node:crypto';
import { Finding } from '@secbot/contracts';
import { z } from 'zod';

/**
 * What the scanner knows about one project, kept for ever (a KV bucket without expiry), beside the events:
 * the truth is the findings (each with the commit that introduced it) and the baselines; the scanned tips
 * are a cache that saves rescans (losing one costs a rescan, never a finding).
 */
export const StoredFinding = Finding.extend({
  /** Found while a baseline was taken (`secbot enroll --accept-history`): reported, never blocking. */
  baseline: z.boolean().optional(),
  foundAt: z.string(),
  /**
   * The scan scope (rules + scanner version) that found it. A rules change rescans the history, and what the
   * new rules no longer find stops blocking. Absent for findings of events from before project records
   * existed: those always count.
   */
  scope: z.string().optional(),
});
export type StoredFinding = z.infer<typeof StoredFinding>;

export const ComponentRecord = z.object({
  /** Keyed by findingKey(finding). */
  findings: z.record(z.string(), StoredFinding).default({}),
  /** Scan scope (rules digest + scanner version) → tips whose whole history has been scanned under it. */
  tips: z.record(z.string(), z.array(z.string())).default({}),
});
export type ComponentRecord = z.infer<typeof ComponentRecord>;

export const Enrollment = z.object({
  at: z.string(),
  actor: z.string(),
  eventId: z.string(),
  branches: z.array(z.string()),
  /** The branch heads whose history became the baseline, once they were scanned. */
  heads: z.record(z.string(), z.string()).default({}),
});
export type Enrollment = z.infer<typeof Enrollment>;

export const ProjectRecord = z.object({
  v: z.literal(1),
  host: z.string(),
  project: z.string(),
  components: z.record(z.string(), ComponentRecord).default({}),
  enrollments: z.array(Enrollment).default([]),
});
export type ProjectRecord = z.infer<typeof ProjectRecord>;

export const emptyRecord = (host: string, project: string): ProjectRecord => ({ v: 1, host, project, components: {}, enrollments: [] });

/** The KV key of a project: its host and path hashed (KV keys allow few characters). */
export const projectKey = (host: string, project: string): string =>
  `p.${createHash('sha256').update(`${host.toLowerCase()}\u0000${project.toLowerCase()}`).digest('hex').slice(0, 40)}`;

export const findingKey = (f: Pick<StoredFinding, 'fingerprint' | 'commit' | 'scope'>): string =>
  `${f.scope ? `${f.scope}/` : ''}${f.fingerprint}@${f.commit}`;

/** Whether a recorded finding counts for an evaluation under `scope`. */
export const inScope = (f: StoredFinding, scope: string): boolean => f.scope === undefined || f.scope === scope;

/** A ref-name-safe id of a finding (fingerprints hold rule ids, which may contain anything). */
export const findingRefId = (key: string): string => createHash('sha256').update(key).digest('hex').slice(0, 40);

/** Ref names in the mirror; the component part is hex so any component name is a valid ref component. */
const componentPart = (component: string) => Buffer.from(component, 'utf8').toString('hex');
export const scannedPrefix = (component: string, scope: string) => `refs/secbot/scanned/${componentPart(component)}/${scope}/`;
export const findingsPrefix = (component: string) => `refs/secbot/findings/${componentPart(component)}/`;

const componentOf = (r: ProjectRecord, component: string): ComponentRecord => r.components[component] ?? { findings: {}, tips: {} };

/** Adds findings that are not known yet (the first record of a finding stands: its baseline flag too). */
export function addFindings(r: ProjectRecord, component: string, findings: StoredFinding[]): ProjectRecord {
  const c = componentOf(r, component);
  const next = { ...c.findings };
  for (const f of findings) next[findingKey(f)] ??= f;
  return { ...r, components: { ...r.components, [component]: { ...c, findings: next } } };
}

/**
 * Tips kept per scope in the record. Tips are a cache: past this many (a project with thousands of branches
 * never merged back), the oldest recorded are forgotten, which costs a rescan of what only they covered.
 */
export const MAX_TIPS = 5000;

/** Records a scanned tip and drops the tips it covers (reachable from it), as the mirror's refs did. */
export function recordTip(r: ProjectRecord, component: string, scope: string, tip: string, covered: readonly string[]): ProjectRecord {
  const c = componentOf(r, component);
  const drop = new Set(covered);
  drop.delete(tip);
  // Insertion order is recording order: the newest tip last.
  const kept = (c.tips[scope] ?? []).filter((t) => !drop.has(t) && t !== tip);
  const tips = [...kept.slice(Math.max(0, kept.length - (MAX_TIPS - 1))), tip];
  return { ...r, components: { ...r.components, [component]: { ...c, tips: { ...c.tips, [scope]: tips } } } };
}

export function recordEnrollment(r: ProjectRecord, enrollment: Enrollment): ProjectRecord {
  const others = r.enrollments.filter((e) => e.eventId !== enrollment.eventId);
  return { ...r, enrollments: [...others, enrollment] };
}

/** A scan scope: the same commit is scanned once per (component, rules, scanner version, options). */
export function scopeDigest(parts: Record<string, string | number | boolean | null>): string {
  const canonical = JSON.stringify(Object.entries(parts).sort(([a], [b]) => a.localeCompare(b)));
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}
