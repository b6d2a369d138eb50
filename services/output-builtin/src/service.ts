import { OutputCompletedV1, ScanCompletedV1 } from '@secbot/contracts';
import {
  CommonSettings,
  serveSubscriber,
  createPublisher,
  readSettings,
  startRuntime,
  subscribe,
  type DestinationStream,
  type RunningService,
} from '@secbot/service-kit';
import { z } from 'zod';
import { decideBuiltin } from './decide.ts';

export const OutputBuiltinSettings = CommonSettings.extend({
  OUTPUT_BUILTIN_PORT: z.coerce.number().int().min(0).max(65535).default(5005),
});

export async function startOutputBuiltin(
  env: Record<string, string | undefined>,
  opts: { port?: number; logDestination?: DestinationStream } = {},
): Promise<RunningService> {
  const settings = readSettings(OutputBuiltinSettings, env);
  const rt = await startRuntime('output-builtin', settings, opts);
  const { log, metrics, nats, stream } = rt;
  const publisher = createPublisher({ js: nats.js, stream, metrics });
  const subscription = await subscribe({
    nats,
    stream,
    durable: 'output-builtin',
    events: [ScanCompletedV1],
    log,
    metrics,
    handle: async (scan, ctx) => {
      for (const decision of decideBuiltin(scan, new Date(), ctx.streamSequence)) {
        await publisher.publish(OutputCompletedV1, decision);
        ctx.log.info({ output: decision.data.output, scan: decision.data.scan, blocking: decision.data.blocking.length }, 'Output decided');
      }
    },
  });
  return serveSubscriber(rt, { port: opts.port ?? settings.OUTPUT_BUILTIN_PORT, host: settings.SECBOT_LISTEN_HOST, stop: [() => subscription.stop()] });
}

export type { RunningService } from '@secbot/service-kit';
