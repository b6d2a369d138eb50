import { OutputCompletedV1, ScanCompletedV1 } from '@secbot/contracts';
import { createPublisher } from '@secbot/service-kit';
import { aCheck, aFinding, aScanCompleted, captureLogs, eventually, readStream, streamEnv, testNats, type TestNats } from '@secbot/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startOutputBuiltin } from './service.ts';

let nats: TestNats;
let close: () => Promise<void>;

beforeAll(async () => {
  nats = await testNats('builtin');
  const s = await startOutputBuiltin(streamEnv(nats.stream), { port: 0, logDestination: captureLogs() });
  close = () => s.close();
});
afterAll(async () => {
  await close?.();
  await nats?.cleanup();
});

it('answers each scan.completed with one output.completed, once even when the scan is published twice', async () => {
  const c = aCheck();
  const scan = aScanCompleted(c, { findings: [aFinding()] });
  const publisher = createPublisher({ js: nats.js, stream: nats.stream });

  await publisher.publish(ScanCompletedV1, scan);
  // A scanner redelivery after the duplicate window: same content, a new event id.
  await publisher.publish(ScanCompletedV1, { ...scan, id: '00000000-0000-4000-8000-000000000001' });

  const outputs = await eventually(async () => {
    const all = (await readStream(nats, nats.stream)).filter((m) => m.subject === OutputCompletedV1.subject(nats.stream.prefix));
    return all.length >= 1 ? all : undefined;
  });
  await new Promise((r) => setTimeout(r, 500));
  const after = (await readStream(nats, nats.stream)).filter((m) => m.subject === OutputCompletedV1.subject(nats.stream.prefix));
  expect(after).toHaveLength(1);
  expect(OutputCompletedV1.schema.parse(outputs[0]!.json).data).toMatchObject({ scan: 'gitleaks', output: 'builtin', blocking: [{ ruleId: 'aws-access-token' }] });
});
