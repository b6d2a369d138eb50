import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { aGitleaksItem, aGitleaksReport } from '../../test-builders.ts';
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

  it('leaves an already redacted v8 report as it is', () => {
    const items = [aGitleaksItem()];

    expect(JSON.parse(toDojoGitleaksReport(aGitleaksReport(items)) ?? 'null')).toEqual(items);
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
