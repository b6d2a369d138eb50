import { OutputCompletedV1, ScanCompletedV1 } from '@secbot/contracts';
import {
  closeNats,
  CommonSettings,
  connectNats,
  createHttpServer,
  createLogger,
  createMetrics,
  createPublisher,
  ensureStream,
  readSettings,
  startTracing,
  streamSettingsFrom,
  subscribe,
  type DestinationStream,
  type Logger,
} from '@secbot/service-kit';
import { z } from 'zod';
import { decideBuiltin } from './decide.ts';

export const OutputBuiltinSettings = CommonSettings.extend({
  OUTPUT_BUILTIN_PORT: z.coerce.number().int().min(0).max(65535).default(5005),
});

export interface RunningService {
  url: string;
  log: Logger;
  close(): Promise<void>;
}

export async function startOutputBuiltin(
  env: Record<string, string | undefined>,
  opts: { port?: number; logDestination?: DestinationStream } = {},
): Promise<RunningService> {
  const settings = readSettings(OutputBuiltinSettings, env);
  const log = createLogger({ service: 'output-builtin', level: settings.LOG_LEVEL, destination: opts.logDestination });
  const tracing = startTracing('secbot-output-builtin', settings.OTEL_TRACES_EXPORTER);
  const metrics = createMetrics('output-builtin');
  const stream = streamSettingsFrom(settings);
  const nats = await connectNats(settings.SECBOT_NATS_URL, 'secbot-output-builtin', log);
  await ensureStream(nats.jsm, stream);
  const publisher = createPublisher({ js: nats.js, stream, metrics });
  const subscription = await subscribe({
    nats,
    stream,
    durable: 'output-builtin',
    events: [ScanCompletedV1],
    log,
    metrics,
    handle: async (scan, ctx) => {
      for (const decision of decideBuiltin(scan, new Date())) {
        await publisher.publish(OutputCompletedV1, decision);
        ctx.log.info({ output: decision.data.output, scan: decision.data.scan, blocking: decision.data.blocking.length }, 'Output decided');
      }
    },
  });
  const app = await createHttpServer({ service: 'output-builtin', log, metrics, readiness: { nats: async () => void (await nats.nc.flush()) } });
  const url = await app.listen({ port: opts.port ?? settings.OUTPUT_BUILTIN_PORT, host: settings.SECBOT_LISTEN_HOST });
  log.info({ url }, 'Output builtin running');
  return {
    url,
    log,
    async close() {
      await app.close();
      await subscription.stop();
      await closeNats(nats);
      await tracing.shutdown();
    },
  };
}
