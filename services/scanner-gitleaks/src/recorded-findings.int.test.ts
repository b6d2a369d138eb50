import { Kvm } from '@nats-io/kv';
import { ScanCompletedV1 } from '@secbot/contracts';
import { createLogger, createPublisher } from '@secbot/service-kit';
import { aCheck, aFinding, aScanCompleted, testNats, type TestNats } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvProjectRecords } from './adapters/nats-kv/project-records.ts';
import { loadRecordedFindings, RECORDED_FINDINGS_MARKER } from './recorded-findings.ts';

const log = createLogger({ service: 'test', level: 'silent' });

describe('findings of events published before project records existed', () => {
  let nats: TestNats;
  const bucket = `test-projects-${Date.now()}`;

  beforeAll(async () => {
    nats = await testNats('recorded');
  });
  afterAll(async () => {
    await new Kvm(nats.js).open(bucket).then((kv) => kv.destroy()).catch(() => undefined);
    await nats?.cleanup();
  });

  it('are loaded once into the records, with the commit each names, so they keep blocking', async () => {
    const publisher = createPublisher({ js: nats.js, stream: nats.stream });
    const c = aCheck({ project: 'group/legacy' });
    const introduced = 'a'.repeat(40);
    await publisher.publish(ScanCompletedV1, aScanCompleted(c, { findings: [aFinding({ commit: introduced, file: 'old.env' })] }));
    // A tree scan of an older scanner named no commit: the scanned commit stands in.
    await publisher.publish(ScanCompletedV1, { ...aScanCompleted(c, { findings: [aFinding({ commit: '', file: 'tree.env', fingerprint: 'aws-access-token:tree' })] }), id: '00000000-0000-4000-8000-0000000000aa' });
    await publisher.publish(ScanCompletedV1, { ...aScanCompleted(aCheck({ project: 'group/failed' }), { status: 'error', reason: 'timeout' }), id: '00000000-0000-4000-8000-0000000000ab' });
    const records = await kvProjectRecords(nats.js, { bucket, replicas: 1 });

    await loadRecordedFindings(nats, nats.stream, records, log);

    const record = await records.get(c.context.instance.host, 'group/legacy');
    const findings = Object.values(record.components['gitleaks']?.findings ?? {});
    expect(findings.map((f) => [f.file, f.commit, f.baseline ?? false, f.scope])).toEqual([
      ['old.env', introduced, false, undefined],
      ['tree.env', c.sha, false, undefined],
    ]);
    expect(await records.getMarker(RECORDED_FINDINGS_MARKER)).toContain('"projects":1');

    // Once: events published later are the scanner's own, and are not read again at the next start.
    await publisher.publish(ScanCompletedV1, { ...aScanCompleted(c, { findings: [aFinding({ commit: 'b'.repeat(40), file: 'new.env' })] }), id: '00000000-0000-4000-8000-0000000000ac' });
    await loadRecordedFindings(nats, nats.stream, records, log);
    expect(Object.keys((await records.get(c.context.instance.host, 'group/legacy')).components['gitleaks']?.findings ?? {})).toHaveLength(2);
  });

  it('starts on an empty stream without waiting', async () => {
    const empty = await testNats('recorded-empty');
    try {
      const records = await kvProjectRecords(empty.js, { bucket: `${bucket}-empty`, replicas: 1 });
      await loadRecordedFindings(empty, empty.stream, records, log);
      expect(await records.list()).toEqual([]);
      await new Kvm(empty.js).open(`${bucket}-empty`).then((kv) => kv.destroy());
    } finally {
      await empty.cleanup();
    }
  });
});
