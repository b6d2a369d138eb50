import { aCheck, aFinding, aJobPlan, aScanCompleted } from '@secbot/testing';
import { describe, expect, it } from 'vitest';
import { decideBuiltin } from './decide.ts';

const now = new Date('2026-11-23T10:00:00Z');

describe('the built-in output', () => {
  it('blocks on every finding of the scan', () => {
    const c = aCheck();
    const findings = [aFinding(), aFinding({ fingerprint: 'other', file: 'b.txt' })];

    const [decision] = decideBuiltin(aScanCompleted(c, { findings }), now, 7);

    expect(decision?.data).toMatchObject({ output: 'builtin', status: 'ok', revision: 7_000_000, findingsTotal: 2, blocking: findings });
  });

  it('passes a clean scan', () => {
    const [decision] = decideBuiltin(aScanCompleted(aCheck()), now, 7);

    expect(decision?.data.blocking).toEqual([]);
  });

  it('decides once per builtin output of the job and ignores other outputs', () => {
    const c = aCheck({
      job: aJobPlan({
        outputs: [
          { name: 'builtin', handler: 'builtin', config: {} },
          { name: 'dojo', handler: 'defectdojo', config: {} },
          { name: 'strict', handler: 'builtin', config: {} },
        ],
      }),
    });

    const decisions = decideBuiltin(aScanCompleted(c), now, 7);

    expect(decisions.map((d) => d.data.output)).toEqual(['builtin', 'strict']);
    expect(new Set(decisions.map((d) => d.id)).size).toBe(2);
  });

  it('gives the same event id for a redelivered scan, so JetStream stores the decision once', () => {
    const scan = aScanCompleted(aCheck());

    expect(decideBuiltin(scan, now, 7)[0]?.id).toBe(decideBuiltin(scan, new Date(), 7)[0]?.id);
  });

  it('reports baseline findings without blocking on them', () => {
    const findings = [aFinding(), aFinding({ fingerprint: 'old', file: 'legacy.env', baseline: true })];

    const [decision] = decideBuiltin(aScanCompleted(aCheck(), { findings }), now, 7);

    expect(decision?.data.findingsTotal).toBe(2);
    expect(decision?.data.blocking.map((f) => f.fingerprint)).toEqual([findings[0]?.fingerprint]);
  });

  it('supersedes an earlier evaluation of the same commit: a later scan gets a higher revision and its own id', () => {
    const c = aCheck();
    const [earlier] = decideBuiltin(aScanCompleted(c), now, 7);
    const [later] = decideBuiltin({ ...aScanCompleted(c), id: '11111111-1111-4111-8111-111111111111' }, now, 9);

    expect(later?.id).not.toBe(earlier?.id);
    expect(later?.data.revision).toBeGreaterThan(earlier?.data.revision ?? Infinity);
  });

  it('makes no decision for a failed scan', () => {
    expect(decideBuiltin(aScanCompleted(aCheck(), { status: 'error', reason: 'timeout' }), now, 7)).toEqual([]);
  });
});
