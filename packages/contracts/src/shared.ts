import { z } from 'zod';

export const GitSha = z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, 'must be a full git commit sha');

/** A GitLab project as SecBot needs it; the URLs were checked to belong to the instance. */
export const Project = z.object({
  id: z.number().int(),
  pathWithNamespace: z.string().min(1),
  webUrl: z.url(),
  gitHttpUrl: z.url(),
  defaultBranch: z.string().nullable(),
});
export type Project = z.infer<typeof Project>;

/** The GitLab instance an event came from. Never carries a token. */
export const Instance = z.object({
  /** Host name without scheme or port, as GitLab's `CI_SERVER_HOST`. */
  host: z.string().min(1),
  /** The configured base URL, e.g. `https://gitlab.example.com/`. */
  url: z.url(),
  prefix: z.string().min(1),
});
export type Instance = z.infer<typeof Instance>;

/** What the change adds, so a scanner can scan exactly that. */
export const ChangeRange = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('push'),
    ref: z.string(),
    /** null for a new branch. Informational: a commit is judged by its whole history, whatever `before` says. */
    before: GitSha.nullable(),
    after: GitSha,
  }),
  z.object({
    kind: z.literal('tag'),
    ref: z.string(),
    tag: z.string(),
    /** The tagged commit (`checkout_sha`), not the annotated tag object. */
    commit: GitSha,
    tagObject: GitSha,
  }),
  z.object({
    kind: z.literal('merge_request'),
    iid: z.number().int(),
    targetBranch: z.string(),
    sourceBranch: z.string(),
    /** Where the MR head lives (a fork for fork MRs); the head is also at `headRef` in the target project. */
    sourceGitHttpUrl: z.url().nullable(),
    headRef: z.string(),
    lastCommit: GitSha,
    /** The previous head when new commits were pushed to an open MR (`oldrev`), else null. */
    oldrev: GitSha.nullable(),
  }),
]);
export type ChangeRange = z.infer<typeof ChangeRange>;

export const CommitRef = z.object({
  sha: GitSha,
  ref: z.string().nullable(),
  title: z.string().optional(),
  url: z.url().optional(),
});
export type CommitRef = z.infer<typeof CommitRef>;

export const Actor = z.object({
  id: z.number().int().optional(),
  username: z.string().optional(),
  name: z.string().optional(),
});
export type Actor = z.infer<typeof Actor>;

export const MergeRequestRef = z.object({
  iid: z.number().int(),
  id: z.number().int().optional(),
  title: z.string().optional(),
  url: z.url().optional(),
  action: z.string().optional(),
  sourceBranch: z.string(),
  targetBranch: z.string(),
  sourceProjectId: z.number().int().optional(),
  targetProjectId: z.number().int().optional(),
});
export type MergeRequestRef = z.infer<typeof MergeRequestRef>;

/** One component of a job plan with its non-secret config. Secrets stay in each service's environment. */
export const PlannedComponent = z.object({
  name: z.string().min(1),
  handler: z.string().min(1),
  config: z.record(z.string(), z.unknown()),
});
export type PlannedComponent = z.infer<typeof PlannedComponent>;

export const JobPlan = z.object({
  name: z.string().min(1),
  scans: z.array(PlannedComponent).min(1),
  outputs: z.array(PlannedComponent).min(1),
  notifiers: z.array(PlannedComponent),
});
export type JobPlan = z.infer<typeof JobPlan>;

/**
 * A normalised finding. It never contains the secret, nor the matched text around it.
 * `fingerprint` does not depend on the commit, so a secret re-found after a rebase matches.
 */
export const Finding = z.object({
  fingerprint: z.string().min(1),
  ruleId: z.string(),
  description: z.string(),
  file: z.string(),
  startLine: z.number().int().nonnegative(),
  endLine: z.number().int().nonnegative(),
  commit: z.string(),
  author: z.string().optional(),
  email: z.string().optional(),
  date: z.string().optional(),
  tags: z.array(z.string()).default([]),
  severity: z.enum(['critical', 'high', 'medium', 'low', 'info']).default('high'),
  /** Where a person can see the finding: the file at the commit, the DefectDojo finding. */
  links: z.record(z.string(), z.url()).default({}),
  /**
   * In history accepted as the project's baseline (`secbot enroll --accept-history`): reported to outputs,
   * never blocking. Absent: the finding blocks until triaged.
   */
  baseline: z.boolean().optional(),
});
export type Finding = z.infer<typeof Finding>;

/**
 * What a downstream service needs to know about the check, copied forward from `event.received` by each
 * publisher (event-carried state), so outputs and notifiers never have to look the check up.
 */
export const CheckContext = z.object({
  instance: Instance,
  eventType: z.enum(['push', 'tag_push', 'merge_request']),
  project: Project,
  commit: CommitRef,
  range: ChangeRange,
  mergeRequest: MergeRequestRef.optional(),
  user: Actor,
  job: JobPlan,
});
export type CheckContext = z.infer<typeof CheckContext>;
