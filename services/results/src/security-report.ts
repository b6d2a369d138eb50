import { createHash } from 'node:crypto';
import { deterministicId, type Finding } from '@secbot/contracts';
import type { CheckState } from './check-status.ts';

/** A blocking finding with the scan and output that reported it. Never carries the secret. */
export interface ReportedFinding {
  scan: string;
  output: string;
  finding: Finding;
}

/** GitLab's report timestamps: UTC, `yyyy-mm-ddThh:mm:ss`, no zone suffix (schema pattern). */
const gitlabTime = (iso: string) => new Date(iso).toISOString().slice(0, 19);

const SEVERITY = { critical: 'Critical', high: 'High', medium: 'Medium', low: 'Low', info: 'Info' } as const;

export const SECRET_DETECTION_SCHEMA_VERSION = '15.2.1';

/**
 * The check's blocking findings as a GitLab secret-detection report (`artifacts:reports:secret_detection`),
 * schema 15.2.1. Ids and tracking signatures derive from the fingerprint (independent of the commit), so
 * GitLab follows a finding across pipelines. The secret itself is never in it (no raw_source_code_extract).
 */
export function toSecretDetectionReport(state: CheckState, findings: ReportedFinding[], opts: { toolVersion: string; detailsUrl: string }) {
  const start = state.receivedAt;
  const end = state.completedAt ?? state.updatedAt;
  return {
    version: SECRET_DETECTION_SCHEMA_VERSION,
    scan: {
      analyzer: { id: 'secbot', name: 'SecBot', version: '1.0.0', vendor: { name: 'SecBot' } },
      scanner: { id: 'gitleaks', name: 'Gitleaks', version: opts.toolVersion, vendor: { name: 'Gitleaks' }, url: 'https://github.com/gitleaks/gitleaks' },
      type: 'secret_detection',
      start_time: gitlabTime(start),
      end_time: gitlabTime(end),
      status: state.status === 'error' ? 'failure' : 'success',
    },
    vulnerabilities: findings.map(({ finding: f }) => ({
      id: deterministicId('gitlab-vulnerability', f.fingerprint, f.file),
      name: f.description ? `${f.description}`.slice(0, 255) : `Secret detected by rule ${f.ruleId}`,
      description: `${f.ruleId} in ${f.file}:${f.startLine}. See ${opts.detailsUrl}`,
      severity: SEVERITY[f.severity],
      solution: 'Revoke the secret where it was issued, remove it from the code and history, and use a secret store.',
      identifiers: [
        { type: 'gitleaks_rule_id', name: `Gitleaks rule ID ${f.ruleId}`, value: f.ruleId },
        { type: 'secbot_fingerprint', name: `SecBot fingerprint ${f.fingerprint}`, value: f.fingerprint },
      ],
      location: {
        file: f.file,
        start_line: f.startLine,
        end_line: f.endLine,
        commit: { sha: f.commit || state.context?.commit.sha || 'unknown', ...(f.author ? { author: f.author } : {}), ...(f.date ? { date: f.date } : {}) },
      },
      tracking: {
        type: 'source',
        items: [
          {
            file: f.file,
            start_line: f.startLine,
            end_line: f.endLine,
            signatures: [{ algorithm: 'hash', value: createHash('sha256').update(`${f.file}\u0000${f.fingerprint}`).digest('hex') }],
          },
        ],
      },
      links: Object.values(f.links).map((url) => ({ url })),
    })),
    remediations: [],
  };
}

/** The same findings as SARIF 2.1.0, for tools other than GitLab. */
export function toSarif(state: CheckState, findings: ReportedFinding[], opts: { toolVersion: string; detailsUrl: string }) {
  const rules = [...new Map(findings.map(({ finding: f }) => [f.ruleId, f])).values()];
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'SecBot',
            semanticVersion: '1.0.0',
            informationUri: opts.detailsUrl,
            rules: rules.map((f) => ({ id: f.ruleId, name: f.ruleId, shortDescription: { text: f.description || f.ruleId } })),
          },
        },
        invocations: [{ executionSuccessful: state.status !== 'error', endTimeUtc: state.completedAt ?? state.updatedAt }],
        versionControlProvenance: state.context ? [{ repositoryUri: state.context.project.webUrl, revisionId: state.context.commit.sha }] : [],
        results: findings.map(({ finding: f, scan, output }) => ({
          ruleId: f.ruleId,
          level: f.severity === 'low' || f.severity === 'info' ? 'warning' : 'error',
          message: { text: `Secret (${f.ruleId}) in ${f.file}:${f.startLine}; the value is not shown.` },
          locations: [{ physicalLocation: { artifactLocation: { uri: f.file }, region: { startLine: Math.max(1, f.startLine), endLine: Math.max(1, f.endLine) } } }],
          partialFingerprints: { secbotFingerprint: f.fingerprint },
          properties: { commit: f.commit, scan, output, ...(f.author ? { author: f.author } : {}) },
        })),
      },
    ],
  };
}
