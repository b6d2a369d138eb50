import { aFinding } from '@secbot/testing';
import { describe, expect, it } from 'vitest';
import { planAnnouncements, type AnnouncedFingerprint, type AnnouncementInput } from './announcements.ts';

const now = new Date('2026-11-23T10:00:00.000Z');
const at = now.toISOString();
const key = aFinding().fingerprint;
const other = 'generic-api-key:feedface';

function given(overrides: Partial<AnnouncementInput>): AnnouncementInput {
  return { owner: 'CHECK1/gitleaks/builtin/0', revision: 0, blocking: [aFinding()], previous: undefined, known: new Map(), now, ...overrides };
}

describe('planAnnouncements', () => {
  it('announces a fingerprint the project never announced as new, and remembers it as open', () => {
    const plan = planAnnouncements(given({}));

    expect(plan.announce).toEqual([{ finding: aFinding(), kind: 'new' }]);
    expect(plan.writes.get(key)).toEqual({ state: 'open', kind: 'new', by: 'CHECK1/gitleaks/builtin/0', at });
    expect(plan.output).toEqual({ revision: 0, fingerprints: [key] });
  });

  it('does not announce a fingerprint another check already announced and that is still open', () => {
    const known = new Map<string, AnnouncedFingerprint>([[key, { state: 'open', kind: 'new', by: 'CHECK0/gitleaks/builtin/0', at }]]);

    const plan = planAnnouncements(given({ known }));

    expect(plan.announce).toEqual([]);
    expect(plan.writes.size).toBe(0);
  });

  it('announces the same list again when the same decision is redelivered', () => {
    const known = new Map<string, AnnouncedFingerprint>([[key, { state: 'open', kind: 'regression', by: 'CHECK1/gitleaks/builtin/0', at }]]);

    const plan = planAnnouncements(given({ known, previous: { revision: 0, fingerprints: [key] } }));

    expect(plan.announce).toEqual([{ finding: aFinding(), kind: 'regression' }]);
    expect(plan.writes.size).toBe(0);
  });

  it('closes a fingerprint when a later revision of the decision that blocked on it no longer blocks on it', () => {
    const known = new Map<string, AnnouncedFingerprint>([[key, { state: 'open', kind: 'new', by: 'CHECK1/gitleaks/builtin/0', at }]]);

    const plan = planAnnouncements(given({ owner: 'CHECK1/gitleaks/builtin/1', revision: 1, blocking: [], known, previous: { revision: 0, fingerprints: [key] } }));

    expect(plan.announce).toEqual([]);
    expect(plan.writes.get(key)).toMatchObject({ state: 'closed', closedBy: 'CHECK1/gitleaks/builtin/1' });
  });

  it('announces a closed fingerprint that blocks again as a regression', () => {
    const known = new Map<string, AnnouncedFingerprint>([[key, { state: 'closed', kind: 'new', by: 'CHECK1/gitleaks/builtin/0', closedBy: 'CHECK1/gitleaks/builtin/1', at }]]);

    const plan = planAnnouncements(given({ owner: 'CHECK2/gitleaks/builtin/0', known }));

    expect(plan.announce).toEqual([{ finding: aFinding(), kind: 'regression' }]);
    expect(plan.writes.get(key)).toEqual({ state: 'open', kind: 'regression', by: 'CHECK2/gitleaks/builtin/0', at });
  });

  it('changes nothing for a revision older than one already handled', () => {
    const plan = planAnnouncements(given({ revision: 0, previous: { revision: 2, fingerprints: [] } }));

    expect(plan).toEqual({ announce: [], writes: new Map(), output: undefined });
  });

  it('announces every finding of an announced fingerprint (the same secret in two files), once per fingerprint in memory', () => {
    const twice = [aFinding({ file: 'a.env' }), aFinding({ file: 'b.env' }), aFinding({ fingerprint: other })];

    const plan = planAnnouncements(given({ blocking: twice }));

    expect(plan.announce.map((a) => a.finding.file)).toEqual(['a.env', 'b.env', 'config/deploy.yml']);
    expect([...plan.writes.keys()].sort()).toEqual([key, other].sort());
  });
});
