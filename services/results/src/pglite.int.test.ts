import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventReceivedV1 } from '@secbot/contracts';
import { createPublisher } from '@secbot/service-kit';
import { aCheck, anEventReceived, captureLogs, streamEnv, testNats, type TestNats } from '@secbot/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startResults } from './service.ts';

let nats: TestNats;
const dir = mkdtempSync(join(tmpdir(), 'secbot-pglite-'));

beforeAll(async () => {
  nats = await testNats('pglite');
});
afterAll(async () => {
  await nats?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

it('runs the same migrations and projection on the embedded PGlite database, and keeps it across restarts', async () => {
  const env = { ...streamEnv(nats.stream), SECBOT_DB_DRIVER: 'pglite', SECBOT_PGLITE_DIR: join(dir, 'db') };
  const c = aCheck();
  await createPublisher({ js: nats.js, stream: nats.stream }).publish(EventReceivedV1, anEventReceived(c));

  const first = await startResults(env, { port: 0, logDestination: captureLogs() });
  await first.caughtUp(20_000);
  await first.close();
  const second = await startResults(env, { port: 0, logDestination: captureLogs() });
  const body = (await (await fetch(`${second.url}/v1/security/gitlab/check/${c.securityCheckId}`)).json()) as { status: string };
  await second.close();

  expect(body.status).toBe('in_progress');
}, 60_000);
