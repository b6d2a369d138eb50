import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deterministicId, OutputCompletedV1, ReevaluationRequestedV1, ScanCompletedV1, REVISIONS_PER_EVALUATION } from '@secbot/contracts';
import { createPublisher } from '@secbot/service-kit';
import { aCheck, eventually, fakeDefectDojo, readStream, streamEnv, testNats, type FakeDefectDojo, type TestNats } from '@secbot/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startOutputDefectDojo, type RunningService } from './service.ts';
import { aGitleaksItem, aScanWithReport, dojoJob } from './test-builders.ts';

const POLICY = `version: "1.0"
components:
  gitleaks: { handler_name: gitleaks }
  defectdojo:
    handler_name: defectdojo
    env: { url: TEST_DOJO_URL, secret_key: TEST_DOJO_TOKEN }
jobs:
  - { name: dojo, rules: { gitlab: { event_type: push } }, scans: [gitleaks], outputs: [defectdojo] }
`;

let nats: TestNats;
let dojo: FakeDefectDojo;
let service: RunningService;

beforeAll(async () => {
  nats = await testNats('dojoreq');
  dojo = await fakeDefectDojo({ token: 'req-test-token' });
  const dir = mkdtempSync(join(tmpdir(), 'secbot-dojo-'));
  writeFileSync(join(dir, 'config.yml'), POLICY);
  service = await startOutputDefectDojo(
    // The periodic pass is an hour away: only the request can bring the new revision in time.
    { ...streamEnv(nats.stream), SECBOT_CONFIG: join(dir, 'config.yml'), LOG_LEVEL: 'silent', TEST_DOJO_URL: dojo.url, TEST_DOJO_TOKEN: dojo.token, OUTPUT_DEFECTDOJO_REEVALUATE_SECONDS: '3600' },
    { port: 0 },
  );
});
afterAll(async () => {
  await service?.close();
  await dojo?.close();
  await nats?.jsm.streams.delete(`KV_${nats.stream.name}_output_defectdojo_open`).catch(() => undefined);
  await nats?.cleanup();
});

it('re-reads triage at once when results asks after a failed status read', async () => {
  const check = aCheck({ job: dojoJob() });
  const publisher = createPublisher({ js: nats.js, stream: nats.stream });
  const outputsOf = async () =>
    (await readStream(nats, nats.stream))
      .filter((m) => m.subject === OutputCompletedV1.subject(nats.stream.prefix))
      .map((m) => OutputCompletedV1.schema.parse(m.json))
      .filter((e) => e.securityCheckId === check.securityCheckId);
  await publisher.publish(ScanCompletedV1, aScanWithReport(check, [aGitleaksItem({ Commit: check.sha, File: 'requested.env' })]));
  await eventually(async () => ((await outputsOf()).length ? true : undefined), 15_000, 'first decision');
  dojo.triage(dojo.findings.find((f) => f.file_path === 'requested.env')?.id ?? -1, { false_p: true });

  await publisher.publish(ReevaluationRequestedV1, {
    id: deterministicId('reevaluation.requested', check.securityCheckId, '1'),
    type: 'reevaluation.requested',
    version: 1,
    occurredAt: new Date().toISOString(),
    correlationId: check.correlationId,
    securityCheckId: check.securityCheckId,
    source: 'results',
    data: { reason: 'status-read', windowSeconds: 30 },
  });

  const outputs = await eventually(async () => ((await outputsOf()).length === 2 ? outputsOf() : undefined), 10_000, 'the re-evaluation');
  // The scan's decision takes its revision from the scan's place in the log; triage adds one.
  const base = outputs[0]?.data.revision ?? -1;
  expect(base % REVISIONS_PER_EVALUATION).toBe(0);
  expect(outputs.map((e) => [e.data.trigger, e.data.revision - base, e.data.blocking.length])).toEqual([
    ['scan', 0, 1],
    ['reevaluation', 1, 0],
  ]);
});
