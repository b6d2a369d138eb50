import type { CheckContext } from '@secbot/contracts';
import { aCheck } from '@secbot/testing';
import { describe, expect, it } from 'vitest';
import { placementFor } from './dojo-context.ts';

const sha = 'd'.repeat(40);
const base = aCheck({ sha, project: 'group/app' });
const place = (context: CheckContext, config: Record<string, unknown> = {}) =>
  placementFor({ context, securityCheckId: base.securityCheckId, scan: 'gitleaks', output: 'defectdojo', config });

const mrContext = (sourceProjectId: number): CheckContext => ({
  ...base.context,
  eventType: 'merge_request',
  range: { kind: 'merge_request', iid: 7, targetBranch: 'main', sourceBranch: 'feature/x', sourceGitHttpUrl: null, headRef: 'refs/merge-requests/7/head', lastCommit: sha, oldrev: null },
  mergeRequest: { iid: 7, sourceBranch: 'feature/x', targetBranch: 'main', sourceProjectId, targetProjectId: 15 },
});

describe('placementFor', () => {
  it('puts a push in the project product and the branch engagement', () => {
    const p = place({ ...base.context, range: { kind: 'push', ref: 'refs/heads/main', before: null, after: sha } });

    expect(p).toMatchObject({ productTypeName: 'SecBot', productName: 'group/app', engagementName: 'branch:main', branchTag: 'main', commitHash: sha, testTitle: `gitleaks ${sha.slice(0, 12)}` });
  });

  it('puts an MR in its source branch engagement, so pushes and the MR share triage views', () => {
    expect(place(mrContext(15))).toMatchObject({ engagementName: 'branch:feature/x', branchTag: 'feature/x', testTitle: `gitleaks ${sha.slice(0, 12)} !7` });
  });

  it('gives a fork MR an engagement of its own, since fork branch names collide', () => {
    expect(place(mrContext(99)).engagementName).toBe('mr:!7');
  });

  it('puts tags in one engagement', () => {
    const p = place({ ...base.context, eventType: 'tag_push', range: { kind: 'tag', ref: 'refs/tags/v1.0', tag: 'v1.0', commit: sha, tagObject: 'e'.repeat(40) } });

    expect(p).toMatchObject({ engagementName: 'tags', branchTag: 'v1.0' });
  });

  it('takes the product type from the component config', () => {
    expect(place(base.context, { product_type: 'Team A' }).productTypeName).toBe('Team A');
  });

  it('tags the test with the commit, the check and the run, in the shape DefectDojo accepts', () => {
    const p = place(base.context);

    expect(p.tags).toEqual(['secbot', `commit:${sha}`, `security-check:${base.securityCheckId.toLowerCase()}`, p.runTag]);
    expect(p.runTag).toBe(`secbot-run:${base.securityCheckId.toLowerCase()}:gitleaks:defectdojo`);
    for (const tag of p.tags) expect(tag).toMatch(/^[^ ,'"A-Z]+$/);
  });
});
