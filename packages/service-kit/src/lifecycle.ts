import type { Logger } from './logger.ts';

/** Runs the closers in order on SIGINT/SIGTERM, then exits; a second signal exits at once. */
export function onShutdown(log: Logger, closers: Array<() => Promise<void>>): void {
  let closing = false;
  const stop = async (signal: string) => {
    if (closing) process.exit(1);
    closing = true;
    log.info({ signal }, 'Shutting down');
    for (const close of closers) {
      try {
        await close();
      } catch (err) {
        log.error({ err: (err as Error).message }, 'Error while shutting down');
      }
    }
    log.flush();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

/** Prints a start-up failure (every problem, no stack for config errors) and exits non-zero. */
export function failStartup(service: string, err: unknown): never {
  const e = err as Error;
  const text = e.name === 'ConfigError' ? e.message : (e.stack ?? String(e));
  process.stderr.write(`${service} cannot start: ${text}\n`);
  process.exit(1);
}
