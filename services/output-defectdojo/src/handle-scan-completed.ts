import { deterministicId, evaluationRevision, type Finding, type OutputCompletedV1, type PlannedComponent, type ScanCompletedV1 } from '@secbot/contracts';
import { errorMessage, RetryableError, TerminalError, type Logger } from '@secbot/service-kit';
import type { DefectDojoClient, DojoFinding } from './adapters/defectdojo/client.ts';
import type { ReadStoredReport } from './adapters/nats-obj/report-reader.ts';
import { toDojoGitleaksReport } from './adapters/defectdojo/schema.ts';
import { placementFor } from './dojo-context.ts';
import { openOutputKey, type OpenOutputs } from './open-outputs.ts';
import { decideOnTest } from './read-decision.ts';

export const HANDLER = 'defectdojo';
export const SOURCE = 'output-defectdojo';

/** One `defectdojo` output component this service can reach: its client and its non-secret config. */
export interface OutputTarget {
  client: DefectDojoClient;
  config: Record<string, unknown>;
  lead?: number;
}

export interface Deps {
  /** By component name, as config.yml names it. */
  targets: ReadonlyMap<string, OutputTarget>;
  publish(event: OutputCompletedV1): Promise<void>;
  /** The subscriber's max deliveries: on the last one a retryable failure becomes an `error` output. */
  maxDeliver: number;
  /** How long to poll for deduplication on a server without `async_wait`. */
  dedupeTimeoutMs: number;
  /** Where blocking outputs are kept for re-evaluation after triage; none: no re-evaluation. */
  openOutputs?: OpenOutputs;
  /** Reads reports the scanner stored in the object store; none: only inline reports are imported. */
  readStoredReport?: ReadStoredReport;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

export interface Delivery {
  deliveryCount: number;
  /** The scan.completed's position in the event log: the revision of the first decision on it. */
  streamSequence?: number;
  working(): void;
  log: Logger;
}

interface Outcome {
  status: 'ok' | 'error';
  reason?: string;
  findingsTotal: number;
  blocking: Finding[];
  links: Record<string, string>;
  /** The DefectDojo test the outcome was read from. */
  testId?: number;
}

const errorOutcome = (reason: string): Outcome => ({ status: 'error', reason, findingsTotal: 0, blocking: [], links: {} });

export function toOutputCompleted(event: ScanCompletedV1, output: PlannedComponent, outcome: Outcome, now: Date, scanStreamSequence = 0): OutputCompletedV1 {
  const revision = evaluationRevision(scanStreamSequence);
  return {
    id: deterministicId('output.completed', event.securityCheckId, event.data.scan, output.name, event.id),
    type: 'output.completed',
    version: 1,
    occurredAt: now.toISOString(),
    correlationId: event.correlationId,
    securityCheckId: event.securityCheckId,
    source: SOURCE,
    data: {
      context: event.data.context,
      scan: event.data.scan,
      output: output.name,
      handler: output.handler,
      status: outcome.status,
      ...(outcome.reason === undefined ? {} : { reason: outcome.reason.slice(0, 1000) }),
      trigger: 'scan',
      revision,
      findingsTotal: outcome.findingsTotal,
      blocking: outcome.blocking,
      links: outcome.links,
    },
  };
}

/**
 * Imports the scan's redacted report into DefectDojo for every `defectdojo` output of the plan and publishes
 * one output.completed per output. Redelivery is safe: the test is found by its run tag before importing,
 * and the event id is deterministic. Retryable failures are thrown (the subscriber naks with backoff) until
 * the last delivery, which publishes `error` with the reason instead, so no check waits for ever.
 */
export async function handleScanCompleted(event: ScanCompletedV1, delivery: Delivery, deps: Deps): Promise<void> {
  const outputs = event.data.context.job.outputs.filter((o) => o.handler === HANDLER);
  const now = deps.now ?? (() => new Date());
  const lastDelivery = delivery.deliveryCount >= deps.maxDeliver;
  let retry: RetryableError | undefined;
  for (const output of outputs) {
    const log = delivery.log.child({ scan: event.data.scan, output: output.name });
    // Retryable failures are logged once, by the subscriber, when it naks.
    let outcome: Outcome;
    try {
      outcome = await runOutput(event, output, delivery, deps, log);
    } catch (err) {
      if (err instanceof TerminalError) {
        outcome = errorOutcome(err.message);
      } else if (lastDelivery) {
        outcome = errorOutcome(`Gave up after ${delivery.deliveryCount} attempts: ${errorMessage(err)}`);
      } else {
        retry ??= err instanceof RetryableError ? err : new RetryableError(errorMessage(err), { cause: err });
        continue;
      }
    }
    if (outcome.status === 'error') log.error({ reason: outcome.reason }, 'DefectDojo output ended in error');
    else log.info({ findingsTotal: outcome.findingsTotal, blocking: outcome.blocking.length }, 'DefectDojo output completed');
    const published = toOutputCompleted(event, output, outcome, now(), delivery.streamSequence);
    await deps.publish(published);
    if (deps.openOutputs) await keepOpen(deps.openOutputs, event, output, published, outcome);
  }
  if (retry) throw retry;
}

/**
 * Keeps the check's latest blocking decision for re-evaluation after triage. A redelivered scan must not undo
 * a later re-evaluation (kept: a higher revision), and a later evaluation of the same commit replaces an
 * earlier one (or ends it, when nothing blocks any more).
 */
async function keepOpen(open: OpenOutputs, event: ScanCompletedV1, output: PlannedComponent, published: OutputCompletedV1, outcome: Outcome): Promise<void> {
  const key = openOutputKey(event.securityCheckId, event.data.scan, output.name);
  const value = { last: published, testId: outcome.testId ?? 0, scanFindings: event.data.findings, commit: event.data.commit };
  const stored = (await open.list(event.securityCheckId)).find((s) => s.key === key);
  const blocks = outcome.testId !== undefined && outcome.blocking.length > 0;
  if (!stored) {
    if (blocks) await open.putIfAbsent(key, value);
    return;
  }
  if (stored.value.last.data.revision >= published.data.revision) return;
  if (blocks) await open.replace(key, value, stored.revision);
  else await open.remove(key);
}

async function runOutput(event: ScanCompletedV1, output: PlannedComponent, delivery: Delivery, deps: Deps, log: Logger): Promise<Outcome> {
  const { data } = event;
  if (data.status === 'error') {
    return errorOutcome(`Scan ${data.scan} failed, so nothing was imported into DefectDojo: ${data.reason ?? 'no reason given'}`);
  }
  const target = deps.targets.get(output.name);
  if (!target) {
    return errorOutcome(
      `Output component "${output.name}" is not configured in output-defectdojo: add it with handler_name: defectdojo and its env (url, secret_key) to this service's config.yml, then restart it.`,
    );
  }
  if (!data.report) return errorOutcome(`Scan ${data.scan} published no report to import into DefectDojo; the scanner must set data.report.`);
  let content: string;
  if (data.report.storage === 'inline') content = data.report.content;
  else if (deps.readStoredReport) content = await deps.readStoredReport(data.report.bucket, data.report.name);
  else return errorOutcome(`Scan ${data.scan} stored its report in the object store, which this output-defectdojo cannot read.`);
  const report = toDojoGitleaksReport(content);
  if (report === undefined) return errorOutcome(`The report of scan ${data.scan} (format ${data.report.format}) is not a gitleaks JSON report.`);

  const { client } = target;
  const placement = placementFor({ context: data.context, securityCheckId: event.securityCheckId, scan: data.scan, scanEventId: event.id, output: output.name, config: { ...target.config, ...output.config } });
  const existing = await client.findTest({ productName: placement.productName, engagementName: placement.engagementName, tag: placement.runTag });
  let testId: number;
  let deduplicated = false;
  if (existing) {
    testId = existing.id;
    log.info({ testId }, 'DefectDojo test already imported by an earlier delivery; reading it');
  } else {
    const imported = await client.importScan({ ...placement, tags: placement.tags, report, lead: target.lead });
    testId = imported.testId;
    deduplicated = imported.deduplicationComplete === true;
  }
  delivery.working();
  const findings = deduplicated ? await client.listTestFindings(testId) : await settledFindings(client, testId, deps, delivery);

  const decision = await decideOnTest(client, findings, { findings: data.findings, commit: data.commit });
  // History accepted as the baseline is in DefectDojo for people to see, and never blocks.
  const baseline = new Set(data.findings.filter((f) => f.baseline).map((f) => f.fingerprint));
  if (decision.missingOriginals.length) {
    return errorOutcome(
      `DefectDojo did not return the original findings ${decision.missingOriginals.join(', ')} of duplicates in test ${testId}; the API user may lack access to them. Not deciding on a partial view.`,
    );
  }
  return {
    status: 'ok',
    findingsTotal: decision.findingsTotal,
    blocking: decision.blocking.filter((f) => !baseline.has(f.fingerprint)),
    testId,
    links: { defectdojo: client.testUrl(testId) },
  };
}

/**
 * For servers without `async_wait`: poll the test's findings until every one has its hash_code and two reads
 * in a row agree on the duplicate flags, with growing intervals, up to `dedupeTimeoutMs`.
 */
async function settledFindings(client: DefectDojoClient, testId: number, deps: Deps, delivery: Delivery): Promise<DojoFinding[]> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + deps.dedupeTimeoutMs;
  let previous: string | undefined;
  let delay = 100;
  for (;;) {
    const findings = await client.listTestFindings(testId);
    const hashed = findings.every((f) => f.hash_code !== null);
    const key = JSON.stringify(findings.map((f) => [f.id, f.duplicate, f.duplicate_finding ?? null, f.active, f.hash_code ?? null]));
    if (hashed && key === previous) return findings;
    previous = hashed ? key : undefined;
    if (Date.now() + delay > deadline) {
      throw new RetryableError(`DefectDojo had not finished deduplicating test ${testId} after ${Math.round(deps.dedupeTimeoutMs / 1000)} s.`);
    }
    delivery.working();
    await sleep(delay);
    delay = Math.min(2000, delay * 2);
  }
}
