import type { ChangeRange } from '@secbot/contracts';
import type { GitleaksComponentConfig } from './component-config.ts';

/** What to scan once the mirror has the commits: a list of `git log` revisions, a tree, or nothing. */
export type ScanTarget =
  | { kind: 'log'; commit: string; revisions: string[]; description: string }
  | { kind: 'tree'; commit: string; description: string }
  | { kind: 'empty'; commit: string; description: string };

/** Refs to fetch into the mirror, and the commits that must be there afterwards. */
export interface FetchPlan {
  refspecs: string[];
  required: string[];
  /** When all of these are already in the mirror the range is fully known and no fetch is needed. */
  skipWhenPresent: string[];
}

const short = (sha: string) => sha.slice(0, 7);
const HEADS = '+refs/heads/*:refs/heads/*';

export function fetchPlan(range: ChangeRange): FetchPlan {
  switch (range.kind) {
    case 'push':
      // `before` is not required: after a force-push it may be gone from GitLab (then: new-branch rules).
      return { refspecs: [HEADS], required: [range.after], skipWhenPresent: range.before ? [range.before, range.after] : [] };
    case 'tag':
      return { refspecs: [HEADS, `+refs/tags/${range.tag}:refs/tags/${range.tag}`], required: [range.commit], skipWhenPresent: [] };
    case 'merge_request':
      // The MR head is published in the target project, also for fork MRs: no need to contact the fork.
      return {
        refspecs: [HEADS, `+refs/merge-requests/${range.iid}/head:refs/merge-requests/${range.iid}/head`],
        required: [range.lastCommit],
        skipWhenPresent: [],
      };
  }
}

/** Facts read from the mirror after the fetch. */
export interface MirrorFacts {
  /** Whether a commit exists in the mirror. */
  has: (sha: string) => boolean;
  /** The sha of a branch in the mirror, or null. */
  branch: (name: string) => string | null;
  defaultBranch: string | null;
}

/**
 * The commits (or tree) a change adds. gitleaks' `--log-opts` replaces its defaults (`--all` ...), so the
 * revisions here are the whole selection: `before..after`, or `after --not <base>`, bounded.
 */
export function scanTarget(range: ChangeRange, facts: MirrorFacts, config: GitleaksComponentConfig): ScanTarget {
  const bound = `--max-count=${config.new_branch_max_commits}`;
  const notOnBase = (commit: string, baseBranch: string | null, what: string): ScanTarget => {
    const base = baseBranch ? facts.branch(baseBranch) : null;
    if (base && base !== commit) {
      return {
        kind: 'log',
        commit,
        revisions: [commit, '--not', base, bound],
        description: `${what} ${short(commit)} not on ${baseBranch} (${short(base)}), at most ${config.new_branch_max_commits} commits`,
      };
    }
    if (base === commit) return { kind: 'empty', commit, description: `${short(commit)} is already on ${baseBranch}` };
    return { kind: 'log', commit, revisions: [commit, bound], description: `history of ${short(commit)}, at most ${config.new_branch_max_commits} commits` };
  };
  const tree = (commit: string): ScanTarget => ({ kind: 'tree', commit, description: `tree at ${short(commit)}` });

  switch (range.kind) {
    case 'push': {
      const { before, after } = range;
      if (config.modes.push === 'tree') return tree(after);
      if (before === after) return { kind: 'empty', commit: after, description: `${short(after)}..${short(after)} (no new commits)` };
      const branch = range.ref.replace(/^refs\/heads\//, '');
      const base = branch === facts.defaultBranch ? null : facts.defaultBranch;
      if (before === null) return notOnBase(after, base, 'new branch: commits of');
      if (!facts.has(before)) return notOnBase(after, base, `${short(before)} is unknown (force-push?): commits of`);
      return { kind: 'log', commit: after, revisions: [`${before}..${after}`], description: `${short(before)}..${short(after)}` };
    }
    case 'tag':
      if (config.modes.tag_push === 'tree') return tree(range.commit);
      return notOnBase(range.commit, facts.defaultBranch, `tag ${range.tag}: commits of`);
    case 'merge_request': {
      if (config.modes.merge_request === 'tree') return tree(range.lastCommit);
      const target = facts.branch(range.targetBranch);
      if (!target) return notOnBase(range.lastCommit, null, `MR !${range.iid}:`);
      if (target === range.lastCommit) return { kind: 'empty', commit: range.lastCommit, description: `MR !${range.iid} adds no commits to ${range.targetBranch}` };
      return {
        kind: 'log',
        commit: range.lastCommit,
        revisions: [`${target}..${range.lastCommit}`],
        description: `MR !${range.iid}: ${range.targetBranch} (${short(target)})..${short(range.lastCommit)}`,
      };
    }
  }
}
