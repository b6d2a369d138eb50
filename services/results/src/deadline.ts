import { CheckExpiredV1, deterministicId } from '@secbot/contracts';
import type { Logger, Publisher } from '@secbot/service-kit';
import type { Database } from './adapters/postgres/database.ts';
import { stuckChecks } from './adapters/postgres/projection-store.ts';
import { awaited } from './check-status.ts';

/**
 * Every `intervalSeconds`, publishes check.expired for checks still in progress `deadlineSeconds` after their
 * first event, naming what they wait for. The id derives from the check, so several results replicas publish
 * one event; the projection then makes the check `error`.
 */
export function startDeadlineSweeper(opts: { db: Database; publisher: Publisher; log: Logger; deadlineSeconds: number; intervalSeconds: number }) {
  const sweep = async () => {
    const stuck = await stuckChecks(opts.db, new Date(Date.now() - opts.deadlineSeconds * 1000));
    for (const state of stuck) {
      const waitedFor = awaited(state);
      await opts.publisher.publish(CheckExpiredV1, {
        id: deterministicId('check.expired', state.securityCheckId),
        type: 'check.expired',
        version: 1,
        occurredAt: new Date().toISOString(),
        correlationId: state.correlationId,
        securityCheckId: state.securityCheckId,
        source: 'results',
        data: { deadlineSeconds: opts.deadlineSeconds, waitedFor: waitedFor.length ? waitedFor : ['results that never came'] },
      });
      opts.log.warn({ securityCheckId: state.securityCheckId, waitedFor }, 'Check passed its deadline');
    }
  };
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = sweep().catch((err: unknown) => opts.log.error({ err: (err as Error).message }, 'Deadline sweep failed'));
  }, opts.intervalSeconds * 1000);
  return {
    sweep,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
