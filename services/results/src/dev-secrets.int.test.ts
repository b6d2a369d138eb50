// results as `docker compose` would have run it before: the repository's .env.dev loaded from the working
// directory. Outside development it must refuse to start, naming the setting (never its value).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnvFile } from '@secbot/service-kit';
import { freePort, spawnService, streamEnv, TEST_POSTGRES_DSN, testNats, waitForReady, type TestNats } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchemas } from './adapters/postgres/database.ts';

const repo = new URL('../../../', import.meta.url).pathname;
const envDev = parseEnvFile(readFileSync(join(repo, '.env.dev'), 'utf8'));
const devApiToken = envDev['SECBOT_API_TOKEN'] ?? 'dev-secbot-api-token-change-me';

describe('results with the development secrets of .env.dev', () => {
  let nats: TestNats;
  const schema = `t_devsecrets_${Date.now().toString(36)}`;

  beforeAll(async () => {
    nats = await testNats('devsecrets');
  });
  afterAll(async () => {
    await dropSchemas(TEST_POSTGRES_DSN, [schema]).catch(() => undefined);
    await nats?.cleanup();
  });

  const env = async (secbotEnv: string) => ({
    ...streamEnv(nats.stream),
    // Everything else comes from the repository's .env.dev (spawnService runs in the repository root).
    SECBOT_ENV: secbotEnv,
    SECBOT_API_TOKEN: devApiToken,
    SECBOT_POSTGRES_DSN: TEST_POSTGRES_DSN,
    SECBOT_DB_SCHEMA: schema,
    RESULTS_PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
  });

  it('refuses to start with SECBOT_ENV=production, naming SECBOT_API_TOKEN and not printing it', async () => {
    const proc = spawnService('results', await env('production'));
    const code = await Promise.race([proc.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 30_000))]);
    await proc.stop('SIGKILL');
    const out = proc.output();
    expect(code, out).toBe(1);
    expect(out).toMatch(/results cannot start: SecBot results configuration is invalid/);
    expect(out).toMatch(/- SECBOT_API_TOKEN: is the development value from \.env\.dev/);
    expect(out).not.toContain(devApiToken);
  }, 40_000);

  it('starts with the same settings and SECBOT_ENV=development', async () => {
    const e = await env('development');
    const proc = spawnService('results', e);
    try {
      await waitForReady(`http://127.0.0.1:${e.RESULTS_PORT}/readyz`, proc, 30_000);
    } finally {
      await proc.stop();
    }
  }, 40_000);
});
