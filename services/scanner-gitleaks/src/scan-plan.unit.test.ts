import type { ChangeRange } from '@secbot/contracts';
import { describe, expect, it } from 'vitest';
import { GitleaksComponentConfig } from './component-config.ts';
import { fetchPlan, scanTarget, type MirrorFacts } from './scan-plan.ts';

const sha = (c: string) => c.repeat(40);
const config = GitleaksComponentConfig.parse({ new_branch_max_commits: 50 });
const facts = (over: Partial<MirrorFacts> = {}): MirrorFacts => ({
  has: () => true,
  branch: (b) => ({ main: sha('d'), develop: sha('e') })[b] ?? null,
  defaultBranch: 'main',
  ...over,
});
const push = (before: string | null, after: string, ref = 'refs/heads/feature'): ChangeRange => ({ kind: 'push', ref, before, after });

describe('scanTarget', () => {
  it('scans before..after for a push', () => {
    expect(scanTarget(push(sha('a'), sha('b')), facts(), config)).toEqual({
      kind: 'log',
      commit: sha('b'),
      revisions: [`${sha('a')}..${sha('b')}`],
      description: 'aaaaaaa..bbbbbbb',
    });
  });

  it('scans the commits of a new branch not on the default branch, bounded', () => {
    const target = scanTarget(push(null, sha('b')), facts(), config);

    expect(target).toMatchObject({ kind: 'log', revisions: [sha('b'), '--not', sha('d'), '--max-count=50'] });
  });

  it('falls back to new-branch rules when before is unknown to the mirror (force-push to a cold mirror)', () => {
    const target = scanTarget(push(sha('a'), sha('b')), facts({ has: () => false }), config);

    expect(target).toMatchObject({ kind: 'log', revisions: [sha('b'), '--not', sha('d'), '--max-count=50'] });
    expect(target.description).toMatch(/unknown \(force-push\?\)/);
  });

  it('scans the bounded history when the default branch itself is created', () => {
    expect(scanTarget(push(null, sha('b'), 'refs/heads/main'), facts(), config)).toMatchObject({ kind: 'log', revisions: [sha('b'), '--max-count=50'] });
  });

  it.each([
    ['before equals after', push(sha('a'), sha('a'))],
    ['a new branch already on the default branch', push(null, sha('d'))],
  ])('finds nothing to scan when %s', (_name, range) => {
    expect(scanTarget(range, facts(), config).kind).toBe('empty');
  });

  it('scans the tree at the tagged commit by default, and the new commits when configured', () => {
    const tag: ChangeRange = { kind: 'tag', ref: 'refs/tags/v1', tag: 'v1', commit: sha('c'), tagObject: sha('f') };

    expect(scanTarget(tag, facts(), config)).toEqual({ kind: 'tree', commit: sha('c'), description: 'tree at ccccccc' });
    expect(scanTarget(tag, facts(), GitleaksComponentConfig.parse({ modes: { tag_push: 'range' } }))).toMatchObject({
      kind: 'log',
      revisions: [sha('c'), '--not', sha('d'), '--max-count=1000'],
    });
  });

  it('scans from the MR target branch to its last commit', () => {
    const mr: ChangeRange = {
      kind: 'merge_request',
      iid: 3,
      targetBranch: 'develop',
      sourceBranch: 'topic',
      sourceGitHttpUrl: null,
      headRef: 'refs/merge-requests/3/head',
      lastCommit: sha('b'),
      oldrev: null,
    };

    expect(scanTarget(mr, facts(), config)).toMatchObject({ kind: 'log', revisions: [`${sha('e')}..${sha('b')}`] });
    expect(fetchPlan(mr).refspecs).toContain('+refs/merge-requests/3/head:refs/merge-requests/3/head');
  });
});

describe('fetchPlan', () => {
  it('lets a warm mirror skip the fetch only when the push range is fully known', () => {
    expect(fetchPlan(push(sha('a'), sha('b')))).toEqual({ refspecs: ['+refs/heads/*:refs/heads/*'], required: [sha('b')], skipWhenPresent: [sha('a'), sha('b')] });
    expect(fetchPlan(push(null, sha('b'))).skipWhenPresent).toEqual([]);
  });
});
