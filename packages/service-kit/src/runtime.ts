import type { StreamSettings } from '@secbot/contracts';
import { createHttpServer } from './http-server.ts';
import { createLogger, type DestinationStream, type Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { refuseDevSecrets } from './dev-secrets.ts';
import { closeNats, connectNats, ensureStream, natsAuthFrom, type Nats } from './nats.ts';
import { streamSettingsFrom, type CommonSettings } from './settings.ts';
import { startTracing, type Tracing } from './tracing.ts';

/** What every service starts with: its logger, metrics, tracing, the NATS connection and the event stream. */
export interface ServiceRuntime {
  service: string;
  log: Logger;
  metrics: Metrics;
  tracing: Tracing;
  stream: StreamSettings;
  nats: Nats;
  /** A readiness check for /readyz: NATS answers a round trip. */
  natsReady: () => Promise<void>;
  /** Closes NATS (draining) and flushes traces; call after the service's own closers. */
  close(): Promise<void>;
}

export async function startRuntime(
  service: string,
  settings: CommonSettings,
  opts: { logDestination?: DestinationStream } = {},
): Promise<ServiceRuntime> {
  // Before anything else: a service never runs with the public secrets of .env.dev outside development.
  refuseDevSecrets(service, settings);
  const auth = natsAuthFrom(settings);
  const log = createLogger({ service, level: settings.LOG_LEVEL, destination: opts.logDestination });
  const tracing = startTracing(`secbot-${service}`, settings.OTEL_TRACES_EXPORTER);
  const metrics = createMetrics(service);
  const stream = streamSettingsFrom(settings);
  const nats = await connectNats(settings.SECBOT_NATS_URL, `secbot-${service}`, log, auth);
  await ensureStream(nats.jsm, stream, { log });
  return {
    service,
    log,
    metrics,
    tracing,
    stream,
    nats,
    natsReady: async () => void (await nats.nc.flush()),
    async close() {
      await closeNats(nats);
      await tracing.shutdown();
    },
  };
}

/** What starting a service returns: where it listens, its logger, and how to stop it cleanly. */
export interface RunningService {
  url: string;
  log: Logger;
  close(): Promise<void>;
}

/** What tests (and `make up`) may change when starting a service in-process. */
export interface StartOptions {
  /** 0 picks a free port. */
  port?: number;
  logDestination?: DestinationStream;
  /** Redelivery backoff of the service's subscriptions; tests shorten it. */
  backoffMs?: (deliveryCount: number) => number;
}

/**
 * A subscriber service's HTTP side (/healthz, /readyz, /metrics) on `port`, and the RunningService that stops
 * it in order: the HTTP server, then the service's own parts (`stop`, e.g. its subscriptions), then the runtime.
 */
export async function serveSubscriber(
  rt: ServiceRuntime,
  opts: { port: number; host: string; stop: Array<() => Promise<void>>; logFields?: Record<string, unknown> },
): Promise<RunningService> {
  const app = await createHttpServer({ service: rt.service, log: rt.log, metrics: rt.metrics, readiness: { nats: rt.natsReady } });
  const url = await app.listen({ port: opts.port, host: opts.host });
  rt.log.info({ url, ...opts.logFields }, 'Service running');
  return {
    url,
    log: rt.log,
    async close() {
      await app.close();
      for (const stop of opts.stop) await stop();
      await rt.close();
    },
  };
}
