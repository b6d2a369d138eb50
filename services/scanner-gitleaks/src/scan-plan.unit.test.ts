import type { ChangeRange } from '@secbot/contracts';
import { describe, expect, it } from 'vitest';
import { fetchPlan, headOf } from './scan-plan.ts';

const sha = (c: string) => c.repeat(40);

describe('fetchPlan', () => {
  it('needs only the pushed commit, whatever `before` says (forged, equal to after, or gone)', () => {
    for (const before of [null, sha('a'), sha('b')]) {
      const range: ChangeRange = { kind: 'push', ref: 'refs/heads/feature', before, after: sha('b') };
      expect(fetchPlan(range)).toEqual({ refspecs: ['+refs/heads/*:refs/heads/*'], required: [sha('b')], skipWhenPresent: [sha('b')] });
    }
  });

  it('fetches the tag for a tag push and judges the tagged commit, not the tag object', () => {
    const range: ChangeRange = { kind: 'tag', ref: 'refs/tags/v1', tag: 'v1', commit: sha('c'), tagObject: sha('9') };
    expect(headOf(range)).toBe(sha('c'));
    expect(fetchPlan(range).refspecs).toContain('+refs/tags/v1:refs/tags/v1');
    expect(fetchPlan(range).required).toEqual([sha('c')]);
  });

  it("fetches a merge request's refs (head, and merge for merged results) from the target project (fork MRs too)", () => {
    const range: ChangeRange = {
      kind: 'merge_request',
      iid: 7,
      targetBranch: 'main',
      sourceBranch: 'feature',
      sourceGitHttpUrl: 'https://gitlab.example.com/fork/app.git',
      headRef: 'refs/merge-requests/7/head',
      lastCommit: sha('e'),
      oldrev: null,
    };
    expect(headOf(range)).toBe(sha('e'));
    expect(fetchPlan(range).refspecs).toContain('+refs/merge-requests/7/*:refs/merge-requests/7/*');
  });
});
