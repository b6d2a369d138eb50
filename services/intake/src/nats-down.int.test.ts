import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureLogs, gitlabFixture, startPrivateNatsServer, uniqueStream } from '@secbot/testing';
import { expect, it } from 'vitest';
import { startIntake } from './service.ts';

it('answers 503 and starts nothing while JetStream cannot store the event', async () => {
  const nats = await startPrivateNatsServer();
  const dir = mkdtempSync(join(tmpdir(), 'secbot-intake-'));
  writeFileSync(
    join(dir, 'config.yml'),
    'version: "1.0"\ncomponents:\n  g: { handler_name: gitleaks }\n  b: { handler_name: builtin }\njobs:\n  - { name: all, rules: { gitlab: { event_type: push } }, scans: [g], outputs: [b] }\n',
  );
  const stream = uniqueStream('down');
  const service = await startIntake(
    {
      SECBOT_NATS_URL: nats.url,
      SECBOT_STREAM: stream.name,
      SECBOT_SUBJECT_PREFIX: stream.prefix,
      SECBOT_CONFIG: join(dir, 'config.yml'),
      GITLAB_CONFIGS: JSON.stringify([{ host: 'http://example.com/', webhook_secret_token: 'down-test-secret', auth_token: 't', prefix: 'GIT_LOCAL', insecure: true }]),
    },
    { port: 0, logDestination: captureLogs() },
  );
  const send = () =>
    fetch(`${service.url}/v1/gitlab/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-gitlab-token': 'down-test-secret', 'x-gitlab-event': 'System Hook' },
      body: JSON.stringify(gitlabFixture('docs_system_hook_push')),
    });
  try {
    expect((await send()).status).toBe(202);

    await nats.stop();
    const res = await send();

    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(((await res.json()) as { message: string }).message).toMatch(/did not store the event/);
    const ready = await fetch(`${service.url}/readyz`);
    expect(ready.status).toBe(503);
  } finally {
    await Promise.race([service.close(), new Promise((r) => setTimeout(r, 2000))]);
    await nats.stop();
  }
}, 30_000);
