import { isBranchOrTagRef, isGitRefName, isProjectPath } from '@secbot/contracts';
import { z } from 'zod';

/**
 * Permissive schemas of GitLab hook bodies: only the fields SecBot reads, unknown keys ignored.
 * Project, group and system hooks send the same body for push, tag_push and merge_request.
 * Docs: doc/user/project/integrations/webhook_events.md, doc/administration/system_hooks.md.
 */
export const ZERO_SHA = '0000000000000000000000000000000000000000';
const Sha = z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, 'must be a full commit sha');
/** Names that reach git: refused when git could read them as an option, a refspec or a path elsewhere. */
const Branch = z.string().refine(isGitRefName, 'must be a branch name git accepts (git check-ref-format), not starting with -');
const Ref = z.string().refine(isBranchOrTagRef, 'must be refs/heads/<branch> or refs/tags/<tag> with a name git accepts');
const ProjectPath = z.string().refine(isProjectPath, 'must be a GitLab project path (group/project: letters, digits, _ . -)');

const ProjectPayload = z.object({
  id: z.number().int().optional(),
  web_url: z.url(),
  git_http_url: z.url(),
  path_with_namespace: ProjectPath,
  default_branch: Branch.nullish(),
});

export const PushPayload = z.object({
  before: Sha,
  after: Sha,
  ref: Ref,
  /** null when a ref is deleted; for tags, the commit the tag points to. */
  checkout_sha: Sha.nullish(),
  user_id: z.number().int().optional(),
  user_name: z.string().optional(),
  user_username: z.string().optional(),
  /** The system-hook doc example has no project.id; the top-level project_id is always there. */
  project_id: z.number().int(),
  project: ProjectPayload,
  commits: z.array(z.object({ id: z.string(), title: z.string().optional(), url: z.string().optional() })).optional(),
  total_commits_count: z.number().int().optional(),
});
export type PushPayload = z.infer<typeof PushPayload>;

export const MergeRequestPayload = z.object({
  user: z.object({ id: z.number().int().optional(), username: z.string().optional(), name: z.string().optional() }).optional(),
  project: ProjectPayload,
  object_attributes: z.object({
    id: z.number().int().optional(),
    iid: z.number().int(),
    target_branch: Branch,
    source_branch: Branch,
    source_project_id: z.number().int().optional(),
    target_project_id: z.number().int().optional(),
    title: z.string().optional(),
    url: z.string().optional(),
    state: z.string().optional(),
    /** Missing on older payloads. */
    action: z.string().optional(),
    /** The previous head, present only when new commits were pushed. */
    oldrev: Sha.nullish(),
    last_commit: z.object({ id: Sha, title: z.string().optional(), url: z.string().optional() }).nullish(),
    source: z.object({ git_http_url: z.url().optional(), web_url: z.url().optional() }).nullish(),
  }),
});
export type MergeRequestPayload = z.infer<typeof MergeRequestPayload>;

export type SupportedEvent = 'push' | 'tag_push' | 'merge_request';

const HEADER_EVENTS: Record<string, SupportedEvent> = {
  'Push Hook': 'push',
  'Tag Push Hook': 'tag_push',
  'Merge Request Hook': 'merge_request',
};

/**
 * Which event a delivery is. System hooks always say `System Hook`, so the body decides there
 * (`object_kind`, else `event_name`, else `event_type`). A push to `refs/tags/` is a tag push.
 */
export function classifyEvent(
  header: string,
  body: unknown,
): { kind: SupportedEvent; hook: 'system' | 'project' } | { ignored: string } {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  let kind: string | undefined;
  let hook: 'system' | 'project' = 'project';
  if (header === 'System Hook') {
    hook = 'system';
    kind = str(b['object_kind']) ?? str(b['event_name']) ?? str(b['event_type']);
  } else {
    kind = HEADER_EVENTS[header];
    if (!kind) return { ignored: `event "${header}" is not one SecBot scans` };
  }
  if (kind === 'push' || kind === 'tag_push') {
    const ref = str(b['ref']) ?? '';
    return { kind: ref.startsWith('refs/tags/') ? 'tag_push' : 'push', hook };
  }
  if (kind === 'merge_request') return { kind, hook };
  return { ignored: `system hook event "${kind ?? 'unknown'}" is not one SecBot scans` };
}
