import { randomBytes } from 'node:crypto';
import { open, rename, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { RetryableError } from '@secbot/service-kit';

export interface FileLockOptions {
  /** Give up (RetryableError) after waiting this long for another holder. */
  waitMs: number;
  /** A lock whose file was not touched for this long is a crashed holder's and is taken over. */
  staleMs: number;
}

/**
 * Runs `fn` while holding `<path>`: created with O_EXCL, so it works across processes and across replicas
 * that share a volume. The holder touches the file while it works; a lock left by a killed process goes
 * stale and is taken over.
 */
export async function withFileLock<T>(path: string, opts: FileLockOptions, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + opts.waitMs;
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${hostname()} ${process.pid} ${new Date().toISOString()}\n`);
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const age = await stat(path).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > opts.staleMs) {
      // Rename first: of two processes taking over the same stale lock, only one rename succeeds.
      const aside = `${path}.stale-${randomBytes(4).toString('hex')}`;
      if (await rename(path, aside).then(() => true, () => false)) await unlink(aside).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) throw new RetryableError(`Another scan has held ${path} for ${Math.round(age / 1000)} s; will retry.`);
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
  }
  const heartbeat = setInterval(() => {
    const now = new Date();
    void utimes(path, now, now).catch(() => undefined);
  }, Math.max(100, Math.floor(opts.staleMs / 4)));
  try {
    return await fn();
  } finally {
    clearInterval(heartbeat);
    await unlink(path).catch(() => undefined);
  }
}
