import { describe, expect, it } from 'vitest';
import { addFindings, emptyRecord, findingKey, inScope, MAX_TIPS, projectKey, recordTip, type StoredFinding } from './project-record.ts';

const sha = (n: number) => n.toString(16).padStart(40, '0');
const finding = (over: Partial<StoredFinding> = {}): StoredFinding => ({
  fingerprint: 'aws-access-token:0123',
  ruleId: 'aws-access-token',
  description: 'AWS',
  file: 'a.env',
  startLine: 1,
  endLine: 1,
  commit: sha(1),
  tags: [],
  severity: 'high',
  links: {},
  foundAt: '2026-12-01T00:00:00.000Z',
  ...over,
});

describe('project records', () => {
  it('records a tip and forgets the tips it covers', () => {
    let r = emptyRecord('gitlab.example.com', 'g/app');
    r = recordTip(r, 'gitleaks', 's1', sha(1), []);
    r = recordTip(r, 'gitleaks', 's1', sha(2), []);
    r = recordTip(r, 'gitleaks', 's1', sha(3), [sha(1), sha(3)]);

    expect(r.components['gitleaks']?.tips['s1']).toEqual([sha(2), sha(3)]);
  });

  it(`keeps at most ${MAX_TIPS} tips per scope, always the newest`, () => {
    let r = emptyRecord('gitlab.example.com', 'g/app');
    for (let i = 1; i <= MAX_TIPS + 3; i++) r = recordTip(r, 'gitleaks', 's1', sha(i), []);

    const tips = r.components['gitleaks']?.tips['s1'] ?? [];
    expect(tips).toHaveLength(MAX_TIPS);
    expect(tips.at(-1)).toBe(sha(MAX_TIPS + 3));
    expect(tips).not.toContain(sha(1));
  });

  it('keeps the first record of a finding (its baseline flag too), per scope', () => {
    let r = emptyRecord('gitlab.example.com', 'g/app');
    r = addFindings(r, 'gitleaks', [finding({ scope: 's1' })]);
    r = addFindings(r, 'gitleaks', [finding({ scope: 's1', baseline: true }), finding({ scope: 's2' })]);

    const all = Object.values(r.components['gitleaks']?.findings ?? {});
    expect(all.map((f) => [f.scope, f.baseline ?? false])).toEqual([
      ['s1', false],
      ['s2', false],
    ]);
    expect(Object.keys(r.components['gitleaks']?.findings ?? {})).toEqual([findingKey(finding({ scope: 's1' })), findingKey(finding({ scope: 's2' }))]);
  });

  it('counts findings of the evaluation scope, and those of older events in every scope', () => {
    expect(inScope(finding({ scope: 's1' }), 's1')).toBe(true);
    expect(inScope(finding({ scope: 's1' }), 's2')).toBe(false);
    expect(inScope(finding(), 's2')).toBe(true);
  });

  it('keys a project by host and path, case-insensitively, in KV key characters', () => {
    expect(projectKey('GitLab.example.com', 'Group/App')).toBe(projectKey('gitlab.example.com', 'group/app'));
    expect(projectKey('gitlab.example.com', 'group/app')).toMatch(/^p\.[0-9a-f]{40}$/);
    expect(projectKey('gitlab.example.com', 'group/app')).not.toBe(projectKey('gitlab.example.com', 'group/app2'));
  });
});
