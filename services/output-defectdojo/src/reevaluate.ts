import type { OutputCompletedV1 } from '@secbot/contracts';
import { errorMessage, type Logger } from '@secbot/service-kit';
import type { OutputTarget } from './handle-scan-completed.ts';
import { reevaluated, type OpenOutputs } from './open-outputs.ts';
import { decideOnTest } from './read-decision.ts';

export interface ReevaluateDeps {
  targets: ReadonlyMap<string, OutputTarget>;
  openOutputs: OpenOutputs;
  publish(event: OutputCompletedV1): Promise<void>;
  log: Logger;
  now?: () => Date;
  /** Only this check's open outputs (a re-evaluation requested when its failed status was read). */
  securityCheckId?: string;
}

export interface PassResult {
  checked: number;
  changed: number;
  failed: number;
}

/**
 * One pass over the outputs that blocked: read each test's findings again and publish a new revision when
 * triage in DefectDojo changed what blocks (e.g. marked false positive → no longer blocking → the check
 * turns to success without a rescan). An output that no longer blocks is forgotten. A pass that cannot
 * read DefectDojo changes nothing: the verdict already given stands until a read succeeds.
 */
export async function reevaluateOpenOutputs(deps: ReevaluateDeps): Promise<PassResult> {
  const now = deps.now ?? (() => new Date());
  const result: PassResult = { checked: 0, changed: 0, failed: 0 };
  for (const { key, value, revision } of await deps.openOutputs.list(deps.securityCheckId)) {
    const { last } = value;
    const log = deps.log.child({ securityCheckId: last.securityCheckId, correlationId: last.correlationId, scan: last.data.scan, output: last.data.output });
    try {
      if (value.pending) {
        await deps.publish(last);
        if (last.data.blocking.length === 0) await deps.openOutputs.remove(key);
        else await deps.openOutputs.replace(key, { ...value, pending: false }, revision);
        continue;
      }
      const target = deps.targets.get(last.data.output);
      if (!target) continue;
      result.checked++;
      const findings = await target.client.listTestFindings(value.testId);
      const decision = await decideOnTest(target.client, findings, { findings: value.scanFindings, commit: value.commit });
      if (decision.missingOriginals.length) continue;
      const next = reevaluated(last, decision, now());
      if (!next) continue;
      // Claim the new revision first, so two replicas never publish different contents under one id.
      const claimed = await deps.openOutputs.replace(key, { ...value, last: next, pending: true }, revision);
      if (claimed === undefined) continue;
      await deps.publish(next);
      result.changed++;
      log.info({ revision: next.data.revision, blocking: next.data.blocking.length }, 'Triage in DefectDojo changed the verdict');
      if (next.data.blocking.length === 0) await deps.openOutputs.remove(key);
      else await deps.openOutputs.replace(key, { ...value, last: next }, claimed);
    } catch (err) {
      result.failed++;
      log.warn({ err: errorMessage(err) }, 'Re-evaluation of a blocking output failed; will try again');
    }
  }
  return result;
}
