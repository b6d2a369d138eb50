import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RetryableError } from '@secbot/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withFileLock } from './file-lock.ts';

describe('withFileLock', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lock-test-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lets one holder in at a time', async () => {
    const path = join(dir, 'a.lock');
    let inside = 0;
    let maxInside = 0;

    await Promise.all(
      Array.from({ length: 8 }, () =>
        withFileLock(path, { waitMs: 10_000, staleMs: 5_000 }, async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await new Promise((r) => setTimeout(r, 20));
          inside--;
        }),
      ),
    );

    expect(maxInside).toBe(1);
  });

  it('takes over a stale lock left by a killed process', async () => {
    const path = join(dir, 'b.lock');
    await writeFile(path, 'someone 1 long ago\n');
    const old = new Date(Date.now() - 120_000);
    await utimes(path, old, old);

    await expect(withFileLock(path, { waitMs: 1_000, staleMs: 60_000 }, () => Promise.resolve('ran'))).resolves.toBe('ran');
  });

  it('gives up with a retryable error while a live holder keeps it', async () => {
    const path = join(dir, 'c.lock');
    await writeFile(path, 'someone else\n');

    await expect(withFileLock(path, { waitMs: 300, staleMs: 60_000 }, () => Promise.resolve('ran'))).rejects.toBeInstanceOf(RetryableError);
    await rm(path);
  });
});
