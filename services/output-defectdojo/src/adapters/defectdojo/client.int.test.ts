import { readFileSync } from 'node:fs';
import { RetryableError, TerminalError } from '@secbot/service-kit';
import { fakeDefectDojo, type FakeDefectDojo } from '@secbot/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { aGitleaksItem, aGitleaksReport } from '../../test-builders.ts';
import { createDefectDojoClient, parseRetryAfter, type DefectDojoClient, type ImportScanInput } from './client.ts';

const fixture = (name: string) => readFileSync(new URL(`../../../../../test/fixtures/defectdojo/${name}`, import.meta.url), 'utf8');
const settings = { url: 'components.defectdojo.env.url (DEFECTDOJO__URL)', token: 'components.defectdojo.env.secret_key (DEFECTDOJO__TOKEN)' };

const anImport = (overrides: Partial<ImportScanInput> = {}): ImportScanInput => ({
  productTypeName: 'SecBot',
  productName: 'group/app',
  engagementName: 'branch:main',
  testTitle: 'gitleaks dddddddddddd',
  tags: ['secbot', `commit:${'d'.repeat(40)}`, 'secbot-run:check-1:gitleaks:defectdojo'],
  commitHash: 'd'.repeat(40),
  branchTag: 'main',
  buildId: 'GIT_LOCAL_x',
  sourceCodeManagementUri: 'https://gitlab.example.com/group/app',
  report: aGitleaksReport([aGitleaksItem()]),
  ...overrides,
});

const caught = async (p: Promise<unknown>): Promise<Error> => {
  try {
    await p;
  } catch (err) {
    if (err instanceof Error) return err;
  }
  throw new Error('expected a rejection');
};

