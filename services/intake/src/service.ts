import {
  createAuthFailureLimiter,
  createGitLabJobsClient,
  createHttpServer,
  createPublisher,
  readServiceConfig,
  startRuntime,
  type DestinationStream,
  type HttpServer,
  type RunningService,
} from '@secbot/service-kit';
import { IntakeSettings } from './config.ts';
import { registerJsonParser, registerWebhookRoute } from './webhook-route.ts';
import { registerCiCheckRoute } from './ci-check-route.ts';

/** Reads every setting and the policy first and reports all problems together. */
export function readIntakeConfig(env: Record<string, string | undefined>) {
  // Intake owns the policy, but holds only its own secrets (GITLAB_CONFIGS): each component's service checks
  // that its secrets are set when it starts (output-defectdojo, notifier-slack), so intake never sees them.
  return readServiceConfig('intake', IntakeSettings, env);
}

export interface RunningIntake extends RunningService {
  /** The HTTP server, for in-process requests (`app.inject`) and its route list in tests. */
  app: HttpServer;
}

export async function startIntake(
  env: Record<string, string | undefined>,
  opts: { port?: number; logDestination?: DestinationStream } = {},
): Promise<RunningIntake> {
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
    trustProxy: settings.INTAKE_TRUSTED_PROXIES,
    openapi: {
      title: 'SecBot intake',
      description: 'Receives GitLab hooks and starts security checks.',
      version: '1.0.0',
    },
  });
  // One budget of failed authentications per client for both routes that ask for a credential.
  const authFailures = createAuthFailureLimiter({ perMinute: settings.INTAKE_AUTH_FAILURES_PER_MINUTE });
  registerJsonParser(app);
  registerWebhookRoute(app, { instances: settings.GITLAB_CONFIGS, policy, publisher, log, authFailures });
  registerCiCheckRoute(app, { instances: settings.GITLAB_CONFIGS, policy, publisher, gitlab: createGitLabJobsClient(), log, authFailures });
  const address = await app.listen({ port: opts.port ?? settings.INTAKE_PORT, host: settings.SECBOT_LISTEN_HOST });
  log.info({ url: address, docs: `${address}/docs`, jobs: policy.jobs.map((j) => j.name) }, 'Intake listening');

  return {
    url: address,
    app,
    log,
    async close() {
      await app.close();
      await rt.close();
    },
  };
}

export type { RunningService } from '@secbot/service-kit';
