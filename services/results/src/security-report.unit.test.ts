import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { aCheck, aFinding, anEventReceived, anOutputCompleted, aScanCompleted, fixturePath } from '@secbot/testing';
import { describe, expect, it } from 'vitest';
import { blockingFindings, evolveCheckState, type CheckState, type ProjectedEvent } from './check-status.ts';
import { toSarif, toSecretDetectionReport } from './security-report.ts';

const schema: unknown = JSON.parse(readFileSync(fixturePath('gitlab-security-report-schema/secret-detection-report-format.15.2.1.json'), 'utf8'));
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats.default(ajv);
const validate = ajv.compile(schema as object);

const project = (events: ProjectedEvent[]) => events.reduce<CheckState | null>((s, e) => evolveCheckState(s, e), null)!;
const opts = { toolVersion: 'v8.30.1', detailsUrl: 'http://127.0.0.1:5001/v1/security/gitlab/check/x/details' };

function failed(findings = [aFinding(), aFinding({ fingerprint: 'generic-api-key:1', ruleId: 'generic-api-key', file: 'src/a b.ts', startLine: 0, endLine: 0, severity: 'medium' })]) {
  const c = aCheck();
  const state = project([anEventReceived(c), aScanCompleted(c, { findings }), anOutputCompleted(c, { blocking: findings })]);
  return { state, findings: blockingFindings(state, [], new Date()) };
}

describe('GitLab secret-detection report', () => {
  it('is valid against the official schema 15.2.1', () => {
    const { state, findings } = failed();

    const report = toSecretDetectionReport(state, findings, opts);

    expect(validate(report), JSON.stringify(validate.errors)).toBe(true);
    expect(report.vulnerabilities).toHaveLength(2);
    expect(report.scan.start_time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
  });

  it('is valid with no findings', () => {
    const { state } = failed([]);

    expect(validate(toSecretDetectionReport(state, [], opts)), JSON.stringify(validate.errors)).toBe(true);
  });

  it('gives a finding the same id and tracking signature in every pipeline (independent of the commit)', () => {
    const a = failed([aFinding({ commit: 'a'.repeat(40) })]);
    const b = failed([aFinding({ commit: 'b'.repeat(40) })]);

    const [va] = toSecretDetectionReport(a.state, a.findings, opts).vulnerabilities;
    const [vb] = toSecretDetectionReport(b.state, b.findings, opts).vulnerabilities;

    expect(va?.id).toBe(vb?.id);
    expect(va?.tracking).toEqual(vb?.tracking);
    expect(va?.location.commit.sha).not.toBe(vb?.location.commit.sha);
  });

  it('never carries a secret extract', () => {
    const { state, findings } = failed();

    expect(JSON.stringify(toSecretDetectionReport(state, findings, opts))).not.toContain('raw_source_code_extract');
  });
});

describe('SARIF', () => {
  it('lists each finding with its rule, location and fingerprint', () => {
    const { state, findings } = failed();

    const sarif = toSarif(state, findings, opts);

    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs[0]?.tool.driver.rules.map((r) => r.id)).toEqual(['aws-access-token', 'generic-api-key']);
    expect(sarif.runs[0]?.results[1]).toMatchObject({
      ruleId: 'generic-api-key',
      level: 'error',
      locations: [{ physicalLocation: { artifactLocation: { uri: 'src/a b.ts' }, region: { startLine: 1, endLine: 1 } } }],
      partialFingerprints: { secbotFingerprint: 'generic-api-key:1' },
    });
  });
});
