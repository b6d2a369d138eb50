import { aFinding } from '@secbot/testing';
import { describe, expect, it } from 'vitest';
import type { DojoFinding } from './adapters/defectdojo/schema.ts';
import { decideBlocking, toBlockingFindings } from './blocking.ts';

const aDojoFinding = (overrides: Partial<DojoFinding> = {}): DojoFinding => ({
  id: 10,
  test: 1,
  title: 'Hard coded AWS found in config/deploy.yml',
  severity: 'High',
  file_path: 'config/deploy.yml',
  line: 3,
  active: true,
  duplicate: false,
  duplicate_finding: null,
  false_p: false,
  risk_accepted: false,
  is_mitigated: false,
  out_of_scope: false,
  hash_code: 'h',
  vuln_id_from_tool: 'aws-access-token',
  ...overrides,
});

const closed = { active: false };
const original = (overrides: Partial<DojoFinding> = {}) => aDojoFinding({ id: 1, ...overrides });
const duplicateOf1 = (overrides: Partial<DojoFinding> = {}) => aDojoFinding({ duplicate: true, duplicate_finding: 1, active: false, ...overrides });

describe('decideBlocking', () => {
  it.each([
    ['an active new finding', aDojoFinding(), undefined, true],
    ['a finding marked false positive', aDojoFinding({ ...closed, false_p: true }), undefined, false],
    ['a finding with risk accepted', aDojoFinding({ ...closed, risk_accepted: true }), undefined, false],
    ['a mitigated finding', aDojoFinding({ ...closed, is_mitigated: true }), undefined, false],
    ['an inactive finding', aDojoFinding(closed), undefined, false],
    ['an out-of-scope finding', aDojoFinding({ ...closed, out_of_scope: true }), undefined, false],
    ['a duplicate of an open original', duplicateOf1(), original(), true],
    ['a duplicate of a false positive', duplicateOf1(), original({ ...closed, false_p: true }), false],
    ['a duplicate of a risk-accepted original', duplicateOf1(), original({ ...closed, risk_accepted: true }), false],
    ['a duplicate of a mitigated original', duplicateOf1(), original({ ...closed, is_mitigated: true }), false],
    ['a duplicate of an inactive original', duplicateOf1(), original(closed), false],
    ['a duplicate itself marked false positive', duplicateOf1({ false_p: true }), original(), false],
    ['a duplicate whose original was deleted', duplicateOf1({ duplicate_finding: null }), undefined, true],
  ])('%s blocks: %s', (_name, finding, orig, blocks) => {
    const originals = new Map(orig ? [[orig.id, orig]] : []);

    const decision = decideBlocking([finding], originals);

    expect(decision.blocking.length > 0).toBe(blocks);
    expect(decision.missingOriginals).toEqual([]);
  });

  it('reports originals it was not given, so the caller does not decide on a partial view', () => {
    const decision = decideBlocking([duplicateOf1({ duplicate_finding: 7 })], new Map());

    expect(decision).toEqual({ blocking: [], missingOriginals: [7] });
  });
});

describe('toBlockingFindings', () => {
  const link = (id: number) => `https://dojo.example.com/finding/${id}`;

  it('returns the scan findings at the same file and line, linked to DefectDojo', () => {
    const scanFinding = aFinding({ file: 'config/deploy.yml', startLine: 3, links: { commit: 'https://gitlab.example.com/x' } });

    const out = toBlockingFindings([aDojoFinding({ id: 42 })], [scanFinding, aFinding({ fingerprint: 'other', startLine: 9 })], { commit: 'c', findingUrl: link });

    expect(out).toEqual([{ ...scanFinding, links: { commit: 'https://gitlab.example.com/x', defectdojo: link(42) } }]);
  });

  it('describes a DefectDojo finding the scan did not report from its title, never its description', () => {
    const out = toBlockingFindings([aDojoFinding({ id: 5, file_path: 'x.env', line: 1 })], [], { commit: 'c'.repeat(40), findingUrl: link });

    expect(out).toEqual([
      expect.objectContaining({ fingerprint: 'defectdojo:h', ruleId: 'aws-access-token', description: 'Hard coded AWS found in config/deploy.yml', file: 'x.env', startLine: 1, links: { defectdojo: link(5) } }),
    ]);
  });
});
