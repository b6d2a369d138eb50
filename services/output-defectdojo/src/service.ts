import { OutputCompletedV1, ReevaluationRequestedV1, ScanCompletedV1 } from '@secbot/contracts';
import {
  ConfigError,
  componentSecrets,
  createHttpServer,
  createPublisher,
  readServiceConfig,
  startRuntime,
  subscribe,
  type StartOptions as BaseStartOptions,
  type Policy,
  type RunningService,
} from '@secbot/service-kit';
import { z } from 'zod';
import { createDefectDojoClient } from './adapters/defectdojo/client.ts';
import { kvOpenOutputs } from './adapters/nats-kv/open-outputs.ts';
import { objectStoreReports } from './adapters/nats-obj/report-reader.ts';
import { OutputDefectDojoSettings } from './config.ts';
import { handleScanCompleted, HANDLER, type OutputTarget } from './handle-scan-completed.ts';
import { reevaluateOpenOutputs } from './reevaluate.ts';

export interface StartOptions extends BaseStartOptions {
  /** Tests point DefectDojo calls elsewhere. */
  fetch?: typeof fetch;
}

const HttpUrl = z.url({ protocol: /^https?$/ });

/** The `defectdojo` components that some job uses, each with a client built from its env (url, secret_key, lead_id). */
export function defectDojoTargets(
  policy: Policy,
  env: Record<string, string | undefined>,
  opts: { fetch?: typeof fetch; timeoutMs: number },
): Map<string, OutputTarget> {
  const used = new Set(policy.jobs.flatMap((j) => j.outputs.filter((o) => o.handler === HANDLER).map((o) => o.name)));
  const problems: string[] = [];
  const targets = new Map<string, OutputTarget>();
  for (const name of used) {
    const component = policy.components[name];
    if (!component) continue;
    const where = (key: string) => `components.${name}.env.${key}${component.env[key] ? ` (${component.env[key]})` : ''}`;
    for (const key of ['url', 'secret_key']) if (!component.env[key]) problems.push(`${policy.file}: ${where(key)}: must name the environment variable holding the DefectDojo ${key === 'url' ? 'URL' : 'API v2 token'}`);
    if (problems.length) continue;
    const secrets = componentSecrets(component, env);
    const url = HttpUrl.safeParse(secrets['url']);
    if (!url.success) problems.push(`${where('url')}: must be the http(s) URL of DefectDojo`);
    const lead = secrets['lead_id'] === undefined ? undefined : Number(secrets['lead_id']);
    if (lead !== undefined && !Number.isInteger(lead)) problems.push(`${where('lead_id')}: must be a DefectDojo user id (a number)`);
    if (!url.success || (lead !== undefined && !Number.isInteger(lead))) continue;
    targets.set(name, {
      config: component.config,
      ...(lead === undefined ? {} : { lead }),
      client: createDefectDojoClient({
        baseUrl: url.data,
        token: secrets['secret_key'] ?? '',
        settings: { url: where('url'), token: where('secret_key') },
        timeoutMs: opts.timeoutMs,
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
      }),
    });
  }
  if (problems.length) throw new ConfigError('SecBot output-defectdojo configuration', problems);
  return targets;
}

/** Reads every setting and the policy first and reports all problems together. */
export function readOutputDefectDojoConfig(env: Record<string, string | undefined>) {
  return readServiceConfig('output-defectdojo', OutputDefectDojoSettings, env, { requireEnvFor: (c) => c.handler === HANDLER });
}

export async function startOutputDefectDojo(env: Record<string, string | undefined>, opts: StartOptions = {}): Promise<RunningService> {
  const { settings, policy } = readOutputDefectDojoConfig(env);
  const targets = defectDojoTargets(policy, env, { fetch: opts.fetch, timeoutMs: settings.OUTPUT_DEFECTDOJO_HTTP_TIMEOUT_SECONDS * 1000 });
  const rt = await startRuntime('output-defectdojo', settings, opts);
  const { log, metrics, nats, stream } = rt;
  const publisher = createPublisher({ js: nats.js, stream, metrics });
  const maxDeliver = settings.OUTPUT_DEFECTDOJO_MAX_DELIVER;
  const publish = async (e: OutputCompletedV1) => void (await publisher.publish(OutputCompletedV1, e));
  const readStoredReport = objectStoreReports(nats.js);
  const reevaluateMs = settings.OUTPUT_DEFECTDOJO_REEVALUATE_SECONDS * 1000;
  const openOutputs =
    reevaluateMs > 0
      ? await kvOpenOutputs(nats.js, { bucket: `${stream.name}_output_defectdojo_open`, ttlMs: settings.OUTPUT_DEFECTDOJO_REEVALUATE_FOR_HOURS * 3_600_000, replicas: stream.replicas })
      : undefined;

  const subscription = await subscribe({
    nats,
    stream,
    durable: 'output-defectdojo',
    events: [ScanCompletedV1],
    log,
    metrics,
    maxDeliver,
    ...(opts.backoffMs ? { backoffMs: opts.backoffMs } : {}),
    handle: (event, ctx) =>
      handleScanCompleted(event, ctx, {
        targets,
        maxDeliver,
        dedupeTimeoutMs: settings.OUTPUT_DEFECTDOJO_DEDUPE_TIMEOUT_SECONDS * 1000,
        publish,
        readStoredReport,
        ...(openOutputs ? { openOutputs } : {}),
      }),
  });

  // A failed status read (the CI gate polling) asks for this check's triage to be read again now,
  // rather than at the next periodic pass: results publishes at most one request per check per window.
  const requests = openOutputs
    ? await subscribe({
        nats,
        stream,
        durable: 'output-defectdojo-reevaluation',
        events: [ReevaluationRequestedV1],
        log,
        metrics,
        maxDeliver: 3,
        handle: async (event) => {
          const r = await reevaluateOpenOutputs({ targets, openOutputs, publish, log, securityCheckId: event.securityCheckId });
          if (r.failed) log.warn({ securityCheckId: event.securityCheckId, failed: r.failed }, 'Requested re-evaluation could not read DefectDojo');
        },
      })
    : undefined;

  // One pass at a time; a slow DefectDojo delays the next pass instead of stacking them.
  let pass: Promise<unknown> = Promise.resolve();
  let passRunning = false;
  const timer = openOutputs
    ? setInterval(() => {
        if (passRunning) return;
        passRunning = true;
        pass = reevaluateOpenOutputs({ targets, openOutputs, publish, log })
          .catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'Re-evaluation pass failed'))
          .finally(() => {
            passRunning = false;
          });
      }, reevaluateMs)
    : undefined;

  const app = await createHttpServer({
    service: 'output-defectdojo',
    log,
    metrics,
    readiness: { nats: rt.natsReady },
  });
  const address = await app.listen({ port: opts.port ?? settings.OUTPUT_DEFECTDOJO_PORT, host: settings.SECBOT_LISTEN_HOST });
  log.info({ url: address, outputs: [...targets.keys()] }, 'Output defectdojo listening');

  return {
    url: address,
    log,
    async close() {
      clearInterval(timer);
      await pass;
      await app.close();
      await subscription.stop();
      await requests?.stop();
      await rt.close();
    },
  };
}

export type { RunningService } from '@secbot/service-kit';
