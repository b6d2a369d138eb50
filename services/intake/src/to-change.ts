import type { Actor, ChangeRange, CommitRef, MergeRequestRef, Project } from '@secbot/contracts';
import { ZERO_SHA, type MergeRequestPayload, type PushPayload } from './gitlab-payload.ts';

export interface Change {
  project: Project;
  commit: CommitRef;
  range: ChangeRange;
  mergeRequest?: MergeRequestRef;
  user: Actor;
  /** Every URL in the body that SecBot could be made to contact; all must belong to the instance. */
  urls: string[];
}

export type ChangeDecision = { change: Change } | { ignored: string };

/** MR actions that add commits to scan. Older payloads have no `action`: an opened MR counts. */
const MR_ACTIONS_WITH_COMMITS = new Set(['open', 'reopen']);

export function pushToChange(p: PushPayload, kind: 'push' | 'tag_push'): ChangeDecision {
  if (p.after === ZERO_SHA) return { ignored: kind === 'push' ? 'branch deleted: nothing to scan' : 'tag deleted: nothing to scan' };
  const project: Project = {
    id: p.project.id ?? p.project_id,
    pathWithNamespace: p.project.path_with_namespace,
    webUrl: p.project.web_url,
    gitHttpUrl: p.project.git_http_url,
    defaultBranch: p.project.default_branch ?? null,
  };
  const user: Actor = { id: p.user_id, username: p.user_username, name: p.user_name };
  const urls = [p.project.web_url, p.project.git_http_url];
  if (kind === 'tag_push') {
    // For an annotated tag `after` is the tag object; the tagged commit is checkout_sha.
    const commitSha = p.checkout_sha ?? p.after;
    return {
      change: {
        project,
        user,
        urls,
        commit: { sha: commitSha, ref: p.ref },
        range: { kind: 'tag', ref: p.ref, tag: p.ref.replace(/^refs\/tags\//, ''), commit: commitSha, tagObject: p.after },
      },
    };
  }
  const head = p.commits?.find((c) => c.id === p.after);
  return {
    change: {
      project,
      user,
      urls,
      commit: { sha: p.after, ref: p.ref, ...(head?.title ? { title: head.title } : {}), ...(isUrl(head?.url) ? { url: head.url } : {}) },
      range: { kind: 'push', ref: p.ref, before: p.before === ZERO_SHA ? null : p.before, after: p.after },
    },
  };
}

export function mergeRequestToChange(p: MergeRequestPayload): ChangeDecision {
  const mr = p.object_attributes;
  const action = mr.action;
  const addsCommits =
    action === undefined ? mr.state === 'opened' : MR_ACTIONS_WITH_COMMITS.has(action) || (action === 'update' && !!mr.oldrev);
  if (!addsCommits) return { ignored: `merge request ${action ?? mr.state ?? 'event'} adds no commit: nothing to scan` };
  if (!mr.last_commit) return { ignored: 'merge request has no commit yet: nothing to scan' };
  const projectId = p.project.id ?? mr.target_project_id;
  if (projectId === undefined) return { ignored: 'merge request without project id' };
  const sourceUrl = mr.source?.git_http_url ?? null;
  return {
    change: {
      project: {
        id: projectId,
        pathWithNamespace: p.project.path_with_namespace,
        webUrl: p.project.web_url,
        gitHttpUrl: p.project.git_http_url,
        defaultBranch: p.project.default_branch ?? null,
      },
      user: { id: p.user?.id, username: p.user?.username, name: p.user?.name },
      urls: [p.project.web_url, p.project.git_http_url, ...(sourceUrl ? [sourceUrl] : [])],
      commit: {
        sha: mr.last_commit.id,
        ref: `refs/heads/${mr.source_branch}`,
        ...(mr.last_commit.title ? { title: mr.last_commit.title } : {}),
        ...(isUrl(mr.last_commit.url) ? { url: mr.last_commit.url } : {}),
      },
      range: {
        kind: 'merge_request',
        iid: mr.iid,
        targetBranch: mr.target_branch,
        sourceBranch: mr.source_branch,
        sourceGitHttpUrl: sourceUrl,
        headRef: `refs/merge-requests/${mr.iid}/head`,
        lastCommit: mr.last_commit.id,
        oldrev: mr.oldrev ?? null,
      },
      mergeRequest: {
        iid: mr.iid,
        id: mr.id,
        title: mr.title,
        url: isUrl(mr.url) ? mr.url : undefined,
        action,
        sourceBranch: mr.source_branch,
        targetBranch: mr.target_branch,
        sourceProjectId: mr.source_project_id,
        targetProjectId: mr.target_project_id,
      },
    },
  };
}

/** A link SecBot may show people (commit, merge request): http(s) only, never `javascript:` or `data:`. */
function isUrl(u: string | undefined): u is string {
  const protocol = u ? URL.parse(u)?.protocol : undefined;
  return protocol === 'https:' || protocol === 'http:';
}

/**
 * True when every URL is on the instance: the same host and port, and a scheme SecBot may use with it: https,
 * or http as well when the instance is marked `insecure` in GITLAB_CONFIGS. Any other scheme (`javascript:`,
 * `file:`, `ssh:`, `git:` ...) is refused, whatever its host says, so a token for one GitLab never reaches
 * another, nor travels in clear to one that should be reached over https.
 */
export function urlsBelongTo(instance: { host: string; insecure?: boolean | undefined }, urls: string[]): boolean {
  const base = new URL(instance.host);
  const host = base.host.toLowerCase();
  const schemes = instance.insecure === true ? ['https:', 'http:'] : ['https:'];
  return urls.every((u) => {
    const url = URL.parse(u);
    return url !== null && schemes.includes(url.protocol) && url.host.toLowerCase() === host && url.username === '' && url.password === '';
  });
}
