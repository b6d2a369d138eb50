import {
  createGitLabJobsClient,
  createHttpServer,
  createPublisher,
  readServiceConfig,
  startRuntime,
  type DestinationStream,
  type RunningService,
} from '@secbot/service-kit';
import { IntakeSettings } from './config.ts';
import { registerWebhookRoute } from './webhook-route.ts';
import { registerCiCheckRoute } from './ci-check-route.ts';

/** Reads every setting and the policy first and reports all problems together. */
export function readIntakeConfig(env: Record<string, string | undefined>) {
  // Intake owns the policy, but holds only its own secrets (GITLAB_CONFIGS): each component's service checks
  // that its secrets are set when it starts (output-defectdojo, notifier-slack), so intake never sees them.
  return readServiceConfig('intake', IntakeSettings, env);
}

export async function startIntake(
  env: Record<string, string | undefined>,
  opts: { port?: number; logDestination?: DestinationStream } = {},
): Promise<RunningService> {
  const { settings, policy } = readIntakeConfig(env);
  const rt = await startRuntime('intake', settings, opts);
  const { log, metrics } = rt;
  const publisher = createPublisher({ js: rt.nats.js, stream: rt.stream, metrics });

  const app = await createHttpServer({
    service: 'intake',
    log,
    metrics,
    bodyLimit: settings.INTAKE_BODY_LIMIT_BYTES,
    readiness: { nats: rt.natsReady },
    openapi: {
      title: 'SecBot intake',
      description: 'Receives GitLab hooks and starts security checks.',
      version: '1.0.0',
    },
  });
  registerWebhookRoute(app, { instances: settings.GITLAB_CONFIGS, policy, publisher, log });
  registerCiCheckRoute(app, { instances: settings.GITLAB_CONFIGS, policy, publisher, gitlab: createGitLabJobsClient(), log });
  const address = await app.listen({ port: opts.port ?? settings.INTAKE_PORT, host: settings.SECBOT_LISTEN_HOST });
  log.info({ url: address, docs: `${address}/docs`, jobs: policy.jobs.map((j) => j.name) }, 'Intake listening');

  return {
    url: address,
    log,
    async close() {
      await app.close();
      await rt.close();
    },
  };
}

export type { RunningService } from '@secbot/service-kit';
