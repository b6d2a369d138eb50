import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { aGitleaksItem, aGitleaksReport } from '../../test-builders.ts';
import { dojoHashCode, parseGitleaksForDojo } from '@secbot/testing';
import { toDojoGitleaksReport } from './schema.ts';

const fixture = (name: string) => readFileSync(new URL(`../../../../../test/fixtures/defectdojo/${name}`, import.meta.url), 'utf8');

describe('toDojoGitleaksReport', () => {
  it('gives a finding without a description its rule id, which DefectDojo would otherwise reject', () => {
    const out = JSON.parse(toDojoGitleaksReport(fixture('gitleaks_v8_expected_report_json_simple.json')) ?? 'null') as Array<Record<string, unknown>>;

    expect(out[0]).toMatchObject({ RuleID: 'test-rule', Description: 'test-rule', File: 'auth.py', StartLine: 1 });
  });

  it('redacts a secret that reached it in clear, in Secret and in Match', () => {
    const report = aGitleaksReport([aGitleaksItem({ Secret: 'fake-secret-123', Match: 'key = fake-secret-123' })]);

    const out = toDojoGitleaksReport(report) ?? '';

    expect(out).not.toContain('fake-secret-123');
    expect(JSON.parse(out)).toEqual([expect.objectContaining({ Secret: 'REDACTED', Match: 'key = REDACTED' })]);
  });

  it('leaves an already redacted v8 report as it is but for the commit data', () => {
    const items = [aGitleaksItem()];

    expect(JSON.parse(toDojoGitleaksReport(aGitleaksReport(items)) ?? 'null')).toEqual(items.map((i) => ({ ...i, Commit: '', Date: '', Message: '' })));
  });

  it('gives the same secret at the same place in two commits the same DefectDojo hash code', () => {
    const inCommit = (Commit: string, Date: string, Message: string) =>
      parseGitleaksForDojo(toDojoGitleaksReport(aGitleaksReport([aGitleaksItem({ Commit, Date, Message })])) ?? '[]').map((f) => dojoHashCode({ ...f, cwe: 798, service: null }));

    expect(inCommit('a'.repeat(40), '2026-11-23T09:00:00Z', 'add key')).toEqual(inCommit('b'.repeat(40), '2026-11-24T10:00:00Z', 'rebased'));
  });

  it('keeps legacy v7 reports for the legacy parser path', () => {
    expect(JSON.parse(toDojoGitleaksReport(fixture('gitleaks_data_one.json')) ?? 'null')).toEqual(JSON.parse(fixture('gitleaks_data_one.json')));
  });

  it.each([
    ['null', '[]'],
    ['not json', undefined],
    ['{"a":1}', undefined],
  ])('turns %s into %s', (input, expected) => {
    expect(toDojoGitleaksReport(input)).toBe(expected);
  });
});
