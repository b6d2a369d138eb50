import { NotifiedV1, OutputCompletedV1 } from '@secbot/contracts';
import {
  componentSecrets,
  serveSubscriber,
  createPublisher,
  readServiceConfig,
  startRuntime,
  subscribe,
  type Logger,
  type Policy,
  type RunningService,
  type StartOptions,
} from '@secbot/service-kit';
import { createSlackClient, type SlackClient } from './adapters/slack/client.ts';
import { kvNotifierMemory } from './adapters/nats-kv/memory.ts';
import { NotifierSlackSettings, SlackComponentConfig } from './config.ts';
import { handleOutputCompleted, HANDLER } from './handle-output-completed.ts';

/** Reads every setting and the policy first and reports all problems together. */
export function readNotifierSlackConfig(env: Record<string, string | undefined>): { settings: NotifierSlackSettings; policy: Policy } {
  return readServiceConfig('notifier-slack', NotifierSlackSettings, env, {
    requireEnvFor: (c) => c.handler === HANDLER,
    check: (policy) =>
      Object.values(policy.components)
        .filter((c) => c.handler === HANDLER)
        .flatMap((c) => [
          ...(c.env['token'] ? [] : [`${policy.file}: components.${c.name}.env.token: must name the environment variable holding the Slack bot token (xoxb-…)`]),
          ...(SlackComponentConfig.safeParse(c.config).error?.issues.map((i) => `${policy.file}: components.${c.name}.config.${i.path.join('.')}: ${i.message}`) ?? []),
        ]),
  });
}

/** One client per `slack` component that some job uses: its token from env, its api_url from this service's config.yml. */
function slackClients(policy: Policy, env: Record<string, string | undefined>, settings: NotifierSlackSettings, log: Logger): Map<string, SlackClient> {
  const used = new Set(policy.jobs.flatMap((j) => j.notifiers.filter((n) => n.handler === HANDLER).map((n) => n.name)));
  const clients = new Map<string, SlackClient>();
  for (const name of used) {
    const component = policy.components[name];
    if (!component) continue;
    const secrets = componentSecrets(component, env);
    const config = SlackComponentConfig.parse(component.config);
    clients.set(
      name,
      createSlackClient({
        token: secrets['token'] ?? '',
        // A token only goes where this service's own config.yml says, never to a URL taken from an event.
        baseUrl: config.api_url,
        timeoutMs: settings.NOTIFIER_SLACK_TIMEOUT_SECONDS * 1000,
        settings: { token: `components.${name}.env.token (${component.env['token'] ?? '?'})`, channels: `components.${name}.config.channels` },
        log,
      }),
    );
  }
  return clients;
}

export async function startNotifierSlack(env: Record<string, string | undefined>, opts: StartOptions = {}): Promise<RunningService> {
  const { settings, policy } = readNotifierSlackConfig(env);
  const rt = await startRuntime('notifier-slack', settings, opts);
  const { log, metrics, nats, stream } = rt;
  try {
    const clients = slackClients(policy, env, settings, log);
    if (settings.RESULTS_PUBLIC_URL && !settings.SECBOT_LINK_SIGNING_KEY) {
      log.warn('SECBOT_LINK_SIGNING_KEY is not set: links to check details are not signed, so people need a credential to open them');
    }
    const publisher = createPublisher({ js: nats.js, stream, metrics });
    const memory = await kvNotifierMemory(nats.js, {
      bucket: `${stream.name}_notifier_slack`,
      postedBucket: `${stream.name}_notifier_slack_posted`,
      postedTtlMs: settings.NOTIFIER_SLACK_POSTED_TTL_DAYS * 86_400_000,
      replicas: stream.replicas,
    });
    const subscription = await subscribe({
      nats,
      stream,
      durable: 'notifier-slack',
      events: [OutputCompletedV1],
      log,
      metrics,
      maxDeliver: settings.NOTIFIER_SLACK_MAX_DELIVER,
      ...(opts.backoffMs ? { backoffMs: opts.backoffMs } : {}),
      handle: async (event, ctx) => {
        await handleOutputCompleted(event, {
          slackFor: (name) => clients.get(name),
          memory,
          publish: async (e) => void (await publisher.publish(NotifiedV1, e)),
          ...(settings.RESULTS_PUBLIC_URL ? { resultsUrl: settings.RESULTS_PUBLIC_URL } : {}),
          ...(settings.SECBOT_LINK_SIGNING_KEY ? { linkSigning: { key: settings.SECBOT_LINK_SIGNING_KEY, ttlDays: settings.SECBOT_LINK_TTL_DAYS } } : {}),
          now: () => new Date(),
          log: ctx.log,
        });
      },
    });
    return await serveSubscriber(rt, {
      port: opts.port ?? settings.NOTIFIER_SLACK_PORT,
      host: settings.SECBOT_LISTEN_HOST,
      stop: [() => subscription.stop()],
      logFields: { notifiers: [...clients.keys()] },
    });
  } catch (err) {
    await rt.close();
    throw err;
  }
}

export type { RunningService, StartOptions } from '@secbot/service-kit';
