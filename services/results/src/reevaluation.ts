import { deterministicId, ReevaluationRequestedV1 } from '@secbot/contracts';
import type { Logger, Publisher } from '@secbot/service-kit';
import type { CheckState } from './check-status.ts';

/**
 * Asks outputs backed by an external system (DefectDojo) to look at a failing check's triage again when its
 * status is read, so a finding marked false positive there unblocks at the CI gate's next poll. At most once
 * per check per window: the event id derives from the check and the window, so replicas and rapid polls
 * store one request. Fire-and-forget: a status read never waits for it or fails because of it.
 */
export function reevaluationRequester(opts: { publisher: Publisher; log: Logger; windowSeconds: number; now?: () => Date }) {
  const now = opts.now ?? (() => new Date());
  const recent = new Map<string, number>();
  return (state: CheckState): void => {
    const external = Object.values(state.outputs).some((o) => o.handler !== 'builtin' && o.blocking.length > 0);
    if (!external) return;
    const t = now().getTime();
    const window = Math.floor(t / (opts.windowSeconds * 1000));
    if (recent.get(state.securityCheckId) === window) return;
    recent.set(state.securityCheckId, window);
    if (recent.size > 10_000) recent.clear();
    void opts.publisher
      .publish(ReevaluationRequestedV1, {
        id: deterministicId('reevaluation.requested', state.securityCheckId, String(window)),
        type: 'reevaluation.requested',
        version: 1,
        occurredAt: new Date(t).toISOString(),
        correlationId: state.correlationId,
        securityCheckId: state.securityCheckId,
        source: 'results',
        data: { reason: 'status-read', windowSeconds: opts.windowSeconds },
      })
      .catch((err: unknown) => opts.log.warn({ securityCheckId: state.securityCheckId, err: (err as Error).message }, 'Re-evaluation request not published'));
  };
}
