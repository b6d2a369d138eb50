import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Objm } from '@nats-io/obj';
import { OutputCompletedV1, ScanCompletedV1, REVISIONS_PER_EVALUATION } from '@secbot/contracts';
import { createPublisher } from '@secbot/service-kit';
import { aCheck, eventually, fakeDefectDojo, readStream, streamEnv, testNats, type FakeDefectDojo, type TestNats } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOutputDefectDojo, type RunningService } from './service.ts';
import { aGitleaksItem, aGitleaksReport, aScanWithReport, dojoJob } from './test-builders.ts';

const POLICY = `version: "1.0"
components:
  gitleaks:
    handler_name: gitleaks
  defectdojo:
    handler_name: defectdojo
    config:
      product_type: SecBot tests
    env:
      url: TEST_DOJO_URL
      secret_key: TEST_DOJO_TOKEN
  dojo-bad-token:
    handler_name: defectdojo
    env:
      url: TEST_DOJO_URL
      secret_key: TEST_DOJO_BAD_TOKEN
jobs:
  - name: Secrets into DefectDojo
    rules:
      gitlab:
        event_type: push
    scans: [gitleaks]
    outputs: [defectdojo, dojo-bad-token]
`;

describe('output-defectdojo on JetStream', () => {
  let nats: TestNats;
  let dojo: FakeDefectDojo;
  let service: RunningService;

  const outputsOf = async (checkId: string): Promise<OutputCompletedV1[]> =>
    (await readStream(nats, nats.stream))
      .filter((m) => m.subject === OutputCompletedV1.subject(nats.stream.prefix))
      .map((m) => OutputCompletedV1.schema.parse(m.json))
      .filter((e) => e.securityCheckId === checkId);
  const publish = async (event: ScanCompletedV1) => createPublisher({ js: nats.js, stream: nats.stream }).publish(ScanCompletedV1, event);

  beforeAll(async () => {
    nats = await testNats('dojo');
    dojo = await fakeDefectDojo({ token: 'int-test-token' });
    const dir = mkdtempSync(join(tmpdir(), 'secbot-dojo-'));
    writeFileSync(join(dir, 'config.yml'), POLICY);
    service = await startOutputDefectDojo(
      {
        ...streamEnv(nats.stream),
        SECBOT_CONFIG: join(dir, 'config.yml'),
        LOG_LEVEL: 'silent',
        TEST_DOJO_URL: dojo.url,
        TEST_DOJO_TOKEN: dojo.token,
        TEST_DOJO_BAD_TOKEN: 'a-wrong-token',
        OUTPUT_DEFECTDOJO_MAX_DELIVER: '4',
        OUTPUT_DEFECTDOJO_REEVALUATE_SECONDS: '1',
      },
      { port: 0, backoffMs: () => 50 },
    );
  });
  afterAll(async () => {
    await service?.close();
    await dojo?.close();
    await nats?.jsm.streams.delete(`OBJ_${nats.stream.name}_reports`).catch(() => undefined);
    await nats?.jsm.streams.delete(`KV_${nats.stream.name}_output_defectdojo_open`).catch(() => undefined);
    await nats?.cleanup();
  });

  it('imports a scan.completed into DefectDojo and publishes the blocking finding', async () => {
    const check = aCheck({ job: dojoJob() });

    await publish(aScanWithReport(check, [aGitleaksItem({ Commit: check.sha })]));

    const [out] = await eventually(async () => ((await outputsOf(check.securityCheckId)).length ? outputsOf(check.securityCheckId) : undefined), 15_000, 'output.completed');
    expect(out).toMatchObject({ source: 'output-defectdojo', correlationId: check.correlationId });
    expect(out?.data).toMatchObject({ output: 'defectdojo', status: 'ok', findingsTotal: 1 });
    expect(out?.data.blocking).toHaveLength(1);
    expect(dojo.productTypes.map((p) => p.name)).toContain('SecBot tests');
  });

  it('publishes a new revision without the finding once it is marked false positive in DefectDojo', async () => {
    const check = aCheck({ job: dojoJob() });
    await publish(aScanWithReport(check, [aGitleaksItem({ Commit: check.sha, File: 'triaged.env' })]));
    await eventually(async () => ((await outputsOf(check.securityCheckId)).length ? true : undefined), 15_000, 'output.completed');
    const finding = dojo.findings.find((f) => f.file_path === 'triaged.env');

    dojo.triage(finding?.id ?? -1, { false_p: true });

    const outputs = await eventually(async () => ((await outputsOf(check.securityCheckId)).length === 2 ? outputsOf(check.securityCheckId) : undefined), 15_000, 'the re-evaluation');
    // The scan's decision takes its revision from the scan's place in the log; triage adds one.
    const base = outputs[0]?.data.revision ?? -1;
    expect(base % REVISIONS_PER_EVALUATION).toBe(0);
    expect(outputs.map((e) => [e.data.trigger, e.data.revision - base, e.data.blocking.length])).toEqual([
      ['scan', 0, 1],
      ['reevaluation', 1, 0],
    ]);
  });

  it('imports a report the scanner put in the object store', async () => {
    const check = aCheck({ job: dojoJob() });
    const items = [aGitleaksItem({ Commit: check.sha, File: 'large.env' })];
    const bucket = `${nats.stream.name}_reports`;
    await (await new Objm(nats.js).create(bucket)).putBlob({ name: `${check.securityCheckId}/gitleaks.json` }, new TextEncoder().encode(aGitleaksReport(items)));
    const inline = aScanWithReport(check, items);

    await publish({ ...inline, data: { ...inline.data, report: { storage: 'object-store', format: 'gitleaks-json', bucket, name: `${check.securityCheckId}/gitleaks.json` } } });

    const [out] = await eventually(async () => ((await outputsOf(check.securityCheckId)).length ? outputsOf(check.securityCheckId) : undefined), 15_000, 'output.completed');
    expect(out?.data).toMatchObject({ status: 'ok', blocking: [expect.objectContaining({ file: 'large.env' })] });
  });

  it('creates one test and one output.completed when the scan is delivered again after the import', async () => {
    const check = aCheck({ job: dojoJob() });
    const event = aScanWithReport(check, [aGitleaksItem({ Commit: check.sha, File: 'twice.env' })]);
    const testsBefore = dojo.tests.length;
    // Reading the test's findings fails once, after the import: JetStream delivers the scan again.
    dojo.failNext(503, { times: 1, match: (r) => r.path === '/api/v2/findings/' && r.query['test'] !== undefined });

    await publish(event);

    await eventually(async () => ((await outputsOf(check.securityCheckId)).length ? true : undefined), 15_000, 'output.completed');
    const lookups = dojo.requests.filter((r) => r.path === '/api/v2/tests/' && r.query['tags']?.includes(check.securityCheckId.toLowerCase()));
    expect(lookups.length).toBeGreaterThanOrEqual(2);
    expect(dojo.tests.length - testsBefore).toBe(1);
    expect(await outputsOf(check.securityCheckId)).toHaveLength(1);
  });

  it('gives a later evaluation of the same commit a test of its own', async () => {
    const check = aCheck({ job: dojoJob() });
    const event = aScanWithReport(check, [aGitleaksItem({ Commit: check.sha, File: 'again.env' })]);
    const testsBefore = dojo.tests.length;

    await publish(event);
    await publish({ ...event, id: '00000000-0000-8000-8000-000000000002' });

    const outputs = await eventually(async () => ((await outputsOf(check.securityCheckId)).length === 2 ? outputsOf(check.securityCheckId) : undefined), 15_000, 'two outputs');
    expect(dojo.tests.length - testsBefore).toBe(2);
    expect(new Set(outputs.map((o) => o.id)).size).toBe(2);
  });

  it('retries while DefectDojo answers 503 and completes once it recovers', async () => {
    const check = aCheck({ job: dojoJob() });
    dojo.failNext(503, { times: 2, match: (r) => r.path === '/api/v2/import-scan/' });

    await publish(aScanWithReport(check, [aGitleaksItem({ Commit: check.sha, File: 'retry.env' })]));

    const [out] = await eventually(async () => ((await outputsOf(check.securityCheckId)).length ? outputsOf(check.securityCheckId) : undefined), 15_000, 'output.completed');
    expect(out?.data).toMatchObject({ status: 'ok', blocking: [expect.objectContaining({ file: 'retry.env' })] });
    expect(dojo.requests.filter((r) => r.path === '/api/v2/import-scan/').map((r) => r.status).slice(-3)).toEqual([503, 503, 201]);
  });

  it('publishes error at once, naming the setting, when DefectDojo rejects the token', async () => {
    const check = aCheck({ job: dojoJob(['dojo-bad-token']) });

    await publish(aScanWithReport(check, [aGitleaksItem({ Commit: check.sha })]));

    const [out] = await eventually(async () => ((await outputsOf(check.securityCheckId)).length ? outputsOf(check.securityCheckId) : undefined), 15_000, 'output.completed');
    expect(out?.data).toMatchObject({ output: 'dojo-bad-token', status: 'error' });
    expect(out?.data.reason).toContain('components.dojo-bad-token.env.secret_key (TEST_DOJO_BAD_TOKEN)');
    expect(JSON.stringify(out)).not.toContain('a-wrong-token');
  });

  it('answers /healthz, /readyz and /metrics', async () => {
    const health = await fetch(`${service.url}/healthz`);
    const ready = await fetch(`${service.url}/readyz`);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();

    expect(health.status).toBe(200);
    expect(ready.status).toBe(200);
    expect(metrics).toContain('secbot_messages_handled_total');
  });
});

describe('output-defectdojo start-up', () => {
  it('lists every missing setting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secbot-dojo-'));
    writeFileSync(join(dir, 'config.yml'), POLICY);

    const start = startOutputDefectDojo({ SECBOT_CONFIG: join(dir, 'config.yml'), TEST_DOJO_URL: 'http://127.0.0.1:1' });

    await expect(start).rejects.toThrow(/SECBOT_NATS_URL[\s\S]*TEST_DOJO_TOKEN[\s\S]*TEST_DOJO_BAD_TOKEN/);
  });
});
