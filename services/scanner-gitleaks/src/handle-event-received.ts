import { deterministicId, type EventReceivedV1, type PlannedComponent, type ScanCompletedV1 } from '@secbot/contracts';
import { errorMessage, TerminalError, type GitLabInstanceConfig, type Logger } from '@secbot/service-kit';
import type { Remote } from './adapters/git/mirror.ts';
import { remoteFor } from './remote.ts';
import type { ScanOutcome } from './scan-component.ts';

export const HANDLER = 'gitleaks';
export const SOURCE = 'scanner-gitleaks';

export interface ReportLocation {
  bucket: string;
  name: string;
}

export interface HandlerDeps {
  instances: GitLabInstanceConfig[];
  scan: (event: EventReceivedV1, component: PlannedComponent, remote: Remote) => Promise<ScanOutcome>;
  publish: (event: ScanCompletedV1) => Promise<void>;
  storeReport: (name: string, content: string) => Promise<ReportLocation>;
  inlineReportMaxBytes: number;
  /** The subscriber's max deliveries: on the last one a transient failure becomes an `error` result. */
  maxDeliver: number;
  now?: () => Date;
}

export interface HandlerContext {
  deliveryCount: number;
  log: Logger;
}

/**
 * Runs every gitleaks component of the job and publishes one scan.completed each. The event id derives from
 * (check, component, the event it answers): a redelivery is stored once by JetStream, and a second event for
 * the same commit (the MR of a pushed branch, a forged push) gets an evaluation of its own.
 */
export async function handleEventReceived(event: EventReceivedV1, ctx: HandlerContext, deps: HandlerDeps): Promise<void> {
  const job = event.data.job;
  if (!job) return;
  const components = job.scans.filter((c) => c.handler === HANDLER);
  const now = deps.now ?? (() => new Date());
  for (const component of components) {
    const started = Date.now();
    const target = remoteFor(event, deps.instances);
    let outcome: ScanOutcome;
    if (!target.ok) {
      outcome = { status: 'error', reason: target.reason, commit: event.data.commit.sha, findings: [] };
    } else {
      try {
        outcome = await deps.scan(event, component, target.remote);
      } catch (err) {
        // A rejected token or a missing project will not get better: report it now, with no retry storm.
        // Anything else (network, a busy mirror, an unexpected failure) is retried until the last delivery.
        const lastTry = ctx.deliveryCount >= deps.maxDeliver;
        if (!(err instanceof TerminalError) && !lastTry) throw err;
        const reason = err instanceof TerminalError ? errorMessage(err) : `${errorMessage(err)} (gave up after ${ctx.deliveryCount} attempts)`;
        outcome = { status: 'error', reason, commit: event.data.commit.sha, findings: [] };
      }
    }
    const { redactedReport, ...data } = outcome;
    const id = deterministicId('scan.completed', event.securityCheckId, component.name, event.id);
    let report: ScanCompletedV1['data']['report'];
    if (redactedReport !== undefined) {
      report =
        Buffer.byteLength(redactedReport) <= deps.inlineReportMaxBytes
          ? { storage: 'inline', format: 'gitleaks-json', content: redactedReport }
          : { storage: 'object-store', format: 'gitleaks-json', ...(await deps.storeReport(`${event.securityCheckId}/${component.name}/${event.id}.json`, redactedReport)) };
    }
    const completed: ScanCompletedV1 = {
      id,
      type: 'scan.completed',
      version: 1,
      occurredAt: now().toISOString(),
      correlationId: event.correlationId,
      securityCheckId: event.securityCheckId,
      source: SOURCE,
      data: {
        context: {
          instance: event.data.instance,
          eventType: event.data.eventType,
          project: event.data.project,
          commit: event.data.commit,
          range: event.data.range,
          ...(event.data.mergeRequest ? { mergeRequest: event.data.mergeRequest } : {}),
          user: event.data.user,
          job,
        },
        scan: component.name,
        handler: HANDLER,
        ...data,
        ...(data.reason ? { reason: data.reason.slice(0, 1000) } : {}),
        durationMs: Date.now() - started,
        ...(report ? { report } : {}),
      },
    };
    await deps.publish(completed);
    ctx.log.info(
      { scan: component.name, status: data.status, findings: data.findings.length, scanned: data.scanned?.description, durationMs: completed.data.durationMs, reason: data.reason },
      'Scan completed',
    );
  }
}
