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

it('answers each scan.completed with one output.completed; a later evaluation of the same commit supersedes the first', async () => {
  const c = aCheck();
  const scan = aScanCompleted(c, { findings: [aFinding()] });
  const publisher = createPublisher({ js: nats.js, stream: nats.stream });

  await publisher.publish(ScanCompletedV1, scan);
  // Another event for the same commit (the MR of a pushed branch): a new evaluation, a new scan id.
  const later = { ...scan, id: '00000000-0000-4000-8000-000000000001', data: { ...scan.data, findings: [] } };
  await publisher.publish(ScanCompletedV1, later);

  const outputs = await eventually(async () => {
    const all = (await readStream(nats, nats.stream)).filter((m) => m.subject === OutputCompletedV1.subject(nats.stream.prefix));
    return all.length >= 2 ? all.map((m) => OutputCompletedV1.schema.parse(m.json)) : undefined;
  });
  expect(outputs).toHaveLength(2);
  const [first, second] = outputs;
  expect(first?.data).toMatchObject({ scan: 'gitleaks', output: 'builtin', blocking: [{ ruleId: 'aws-access-token' }] });
  expect(second?.data.blocking).toEqual([]);
  expect(second?.data.revision).toBeGreaterThan(first?.data.revision ?? Infinity);
  expect(second?.id).not.toBe(first?.id);
});