describe('DefectDojo client against the fake DefectDojo', () => {
  let dojo: FakeDefectDojo;
  let client: DefectDojoClient;

  beforeEach(async () => {
    dojo = await fakeDefectDojo({ token: 'test-token-not-secret' });
    client = createDefectDojoClient({ baseUrl: `${dojo.url}/`, token: dojo.token, settings, pageSize: 2, timeoutMs: 5000 });
  });
  afterEach(async () => {
    await dojo.close();
  });

  it('imports as multipart with the token, a .json file name and the fields DefectDojo reads', async () => {
    const result = await client.importScan(anImport());

    const req = dojo.requests.find((r) => r.path === '/api/v2/import-scan/');
    expect(req).toMatchObject({ method: 'POST', authorization: 'Token test-token-not-secret', status: 201 });
    expect(req?.contentType).toMatch(/^multipart\/form-data; boundary=/);
    expect(req?.file?.name).toBe('gitleaks.json');
    expect(req?.fields).toMatchObject({
      scan_type: ['Gitleaks Scan'],
      product_type_name: ['SecBot'],
      product_name: ['group/app'],
      engagement_name: ['branch:main'],
      auto_create_context: ['true'],
      deduplication_on_engagement: ['false'],
      close_old_findings: ['false'],
      tags: ['secbot', `commit:${'d'.repeat(40)}`, 'secbot-run:check-1:gitleaks:defectdojo'],
      commit_hash: ['d'.repeat(40)],
      branch_tag: ['main'],
      source_code_management_uri: ['https://gitlab.example.com/group/app'],
      deduplication_execution_mode: ['async_wait'],
    });
    expect(req?.fields).not.toHaveProperty('scan_date');
    expect(result).toEqual({ testId: dojo.tests[0]?.id, deduplicationComplete: true });
    expect(dojo.engagements[0]).toMatchObject({ name: 'branch:main', engagement_type: 'CI/CD', source_code_management_uri: 'https://gitlab.example.com/group/app' });
  });

  it('finds the imported test again by its run tag, inside the product and engagement', async () => {
    const { testId } = await client.importScan(anImport());

    const found = await client.findTest({ productName: 'group/app', engagementName: 'branch:main', tag: 'secbot-run:check-1:gitleaks:defectdojo' });
    const other = await client.findTest({ productName: 'group/app', engagementName: 'branch:main', tag: 'secbot-run:check-2:gitleaks:defectdojo' });
    const noProduct = await client.findTest({ productName: 'group/other', engagementName: 'branch:main', tag: 'secbot-run:check-1:gitleaks:defectdojo' });

    expect(found?.id).toBe(testId);
    expect(other).toBeUndefined();
    expect(noProduct).toBeUndefined();
  });

  it("reads every page of one test's findings, and only that test's", async () => {
    await client.importScan(anImport({ report: fixture('gitleaks_data_many.json'), tags: ['run-1'] }));
    const { testId } = await client.importScan(anImport({ report: fixture('gitleaks_redacted_data_many.json'), tags: ['run-2'] }));

    const findings = await client.listTestFindings(testId);

    expect(findings).toHaveLength(6);
    expect(new Set(findings.map((f) => f.test))).toEqual(new Set([testId]));
    const pages = dojo.requests.filter((r) => r.path === '/api/v2/findings/');
    expect(pages.map((r) => [r.query['test'], r.query['offset'], r.query['limit']])).toEqual([
      [String(testId), '0', '2'],
      [String(testId), '2', '2'],
      [String(testId), '4', '2'],
    ]);
  });

  it('reads originals by id', async () => {
    await client.importScan(anImport({ tags: ['run-1'] }));
    const { testId } = await client.importScan(anImport({ tags: ['run-2'] }));
    const [dup] = await client.listTestFindings(testId);

    const originals = await client.getFindings([dup?.duplicate_finding ?? -1]);

    expect(dup).toMatchObject({ duplicate: true, active: false });
    expect(originals.map((f) => f.id)).toEqual([dup?.duplicate_finding]);
  });

  it('maps 401 to a terminal error naming the token setting, without the token', async () => {
    const bad = createDefectDojoClient({ baseUrl: dojo.url, token: 'wrong-token-value', settings });

    const err = await caught(bad.importScan(anImport()));

    expect(err).toBeInstanceOf(TerminalError);
    expect(err.message).toContain('401');
    expect(err.message).toContain('DEFECTDOJO__TOKEN');
    expect(err.message).not.toContain('wrong-token-value');
  });

  it('maps 429 to a retryable error that honours Retry-After', async () => {
    dojo.failNext(429, { retryAfter: 3 });

    const err = await caught(client.importScan(anImport()));

    expect(err).toBeInstanceOf(RetryableError);
    expect(err).toMatchObject({ retryAfterMs: 3000 });
    expect(dojo.tests).toHaveLength(0);
  });

  it.each([500, 502, 503])('maps %i to a retryable error', async (status) => {
    dojo.failNext(status);

    expect(await caught(client.listTestFindings(1))).toBeInstanceOf(RetryableError);
  });

  it('maps an unreachable server to a retryable error naming the URL setting', async () => {
    dojo.down();

    const err = await caught(client.importScan(anImport()));

    expect(err).toBeInstanceOf(RetryableError);
    expect(err.message).toContain('DEFECTDOJO__URL');
  });

  it('maps 400 to a terminal error with what DefectDojo said', async () => {
    const err = await caught(client.importScan(anImport({ report: fixture('gitleaks_v8_expected_report_json_simple.json') })));

    expect(err).toBeInstanceOf(TerminalError);
    expect(err.message).toContain('Format is not recognized for Gitleaks');
  });

  it('maps 404 (a base URL with /api/v2 in it) to a terminal error naming the URL setting', async () => {
    const wrong = createDefectDojoClient({ baseUrl: `${dojo.url}/api/v2`, token: dojo.token, settings });

    const err = await caught(wrong.listTestFindings(1));

    expect(err).toBeInstanceOf(TerminalError);
    expect(err.message).toContain('DEFECTDOJO__URL');
  });

  it('answers an older server without deduplication_complete as not yet deduplicated', async () => {
    const old = await fakeDefectDojo({ asyncWait: false });
    const oldClient = createDefectDojoClient({ baseUrl: old.url, token: old.token, settings });

    const result = await oldClient.importScan(anImport());
    await old.close();

    expect(result.deduplicationComplete).toBeUndefined();
  });
});

describe('parseRetryAfter', () => {
  it.each([
    ['5', 5000],
    ['Mon, 23 Nov 2026 10:00:10 GMT', 10_000],
    ['soon', undefined],
    [null, undefined],
  ])('reads %s as %s ms', (value, ms) => {
    expect(parseRetryAfter(value, Date.parse('Mon, 23 Nov 2026 10:00:00 GMT'))).toBe(ms);
  });
});
