import { deterministicId, evaluationRevision, type OutputCompletedV1, type ScanCompletedV1 } from '@secbot/contracts';

/**
 * The built-in output: with no external system, the findings themselves decide. Every finding of a
 * successful scan blocks, except those of an accepted baseline (`secbot enroll --accept-history`); exceptions
 * are applied by results. A failed scan gets no decision (its error already counts where no evaluation did).
 * One output.completed per builtin output component of the job, its revision from the scan's position in
 * the event log (a later evaluation of the same commit supersedes it), its id from the scan it answers.
 */
export function decideBuiltin(scan: ScanCompletedV1, now: Date, scanStreamSequence: number): OutputCompletedV1[] {
  if (scan.data.status !== 'ok') return [];
  const revision = evaluationRevision(scanStreamSequence);
  return scan.data.context.job.outputs
    .filter((o) => o.handler === 'builtin')
    .map((o) => ({
      id: deterministicId('output.completed', scan.securityCheckId, scan.data.scan, o.name, scan.id),
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
        revision,
        findingsTotal: scan.data.findings.length,
        blocking: scan.data.findings.filter((f) => !f.baseline),
        links: {},
      },
    }));
}
