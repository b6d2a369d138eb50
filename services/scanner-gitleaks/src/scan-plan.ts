import type { ChangeRange } from '@secbot/contracts';

/** Refs to fetch into the mirror, and the commits that must be there afterwards. */
export interface FetchPlan {
  refspecs: string[];
  required: string[];
  /** When all of these are already in the mirror no fetch is needed: a commit's history never changes. */
  skipWhenPresent: string[];
}

const HEADS = '+refs/heads/*:refs/heads/*';

/** The commit a change is about: the one its check is for, judged by its whole history. */
export function headOf(range: ChangeRange): string {
  return range.kind === 'push' ? range.after : range.kind === 'tag' ? range.commit : range.lastCommit;
}

/**
 * What to fetch for a change. The branches come along so that later events find most commits already there;
 * `before` is never required (after a force-push it may be gone, and it decides nothing).
 */
export function fetchPlan(range: ChangeRange): FetchPlan {
  const head = headOf(range);
  switch (range.kind) {
    case 'push':
      return { refspecs: [HEADS], required: [head], skipWhenPresent: [head] };
    case 'tag':
      return { refspecs: [HEADS, `+refs/tags/${range.tag}:refs/tags/${range.tag}`], required: [head], skipWhenPresent: [head] };
    case 'merge_request':
      // The MR's refs are published in the target project, also for fork MRs (no need to contact the fork):
      // `head`, and `merge` (the commit a merged results pipeline runs on).
      return {
        refspecs: [HEADS, `+refs/merge-requests/${range.iid}/*:refs/merge-requests/${range.iid}/*`],
        required: [head],
        skipWhenPresent: [head],
      };
  }
}
