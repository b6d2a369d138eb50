import { aCheck, aCheckExpired, aFinding, aJobPlan, anEventReceived, anOutputCompleted, aScanCompleted } from '@secbot/testing';
import { describe, expect, it } from 'vitest';
import { emptyView, evolveView, statusTarget, verdictOf, type SeenEvent } from './verdict.ts';

const check = aCheck({ job: aJobPlan({ outputs: [{ name: 'builtin', handler: 'builtin', config: {} }, { name: 'defectdojo', handler: 'defectdojo', config: {} }] }) });
const fold = (...events: SeenEvent[]) => verdictOf(events.reduce(evolveView, emptyView()));

describe('verdictOf', () => {
  it('is pending when the check was received, running once a scan reported', () => {
    expect(fold(anEventReceived(check)).state).toBe('pending');
    expect(fold(anEventReceived(check), aScanCompleted(check)).state).toBe('running');
  });

  it('waits for every output of the job before saying success', () => {
    const one = fold(anEventReceived(check), aScanCompleted(check), anOutputCompleted(check, { output: 'builtin' }));
    const both = fold(anEventReceived(check), aScanCompleted(check), anOutputCompleted(check, { output: 'builtin' }), anOutputCompleted(check, { output: 'defectdojo' }));

    expect(one.state).toBe('running');
    expect(both).toMatchObject({ state: 'success', description: 'SecBot: no blocking secrets' });
  });

  it('fails as soon as one output blocks, naming the worst finding, within 255 characters', () => {
    const blocking = [aFinding({ severity: 'low', file: 'b.txt' }), aFinding({ severity: 'critical', ruleId: 'private-key', file: `${'deep/'.repeat(100)}key.pem`, startLine: 9 })];

    const verdict = fold(anEventReceived(check), anOutputCompleted(check, { output: 'builtin', blocking }));

    expect(verdict.state).toBe('failed');
    expect(verdict.description).toMatch(/^SecBot: 2 blocking secrets: private-key in deep\/deep/);
    expect(verdict.description.length).toBeLessThanOrEqual(255);
  });

  it('follows a later revision (triage) back to success, and ignores an older one arriving late', () => {
    const events = [
      anEventReceived(check),
      anOutputCompleted(check, { output: 'builtin' }),
      anOutputCompleted(check, { output: 'defectdojo', blocking: [aFinding()] }),
      anOutputCompleted(check, { output: 'defectdojo', blocking: [], revision: 1 }),
    ];

    expect(fold(...events).state).toBe('success');
    expect(fold(...events, anOutputCompleted(check, { output: 'defectdojo', blocking: [aFinding()], revision: 0 })).state).toBe('success');
  });

  it('fails with the reason when a scan or an output failed, or the deadline passed', () => {
    expect(fold(anEventReceived(check), aScanCompleted(check, { status: 'error', reason: 'git fetch failed' }))).toMatchObject({
      state: 'failed',
      description: 'SecBot could not check this change: scan gitleaks: git fetch failed',
    });
    expect(fold(anEventReceived(check), aCheckExpired(check, ['scan gitleaks'])).description).toBe('SecBot could not check this change: no result in time; waited for scan gitleaks');
  });
});

describe('verdictOf, with several evaluations of one commit', () => {
  it('keeps a completed evaluation when a later one cannot finish, as the gate does', () => {
    const c = aCheck();
    const evaluated = [anEventReceived(c), aScanCompleted(c, { findings: [aFinding()] }), anOutputCompleted(c, { blocking: [aFinding()], revision: 5_000_000 })];

    const later = fold(...evaluated, aScanCompleted(c, { status: 'error', reason: 'git fetch failed' }), anOutputCompleted(c, { status: 'error', reason: 'timeout', revision: 9_000_000 }));
    const clean = fold(anEventReceived(c), aScanCompleted(c), anOutputCompleted(c, { revision: 5_000_000 }), aScanCompleted(c, { status: 'error', reason: 'git fetch failed' }));

    expect(later).toMatchObject({ state: 'failed', blockingCount: 1, errors: [] });
    expect(clean.state).toBe('success');
  });
});

describe('statusTarget', () => {
  it('targets the source project and branch of a fork merge request, the branch of a push', () => {
    const mr = {
      ...check.context,
      range: { kind: 'merge_request' as const, iid: 3, targetBranch: 'main', sourceBranch: 'feat', sourceGitHttpUrl: null, headRef: 'refs/merge-requests/3/head', lastCommit: check.sha, oldrev: null },
      mergeRequest: { iid: 3, sourceBranch: 'feat', targetBranch: 'main', sourceProjectId: 99, targetProjectId: 15 },
    };

    expect(statusTarget(check.context)).toEqual({ projectId: 15, sha: check.sha, ref: 'master' });
    expect(statusTarget(mr)).toEqual({ projectId: 99, sha: check.sha, ref: 'feat' });
  });
});
