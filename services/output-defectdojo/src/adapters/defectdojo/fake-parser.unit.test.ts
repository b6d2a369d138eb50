import { readFileSync } from 'node:fs';
import { dojoHashCode, parseGitleaksForDojo } from '@secbot/testing';
import { describe, expect, it } from 'vitest';
import { aGitleaksItem, aGitleaksReport } from '../../test-builders.ts';

// The fake DefectDojo's "Gitleaks Scan" parser must agree with DefectDojo's own parser tests
// (unittests/tools/test_gitleaks_parser.py) on DefectDojo's own fixtures, or the tests built on it prove nothing.
const fixture = (name: string) => readFileSync(new URL(`../../../../../test/fixtures/defectdojo/${name}`, import.meta.url), 'utf8');

describe('the fake DefectDojo Gitleaks parser', () => {
  it.each([
    ['gitleaks_no_findings.json', 0],
    ['gitleaks_data_one.json', 1],
    ['gitleaks_data_many.json', 2],
    ['gitleaks_redacted_data_many.json', 6],
    ['gitleaks_issue4336.json', 1],
  ])('finds in %s as many findings as DefectDojo: %i', (name, count) => {
    expect(parseGitleaksForDojo(fixture(name))).toHaveLength(count);
  });

  it('reads a legacy finding as DefectDojo does', () => {
    const [first] = parseGitleaksForDojo(fixture('gitleaks_data_many.json'));

    expect(first).toMatchObject({ title: 'Hard Coded Github', file_path: '.bashrc', line: null, severity: 'Critical' });
    expect(first?.tags).toContain('Github');
  });

  it('reads the line of a legacy no-git finding', () => {
    expect(parseGitleaksForDojo(fixture('gitleaks_issue4336.json'))[0]).toMatchObject({ title: 'Hard Coded Twitter Client ID', file_path: 'README.md', line: 23 });
  });

  it('rejects a v8 finding with an empty Description, as DefectDojo does', () => {
    expect(() => parseGitleaksForDojo(fixture('gitleaks_v8_expected_report_json_simple.json'))).toThrow();
  });

  it('builds a v8 title and a description with the commit data that makes hash codes commit-specific', () => {
    const [f] = parseGitleaksForDojo(aGitleaksReport([aGitleaksItem({ Commit: 'c'.repeat(40) })]));

    expect(f?.title).toBe('Hard coded Identified a pattern that may indicate AWS credentials found in config/deploy.yml');
    expect(f?.description).toBe(
      [
        '**Secret:** REDACTED',
        '**Match:** aws_access_key_id = REDACTED',
        '**Commit message:** Add deploy config',
        `**Commit hash:** ${'c'.repeat(40)}`,
        '**Commit date:** 2026-11-23T09:29:41Z',
        '**Rule Id:** aws-access-token',
      ].join('\n'),
    );
  });

  it('merges findings of the same secret at the same line, counting occurrences', () => {
    const found = parseGitleaksForDojo(aGitleaksReport([aGitleaksItem({ Commit: 'a'.repeat(40) }), aGitleaksItem({ Commit: 'b'.repeat(40) })]));

    expect(found).toHaveLength(1);
    expect(found[0]?.nb_occurences).toBe(2);
  });

  it('hashes title, cwe, line, file path and description, case-insensitively', () => {
    const f = { title: 'T', cwe: 798, line: 3, file_path: 'a.txt', description: 'D', service: null };

    expect(dojoHashCode(f)).toBe(dojoHashCode({ ...f, title: 't' }));
    expect(dojoHashCode(f)).not.toBe(dojoHashCode({ ...f, description: 'D2' }));
    expect(dojoHashCode(f)).not.toBe(dojoHashCode({ ...f, line: 4 }));
  });
});
