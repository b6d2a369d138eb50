import { readFileSync } from 'node:fs';
import { Finding } from '@secbot/contracts';
import { describe, expect, it } from 'vitest';
import { containsAnySecret, fingerprintOf, parseGitleaksReport, reportOf, toFinding, type GitleaksReportFinding } from './findings.ts';

const fixture = readFileSync(new URL('../../../test/fixtures/gitleaks/expected_report_json_simple.json', import.meta.url), 'utf8');
const opts = { fingerprintKey: 'k'.repeat(32), webUrl: 'https://gitlab.example.com/group/app' };

const aRawFinding = (overrides: Partial<GitleaksReportFinding> = {}): GitleaksReportFinding => ({
  ...(parseGitleaksReport(fixture)[0] as GitleaksReportFinding),
  ...overrides,
});

describe('parseGitleaksReport', () => {
  it('reads the report gitleaks v8.30.1 writes', () => {
    const [f] = parseGitleaksReport(fixture);

    expect(f).toMatchObject({ RuleID: 'test-rule', Description: '', StartLine: 1, EndLine: 2, File: 'auth.py', Secret: 'a secret' });
  });

  it.each([['[]'], ['null'], ['']])('reads %j as no findings', (text) => {
    expect(parseGitleaksReport(text)).toEqual([]);
  });
});

describe('toFinding', () => {
  it('gives a valid contracts Finding without the secret or the matched text', () => {
    const finding = toFinding(aRawFinding(), opts);

    expect(Finding.parse(finding)).toEqual(finding);
    expect(JSON.stringify(finding)).not.toContain('a secret');
    expect(JSON.stringify(finding)).not.toContain('line containing');
    expect(finding).toMatchObject({ ruleId: 'test-rule', file: 'auth.py', startLine: 1, endLine: 2, commit: '0000000000000000', author: 'John Doe' });
    expect(finding.links['file']).toBe('https://gitlab.example.com/group/app/-/blob/0000000000000000/auth.py#L1');
  });

  it('fingerprints the rule and the secret, not the commit, file or line', () => {
    const a = toFinding(aRawFinding({ Commit: 'a'.repeat(40), File: 'x', StartLine: 3 }), opts);
    const b = toFinding(aRawFinding({ Commit: 'b'.repeat(40), File: 'y', StartLine: 9 }), opts);
    const other = toFinding(aRawFinding({ Secret: 'another secret' }), opts);

    expect(a.fingerprint).toBe(b.fingerprint);
    expect(other.fingerprint).not.toBe(a.fingerprint);
    expect(a.fingerprint).toMatch(/^test-rule:[0-9a-f]{32}$/);
  });

  it('depends on the key, so a fingerprint cannot be checked against guessed secrets without it', () => {
    expect(fingerprintOf('r', 's', 'key-one-0123456789')).not.toBe(fingerprintOf('r', 's', 'key-two-0123456789'));
  });

  it('links the file at its introducing commit, with the path encoded', () => {
    const finding = toFinding(aRawFinding({ Commit: 'c'.repeat(40), File: 'src/a b.py' }), opts);

    expect(finding).toMatchObject({ commit: 'c'.repeat(40), file: 'src/a b.py' });
    expect(finding.links['file']).toBe(`https://gitlab.example.com/group/app/-/blob/${'c'.repeat(40)}/src/a%20b.py#L1`);
  });
});

describe('reportOf', () => {
  it('writes gitleaks JSON from findings, with no secret, no match and no message', () => {
    const raw = [aRawFinding({ Match: 'key = a secret beside another-secret', Message: 'oops, committed a secret' })];
    const finding = toFinding(raw[0]!, opts);

    const report = reportOf([finding]);

    expect(report).toEqual([
      expect.objectContaining({ RuleID: 'test-rule', File: finding.file, StartLine: finding.startLine, Commit: finding.commit, Secret: 'REDACTED', Match: 'REDACTED', Message: '' }),
    ]);
    expect(JSON.stringify(report)).not.toContain('another-secret');
    expect(containsAnySecret(JSON.stringify(report), raw)).toBe(false);
    expect(containsAnySecret(JSON.stringify(raw), raw)).toBe(true);
  });
});
