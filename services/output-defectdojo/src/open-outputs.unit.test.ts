import { aFinding, anOutputCompleted, aCheck } from '@secbot/testing';
import { describe, expect, it } from 'vitest';
import { reevaluated } from './open-outputs.ts';

const check = aCheck();
const at = new Date('2026-11-23T10:05:00.000Z');
const blocking = [aFinding({ links: { defectdojo: 'https://dojo.example.com/finding/1' } })];
const last = anOutputCompleted(check, { output: 'defectdojo', blocking, findingsTotal: 1 });

describe('reevaluated', () => {
  it('is nothing new while the same findings block', () => {
    expect(reevaluated(last, { findingsTotal: 1, blocking: [...blocking] }, at)).toBeUndefined();
  });

  it('publishes the next revision when triage cleared the blocking findings', () => {
    const next = reevaluated(last, { findingsTotal: 1, blocking: [] }, at);

    expect(next?.data).toMatchObject({ trigger: 'reevaluation', revision: 1, status: 'ok', blocking: [], findingsTotal: 1 });
    expect(next?.occurredAt).toBe(at.toISOString());
    expect(next?.id).not.toBe(last.id);
    expect(reevaluated(last, { findingsTotal: 1, blocking: [] }, at)?.id).toBe(next?.id);
  });

  it('publishes a new revision when another finding became blocking', () => {
    const other = aFinding({ fingerprint: 'other', links: { defectdojo: 'https://dojo.example.com/finding/2' } });

    expect(reevaluated(last, { findingsTotal: 1, blocking: [...blocking, other] }, at)?.data.blocking).toHaveLength(2);
  });
});
