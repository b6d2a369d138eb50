import { aCheck, aFinding, aJobPlan, aScanCompleted } from '@secbot/testing';
import { describe, expect, it } from 'vitest';
import { decideBuiltin } from './decide.ts';

const now = new Date('2026-11-23T10:00:00Z');

describe('the built-in output', () => {
  it('blocks on every finding of the scan', () => {
    const c = aCheck();
    const findings = [aFinding(), aFinding({ fingerprint: 'other', file: 'b.txt' })];

    const [decision] = decideBuiltin(aScanCompleted(c, { findings }), now);

    expect(decision?.data).toMatchObject({ output: 'builtin', status: 'ok', revision: 0, findingsTotal: 2, blocking: findings });
  });

  it('passes a clean scan', () => {
    const [decision] = decideBuiltin(aScanCompleted(aCheck()), now);

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

    const decisions = decideBuiltin(aScanCompleted(c), now);

    expect(decisions.map((d) => d.data.output)).toEqual(['builtin', 'strict']);
    expect(new Set(decisions.map((d) => d.id)).size).toBe(2);
  });

  it('gives the same event id for a redelivered scan, so JetStream stores the decision once', () => {
    const scan = aScanCompleted(aCheck());

    expect(decideBuiltin(scan, now)[0]?.id).toBe(decideBuiltin(scan, new Date())[0]?.id);
  });

  it('makes no decision for a failed scan', () => {
    expect(decideBuiltin(aScanCompleted(aCheck(), { status: 'error', reason: 'timeout' }), now)).toEqual([]);
  });
});
