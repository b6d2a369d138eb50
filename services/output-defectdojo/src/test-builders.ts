import type { Finding, ScanCompletedV1 } from '@secbot/contracts';
import type { OpenOutput, OpenOutputs } from './open-outputs.ts';
import { aCheck, aFinding, aJobPlan, aScanCompleted, type CheckFixture } from '@secbot/testing';

/** One gitleaks v8 report entry, already redacted (`--redact`), with fake values only. */
export interface GitleaksItem {
  RuleID: string;
  Description: string;
  StartLine: number;
  EndLine: number;
  StartColumn: number;
  EndColumn: number;
  Match: string;
  Secret: string;
  File: string;
  SymlinkFile: string;
  Commit: string;
  Entropy: number;
  Author: string;
  Email: string;
  Date: string;
  Message: string;
  Tags: string[];
  Fingerprint: string;
}

export function aGitleaksItem(overrides: Partial<GitleaksItem> = {}): GitleaksItem {
  const item: GitleaksItem = {
    RuleID: 'aws-access-token',
    Description: 'Identified a pattern that may indicate AWS credentials',
    StartLine: 3,
    EndLine: 3,
    StartColumn: 12,
    EndColumn: 31,
    Match: 'aws_access_key_id = REDACTED',
    Secret: 'REDACTED',
    File: 'config/deploy.yml',
    SymlinkFile: '',
    Commit: 'a'.repeat(40),
    Entropy: 3.5,
    Author: 'John Smith',
    Email: 'john@example.com',
    Date: '2026-11-23T09:29:41Z',
    Message: 'Add deploy config',
    Tags: [],
    Fingerprint: '',
    ...overrides,
  };
  return { ...item, Fingerprint: item.Fingerprint || `${item.Commit}:${item.File}:${item.RuleID}:${item.StartLine}` };
}

/** The bytes gitleaks writes: a JSON array with one-space indent. */
export const aGitleaksReport = (items: GitleaksItem[]): string => `${JSON.stringify(items, null, 1)}\n`;

/** The SecBot finding the scanner derives from a report entry. */
export function findingOf(item: GitleaksItem): Finding {
  return aFinding({
    fingerprint: `${item.RuleID}:${item.File}:${item.StartLine}`,
    ruleId: item.RuleID,
    description: item.Description,
    file: item.File,
    startLine: item.StartLine,
    endLine: item.EndLine,
    commit: item.Commit,
  });
}

export const dojoJob = (outputs = ['defectdojo']) =>
  aJobPlan({ outputs: outputs.map((name) => ({ name, handler: name === 'builtin' ? 'builtin' : 'defectdojo', config: {} })) });

/** A check whose job sends gitleaks to the `defectdojo` output. */
export const aDojoCheck = (opts: { sha?: string; project?: string } = {}): CheckFixture => aCheck({ ...opts, job: dojoJob() });

/** scan.completed carrying the report inline, as the gitleaks scanner publishes it. */
export function aScanWithReport(check: CheckFixture, items: GitleaksItem[], opts: { scan?: string } = {}): ScanCompletedV1 {
  const event = aScanCompleted(check, { scan: opts.scan, findings: items.map(findingOf) });
  return { ...event, data: { ...event.data, report: { storage: 'inline', format: 'gitleaks-json', content: aGitleaksReport(items) } } };
}

/** Open outputs in a Map, with the same compare-and-set rules as the KV bucket. */
export function memoryOpenOutputs(): OpenOutputs & { entries: Map<string, { value: OpenOutput; revision: number }> } {
  const entries = new Map<string, { value: OpenOutput; revision: number }>();
  let seq = 0;
  return {
    entries,
    putIfAbsent(key, value) {
      if (!entries.has(key)) entries.set(key, { value, revision: ++seq });
      return Promise.resolve();
    },
    list(securityCheckId) {
      return Promise.resolve([...entries].filter(([key]) => !securityCheckId || key.startsWith(`${securityCheckId}.`)).map(([key, e]) => ({ key, ...e })));
    },
    replace(key, value, revision) {
      if (entries.get(key)?.revision !== revision) return Promise.resolve(undefined);
      entries.set(key, { value, revision: ++seq });
      return Promise.resolve(seq);
    },
    remove(key) {
      entries.delete(key);
      return Promise.resolve();
    },
  };
}
