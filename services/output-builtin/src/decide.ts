import { deterministicId, type OutputCompletedV1, type ScanCompletedV1 } from '@secbot/contracts';

/**
 * The built-in output: with no external system, the findings themselves decide. Every finding of a
 * successful scan blocks. A failed scan gets no decision (its error already makes the check `error`).
 * One output.completed per builtin output component of the job, revision 0 (a later re-evaluation,
 * e.g. an exception, publishes a higher revision).
 */
export function decideBuiltin(scan: ScanCompletedV1, now: Date): OutputCompletedV1[] {
  if (scan.data.status !== 'ok') return [];
  return scan.data.context.job.outputs
    .filter((o) => o.handler === 'builtin')
    .map((o) => ({
      id: deterministicId('output.completed', scan.securityCheckId, scan.data.scan, o.name, '0'),
      type: 'output.completed',
      version: 1,
      occurredAt: now.toISOString(),
      correlationId: scan.correlationId,
      securityCheckId: scan.securityCheckId,
      source: 'output-builtin',
      data: {
        context: scan.data.context,
        scan: scan.data.scan,
        output: o.name,
        handler: 'builtin',
        status: 'ok',
        trigger: 'scan',
        revision: 0,
        findingsTotal: scan.data.findings.length,
        blocking: scan.data.findings,
        links: {},
      },
    }));
}
