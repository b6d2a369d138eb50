import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutputCompletedV1, ScanCompletedV1 } from '@secbot/contracts';
import { createPublisher } from '@secbot/service-kit';
import { aCheck, eventually, fakeDefectDojo, readStream, spawnService, streamEnv, testNats, waitForReady, type FakeDefectDojo, type ServiceProcess, type TestNats } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aGitleaksItem, aScanWithReport, dojoJob } from './test-builders.ts';

const POLICY = `version: "1.0"
components:
  gitleaks:
    handler_name: gitleaks
  defectdojo:
    handler_name: defectdojo
    env:
      url: DEFECTDOJO__URL
      secret_key: DEFECTDOJO__TOKEN
jobs:
  - name: Secrets into DefectDojo
    rules:
      gitlab:
        event_type: push
    scans: [gitleaks]
    outputs: [defectdojo]
`;

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });

describe('output-defectdojo as a process (main.ts)', () => {
  let nats: TestNats;
  let dojo: FakeDefectDojo;
  let proc: ServiceProcess;

  beforeAll(async () => {
    nats = await testNats('dojomain');
    dojo = await fakeDefectDojo({ token: 'process-test-token' });
    const dir = mkdtempSync(join(tmpdir(), 'secbot-dojo-main-'));
    writeFileSync(join(dir, 'config.yml'), POLICY);
    const port = await freePort();
    proc = spawnService('output-defectdojo', {
      ...streamEnv(nats.stream),
      SECBOT_ENV_DIR: dir,
      SECBOT_CONFIG: join(dir, 'config.yml'),
      DEFECTDOJO__URL: dojo.url,
      DEFECTDOJO__TOKEN: dojo.token,
      OUTPUT_DEFECTDOJO_PORT: String(port),
      OUTPUT_DEFECTDOJO_REEVALUATE_SECONDS: '1',
    });
    await waitForReady(`http://127.0.0.1:${port}/readyz`, proc);
  });
  afterAll(async () => {
    await proc?.stop();
    await dojo?.close();
    await nats?.jsm.streams.delete(`KV_${nats.stream.name}_output_defectdojo_open`).catch(() => undefined);
    await nats?.cleanup();
  });

  it('turns a blocking DefectDojo finding into a pass once it is marked false positive, without a rescan', async () => {
    const check = aCheck({ job: dojoJob() });
    const outputs = async () =>
      (await readStream(nats, nats.stream)).filter((m) => m.subject === OutputCompletedV1.subject(nats.stream.prefix)).map((m) => OutputCompletedV1.schema.parse(m.json));

    await createPublisher({ js: nats.js, stream: nats.stream }).publish(ScanCompletedV1, aScanWithReport(check, [aGitleaksItem({ Commit: check.sha })]));
    const [first] = await eventually(async () => ((await outputs()).length === 1 ? outputs() : undefined), 20_000, 'the first output.completed');
    dojo.triage(dojo.findings[0]?.id ?? -1, { false_p: true });
    const all = await eventually(async () => ((await outputs()).length === 2 ? outputs() : undefined), 20_000, 'the re-evaluation');

    expect(first?.data).toMatchObject({ status: 'ok', trigger: 'scan' });
    expect(first?.data.blocking).toHaveLength(1);
    expect(all[1]?.data).toMatchObject({ status: 'ok', trigger: 'reevaluation', revision: (first?.data.revision ?? -2) + 1, blocking: [] });
    expect(proc.output()).not.toContain('process-test-token');
  });
});
