import type { OutputCompletedV1 } from '@secbot/contracts';
import { createLogger } from '@secbot/service-kit';
import { fakeDefectDojo, type FakeDefectDojo } from '@secbot/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDefectDojoClient } from './adapters/defectdojo/client.ts';
import { handleScanCompleted, type Deps } from './handle-scan-completed.ts';
import { reevaluateOpenOutputs } from './reevaluate.ts';
import { aDojoCheck, aGitleaksItem, aScanWithReport, memoryOpenOutputs } from './test-builders.ts';

const settings = { url: 'DEFECTDOJO__URL', token: 'DEFECTDOJO__TOKEN' };
const log = createLogger({ service: 'test', level: 'silent' });
const leak = aGitleaksItem({ Commit: 'c'.repeat(40) });

describe('re-evaluation after triage in DefectDojo', () => {
  let dojo: FakeDefectDojo;
  let published: OutputCompletedV1[];
  let deps: Deps & { openOutputs: ReturnType<typeof memoryOpenOutputs> };
  const pass = () => reevaluateOpenOutputs({ ...deps, log });

  beforeEach(async () => {
    dojo = await fakeDefectDojo();
    published = [];
    deps = {
      targets: new Map([['defectdojo', { config: {}, client: createDefectDojoClient({ baseUrl: dojo.url, token: dojo.token, settings }) }]]),
      publish: (e) => {
        published.push(e);
        return Promise.resolve();
      },
      maxDeliver: 3,
      dedupeTimeoutMs: 5000,
      openOutputs: memoryOpenOutputs(),
    };
    await handleScanCompleted(aScanWithReport(aDojoCheck(), [leak]), { deliveryCount: 1, working: () => undefined, log }, deps);
  });
  afterEach(async () => {
    await dojo.close();
  });

  it('keeps a blocking output, and changes nothing while nobody triaged it', async () => {
    const result = await pass();

    expect(deps.openOutputs.entries.size).toBe(1);
    expect(result).toEqual({ checked: 1, changed: 0, failed: 0 });
    expect(published).toHaveLength(1);
  });

  it('publishes the next revision without the finding once it is marked false positive, then forgets the output', async () => {
    dojo.triage(dojo.findings[0]?.id ?? -1, { false_p: true });

    await pass();
    await pass();

    expect(published).toHaveLength(2);
    expect(published[1]?.data).toMatchObject({ trigger: 'reevaluation', revision: 1, status: 'ok', blocking: [] });
    expect(published[1]?.securityCheckId).toBe(published[0]?.securityCheckId);
    expect(deps.openOutputs.entries.size).toBe(0);
  });

  it('clears a re-found secret once its original is risk accepted', async () => {
    await handleScanCompleted(aScanWithReport(aDojoCheck(), [leak]), { deliveryCount: 1, working: () => undefined, log }, deps);
    dojo.triage(dojo.findings[0]?.id ?? -1, { risk_accepted: true });

    await pass();

    expect(published.slice(2).map((e) => [e.data.revision, e.data.blocking.length])).toEqual([
      [1, 0],
      [1, 0],
    ]);
    expect(deps.openOutputs.entries.size).toBe(0);
  });

  it('changes nothing while DefectDojo cannot be read', async () => {
    dojo.triage(dojo.findings[0]?.id ?? -1, { false_p: true });
    dojo.failNext(503);

    const result = await pass();

    expect(result.failed).toBe(1);
    expect(published).toHaveLength(1);
    expect(deps.openOutputs.entries.size).toBe(1);
  });

  it('keeps counting revisions when the scan is delivered again between two triages', async () => {
    deps.openOutputs.entries.clear();
    const event = aScanWithReport(aDojoCheck(), [aGitleaksItem({ File: 'a.env' }), aGitleaksItem({ File: 'b.env' })]);
    const deliver = () => handleScanCompleted(event, { deliveryCount: 1, working: () => undefined, log }, deps);
    await deliver();
    const [a, b] = dojo.findings.slice(-2);

    dojo.triage(a?.id ?? -1, { false_p: true });
    await pass();
    await deliver();
    dojo.triage(b?.id ?? -1, { false_p: true });
    await pass();

    const mine = published.filter((e) => e.securityCheckId === event.securityCheckId);
    expect(mine.map((e) => [e.data.trigger, e.data.revision, e.data.blocking.length])).toEqual([
      ['scan', 0, 2],
      ['reevaluation', 1, 1],
      ['scan', 0, 1],
      ['reevaluation', 2, 0],
    ]);
  });
});
