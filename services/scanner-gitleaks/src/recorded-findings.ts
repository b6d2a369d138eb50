import { DeliverPolicy } from '@nats-io/jetstream';
import { ScanCompletedV1, type StreamSettings } from '@secbot/contracts';
import type { Logger, Nats } from '@secbot/service-kit';
import { addFindings, type StoredFinding } from './project-record.ts';
import type { ProjectRecords } from './project-records.ts';

export const RECORDED_FINDINGS_MARKER = 'findings-from-events-v1';

export interface ProjectFindings {
  host: string;
  project: string;
  component: string;
  findings: StoredFinding[];
}

/** The findings of scan.completed events, per (project, component), with the commit each names. */
export function findingsOfEvents(events: Iterable<ScanCompletedV1>): ProjectFindings[] {
  const groups = new Map<string, ProjectFindings>();
  for (const e of events) {
    const d = e.data;
    if (d.status !== 'ok' || d.findings.length === 0) continue;
    const host = d.context.instance.host;
    const project = d.context.project.pathWithNamespace;
    const key = `${host}\u0000${project}\u0000${d.scan}`;
    const group = groups.get(key) ?? { host, project, component: d.scan, findings: [] };
    for (const f of d.findings) {
      // Older scanners named the scanned commit for tree scans; either way it is in the finding's history.
      const commit = f.commit || d.commit;
      if (/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) group.findings.push({ ...f, commit, foundAt: e.occurredAt });
    }
    groups.set(key, group);
  }
  return [...groups.values()].filter((g) => g.findings.length > 0);
}

/**
 * Once per KV bucket: the findings of every scan.completed already in the stream (published before the
 * project records existed) go into the records, so that they keep blocking and no baseline taken later can
 * swallow them. Runs before the scanner takes its first event.
 */
export async function loadRecordedFindings(nats: Nats, stream: StreamSettings, records: ProjectRecords, log: Logger): Promise<void> {
  if (await records.getMarker(RECORDED_FINDINGS_MARKER)) return;
  const info = await nats.jsm.streams.info(stream.name);
  const last = info.state.last_seq;
  const events: ScanCompletedV1[] = [];
  if (info.state.messages > 0) {
    const consumer = await nats.js.consumers.get(stream.name, { filter_subjects: ScanCompletedV1.subject(stream.prefix), deliver_policy: DeliverPolicy.All });
    // Batches until one comes back empty (no scan.completed at all is a normal answer) or the last is read.
    for (let done = false; !done; ) {
      let got = 0;
      for await (const m of await consumer.fetch({ max_messages: 1000, expires: 1000 })) {
        got++;
        const parsed = ScanCompletedV1.schema.safeParse(m.json());
        if (parsed.success) events.push(parsed.data);
        if (m.seq >= last || m.info.pending === 0) done = true;
      }
      if (got === 0) done = true;
    }
  }
  const groups = findingsOfEvents(events);
  for (const g of groups) await records.update(g.host, g.project, (r) => addFindings(r, g.component, g.findings));
  await records.setMarker(RECORDED_FINDINGS_MARKER, JSON.stringify({ at: new Date().toISOString(), upToSeq: last, projects: groups.length }));
  log.info({ events: events.length, projects: groups.length, upToSeq: last }, 'Findings of earlier events loaded into the project records');
}
