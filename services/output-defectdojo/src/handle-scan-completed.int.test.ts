import type { OutputCompletedV1, ScanCompletedV1 } from '@secbot/contracts';
import { createLogger, RetryableError } from '@secbot/service-kit';
import { aCheck, fakeDefectDojo, type FakeDefectDojo } from '@secbot/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDefectDojoClient } from './adapters/defectdojo/client.ts';
import { handleScanCompleted, type Deps } from './handle-scan-completed.ts';
import { aDojoCheck, aGitleaksItem, aScanWithReport, dojoJob } from './test-builders.ts';

const settings = { url: 'components.defectdojo.env.url (DEFECTDOJO__URL)', token: 'components.defectdojo.env.secret_key (DEFECTDOJO__TOKEN)' };
const log = createLogger({ service: 'test', level: 'silent' });
const delivery = (deliveryCount = 1) => ({ deliveryCount, working: () => undefined, log });
const leak = aGitleaksItem({ Commit: 'c'.repeat(40) });

describe('handleScanCompleted against the fake DefectDojo', () => {
  let dojo: FakeDefectDojo;
  let published: OutputCompletedV1[];
  let deps: Deps;

  const setUp = async (options: Parameters<typeof fakeDefectDojo>[0] = {}) => {
    dojo = await fakeDefectDojo(options);
    published = [];
    deps = {
      targets: new Map([['defectdojo', { config: {}, client: createDefectDojoClient({ baseUrl: dojo.url, token: dojo.token, settings, pageSize: 2 }) }]]),
      publish: (e) => {
        published.push(e);
        return Promise.resolve();
      },
      maxDeliver: 3,
      dedupeTimeoutMs: 5000,
    };
  };
  const handle = (event: ScanCompletedV1, deliveryCount = 1) => handleScanCompleted(event, delivery(deliveryCount), deps);

  beforeEach(() => setUp());
  afterEach(async () => {
    await dojo.close();
  });

  it('imports the report and blocks on a new secret, linked to DefectDojo', async () => {
    const check = aDojoCheck();

    await handle(aScanWithReport(check, [leak]));

    expect(published).toHaveLength(1);
    const out = published[0];
    expect(out?.data).toMatchObject({ scan: 'gitleaks', output: 'defectdojo', handler: 'defectdojo', status: 'ok', trigger: 'scan', revision: 0, findingsTotal: 1 });
    expect(out?.data.blocking).toHaveLength(1);
    expect(out?.data.blocking[0]).toMatchObject({ file: 'config/deploy.yml', startLine: 3 });
    expect(out?.data.blocking[0]?.links['defectdojo']).toBe(`${dojo.url}/finding/${dojo.findings[0]?.id}`);
    expect(out?.data.links).toEqual({ defectdojo: `${dojo.url}/test/${dojo.tests[0]?.id}` });
    expect(dojo.tests[0]?.tags).toEqual(expect.arrayContaining([`commit:${check.sha}`, `security-check:${check.securityCheckId.toLowerCase()}`]));
  });

  it('passes when nothing was found, and still records the scan in DefectDojo', async () => {
    await handle(aScanWithReport(aDojoCheck(), []));

    expect(published[0]?.data).toMatchObject({ status: 'ok', findingsTotal: 0, blocking: [] });
    expect(dojo.tests).toHaveLength(1);
  });

  it('does not create a second test when the same scan.completed is delivered again', async () => {
    const event = aScanWithReport(aDojoCheck(), [leak]);

    await handle(event);
    await handle(event, 2);

    expect(dojo.tests).toHaveLength(1);
    expect(dojo.findings).toHaveLength(1);
    expect(published.map((e) => e.id)).toEqual([published[0]?.id, published[0]?.id]);
    expect(published[1]?.data.blocking).toHaveLength(1);
  });

  it('blocks a secret found again while its first finding is still open', async () => {
    await handle(aScanWithReport(aDojoCheck(), [leak]));

    await handle(aScanWithReport(aDojoCheck(), [leak]));

    expect(dojo.findings[1]).toMatchObject({ duplicate: true, duplicate_finding: dojo.findings[0]?.id });
    expect(published[1]?.data.blocking).toHaveLength(1);
  });

  it.each([
    ['false positive', { false_p: true }],
    ['risk accepted', { risk_accepted: true }],
  ])('does not block a secret found again after it was triaged as %s', async (_name, triage) => {
    await handle(aScanWithReport(aDojoCheck(), [leak]));
    dojo.triage(dojo.findings[0]?.id ?? -1, triage);

    await handle(aScanWithReport(aDojoCheck(), [leak]));

    expect(published[1]?.data).toMatchObject({ status: 'ok', findingsTotal: 1, blocking: [] });
  });

  it('deduplicates across branches of the project: an MR re-finding a triaged secret does not block', async () => {
    await handle(aScanWithReport(aDojoCheck(), [leak]));
    dojo.triage(dojo.findings[0]?.id ?? -1, { false_p: true });
    const mr = aCheck({ job: dojoJob() });
    mr.context.range = { kind: 'push', ref: 'refs/heads/feature/x', before: null, after: mr.sha };

    await handle(aScanWithReport(mr, [leak]));

    expect(dojo.engagements.map((e) => e.name)).toEqual(['branch:master', 'branch:feature/x']);
    expect(published[1]?.data.blocking).toEqual([]);
  });

  it('blocks a secret found again after it was marked mitigated: DefectDojo treats it as a regression', async () => {
    await handle(aScanWithReport(aDojoCheck(), [leak]));
    dojo.triage(dojo.findings[0]?.id ?? -1, { is_mitigated: true });

    await handle(aScanWithReport(aDojoCheck(), [leak]));

    expect(dojo.findings[1]).toMatchObject({ duplicate: false, active: true });
    expect(published[1]?.data.blocking).toHaveLength(1);
  });

  it('waits for deduplication by polling the test on a server without async_wait', async () => {
    await dojo.close();
    await setUp({ asyncWait: false, dedupeDelayMs: 300 });
    await handle(aScanWithReport(aDojoCheck(), [leak]));
    dojo.triage(dojo.findings[0]?.id ?? -1, { false_p: true });

    await handle(aScanWithReport(aDojoCheck(), [leak]));

    expect(dojo.findings[1]).toMatchObject({ duplicate: true });
    expect(published[1]?.data).toMatchObject({ status: 'ok', blocking: [] });
    expect(dojo.requests.filter((r) => r.path === '/api/v2/findings/' && r.query['test'] === String(dojo.tests[1]?.id)).length).toBeGreaterThan(1);
  });

  it('ends in error at once, naming the setting, when DefectDojo rejects the token', async () => {
    deps = { ...deps, targets: new Map([['defectdojo', { config: {}, client: createDefectDojoClient({ baseUrl: dojo.url, token: 'not-the-token', settings }) }]]) };

    await handle(aScanWithReport(aDojoCheck(), [leak]));

    expect(published[0]?.data).toMatchObject({ status: 'error', blocking: [] });
    expect(published[0]?.data.reason).toContain('DEFECTDOJO__TOKEN');
    expect(published[0]?.data.reason).not.toContain('not-the-token');
  });

  it('asks for a retry while DefectDojo fails, and ends in error with the reason on the last delivery', async () => {
    dojo.failNext(503, { times: 10 });
    const event = aScanWithReport(aDojoCheck(), [leak]);

    await expect(handle(event, 1)).rejects.toBeInstanceOf(RetryableError);
    expect(published).toEqual([]);
    await handle(event, 3);

    expect(published[0]?.data).toMatchObject({ status: 'error' });
    expect(published[0]?.data.reason).toMatch(/Gave up after 3 attempts: DefectDojo answered 503/);
  });

  it('never passes on a partial read: a failing page means a retry, which reuses the imported test', async () => {
    const event = aScanWithReport(aDojoCheck(), [leak, aGitleaksItem({ StartLine: 9, EndLine: 9 }), aGitleaksItem({ StartLine: 12, EndLine: 12 })]);
    dojo.failNext(502, { match: (r) => r.path === '/api/v2/findings/' && r.query['offset'] === '2' });

    await expect(handle(event, 1)).rejects.toBeInstanceOf(RetryableError);
    expect(published).toEqual([]);
    await handle(event, 2);

    expect(dojo.tests).toHaveLength(1);
    expect(published[0]?.data).toMatchObject({ status: 'ok', findingsTotal: 3 });
  });

  it.each([
    ['the scan failed', (e: ScanCompletedV1): ScanCompletedV1 => ({ ...e, data: { ...e.data, status: 'error', reason: 'gitleaks exited 1' } }), /Scan gitleaks failed.*gitleaks exited 1/],
    ['the scan sent no report', (e: ScanCompletedV1): ScanCompletedV1 => ({ ...e, data: { ...e.data, report: undefined } }), /published no report/],
    ['the report is not gitleaks JSON', (e: ScanCompletedV1): ScanCompletedV1 => ({ ...e, data: { ...e.data, report: { storage: 'inline', format: 'sarif', content: '{}' } } }), /not a gitleaks JSON report/],
  ])('ends in error without calling DefectDojo when %s', async (_name, change, reason) => {
    await handle(change(aScanWithReport(aDojoCheck(), [leak])));

    expect(published[0]?.data.status).toBe('error');
    expect(published[0]?.data.reason).toMatch(reason);
    expect(dojo.requests).toEqual([]);
  });

  it('ends in error when the plan names a defectdojo component this service does not know', async () => {
    const check = aCheck({ job: dojoJob(['dojo-eu']) });

    await handle(aScanWithReport(check, [leak]));

    expect(published[0]?.data).toMatchObject({ output: 'dojo-eu', status: 'error' });
    expect(published[0]?.data.reason).toMatch(/"dojo-eu" is not configured/);
  });

  it('does nothing for a plan without defectdojo outputs', async () => {
    await handle(aScanWithReport(aCheck({ job: dojoJob(['builtin']) }), [leak]));

    expect(published).toEqual([]);
    expect(dojo.requests).toEqual([]);
  });
});
