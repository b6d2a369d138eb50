import { CheckExpiredV1, EventReceivedV1, NotifiedV1, OutputCompletedV1, ScanCompletedV1, type Instance } from '@secbot/contracts';
import {
  serveSubscriber,
  createPublisher,
  readSettings,
  startRuntime,
  subscribe,
  type GitLabInstanceConfig,
  type RunningService,
  type StartOptions,
} from '@secbot/service-kit';
import { createGitLabClient } from './adapters/gitlab/client.ts';
import { kvGitLabNotifierMemory } from './adapters/nats-kv/memory.ts';
import { NotifierGitLabSettings } from './config.ts';
import { handleCheckEvent, type GitLabTarget } from './handle-check-event.ts';

const normalise = (url: string) => url.replace(/\/+$/, '').toLowerCase();

/** The GITLAB_CONFIGS entry an event's instance came from: same prefix and same URL (intake set both from it). */
export function instanceTargets(configs: GitLabInstanceConfig[], timeoutMs: number): (instance: Instance) => GitLabTarget | undefined {
  const targets = configs.map((c) => ({
    prefix: c.prefix,
    url: normalise(c.host),
    target: {
      client: createGitLabClient({ baseUrl: c.host, token: c.auth_token, tokenSetting: `GITLAB_CONFIGS (prefix ${c.prefix}).auth_token`, timeoutMs }),
    },
  }));
  return (instance) => targets.find((t) => t.prefix === instance.prefix && t.url === normalise(instance.url))?.target;
}

export async function startNotifierGitLab(env: Record<string, string | undefined>, opts: StartOptions = {}): Promise<RunningService> {
  const settings = readSettings(NotifierGitLabSettings, env);
  const rt = await startRuntime('notifier-gitlab', settings, opts);
  const { log, metrics, nats, stream } = rt;
  try {
    if (settings.RESULTS_PUBLIC_URL && !settings.SECBOT_LINK_SIGNING_KEY) {
      log.warn('SECBOT_LINK_SIGNING_KEY is not set: links to check details are not signed, so people need a credential to open them');
    }
    const gitlabFor = instanceTargets(settings.GITLAB_CONFIGS, settings.NOTIFIER_GITLAB_TIMEOUT_SECONDS * 1000);
    const publisher = createPublisher({ js: nats.js, stream, metrics });
    const memory = await kvGitLabNotifierMemory(nats.js, {
      bucket: `${stream.name}_notifier_gitlab`,
      ttlMs: settings.NOTIFIER_GITLAB_STATE_TTL_DAYS * 86_400_000,
      replicas: stream.replicas,
    });
    const subscription = await subscribe({
      nats,
      stream,
      durable: 'notifier-gitlab',
      events: [EventReceivedV1, ScanCompletedV1, OutputCompletedV1, CheckExpiredV1],
      log,
      metrics,
      maxDeliver: settings.NOTIFIER_GITLAB_MAX_DELIVER,
      ...(opts.backoffMs ? { backoffMs: opts.backoffMs } : {}),
      handle: (event, ctx) =>
        handleCheckEvent(event, {
          gitlabFor,
          memory,
          publish: async (e) => void (await publisher.publish(NotifiedV1, e)),
          ...(settings.RESULTS_PUBLIC_URL ? { resultsUrl: settings.RESULTS_PUBLIC_URL } : {}),
          ...(settings.SECBOT_LINK_SIGNING_KEY ? { linkSigning: { key: settings.SECBOT_LINK_SIGNING_KEY, ttlDays: settings.SECBOT_LINK_TTL_DAYS } } : {}),
          now: () => new Date(),
          log: ctx.log,
        }),
    });
    return await serveSubscriber(rt, {
      port: opts.port ?? settings.NOTIFIER_GITLAB_PORT,
      host: settings.SECBOT_LISTEN_HOST,
      stop: [() => subscription.stop()],
      logFields: { instances: settings.GITLAB_CONFIGS.map((c) => c.prefix) },
    });
  } catch (err) {
    await rt.close();
    throw err;
  }
}

export type { RunningService, StartOptions } from '@secbot/service-kit';
