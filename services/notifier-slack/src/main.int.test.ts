import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutputCompletedV1 } from '@secbot/contracts';
import { createPublisher } from '@secbot/service-kit';
import { aCheck, aFinding, aJobPlan, anOutputCompleted, eventually, fakeSlack, spawnService, streamEnv, testNats, waitForReady, type FakeSlack, type ServiceProcess, type TestNats } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const policy = (apiUrl: string) => `version: "1.0"
components:
  gitleaks: { handler_name: gitleaks }
  builtin: { handler_name: builtin }
  slack:
    handler_name: slack
    config: { channels: [security], api_url: "${apiUrl}" }
    env: { token: SLACK_TOKEN }
jobs:
  - name: Secrets
    rules: { gitlab: { event_type: push } }
    scans: [gitleaks]
    outputs: [builtin]
    notifications: [slack]
`;

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });

describe('notifier-slack as a process (main.ts)', () => {
  let nats: TestNats;
  let slack: FakeSlack;
  let proc: ServiceProcess;
  let dir: string;

  beforeAll(async () => {
    nats = await testNats('slackmain');
    slack = await fakeSlack({ token: 'xoxb-process-test' });
    dir = mkdtempSync(join(tmpdir(), 'secbot-slack-main-'));
    writeFileSync(join(dir, 'config.yml'), policy(slack.apiUrl));
    const port = await freePort();
    proc = spawnService('notifier-slack', {
      ...streamEnv(nats.stream),
      SECBOT_ENV_DIR: dir,
      SECBOT_CONFIG: join(dir, 'config.yml'),
      SLACK_TOKEN: slack.token,
      NOTIFIER_SLACK_PORT: String(port),
    });
    await waitForReady(`http://127.0.0.1:${port}/readyz`, proc);
  });
  afterAll(async () => {
    await proc?.stop();
    await slack?.close();
    for (const bucket of [`KV_${nats.stream.name}_notifier_slack`, `KV_${nats.stream.name}_notifier_slack_posted`]) await nats?.jsm.streams.delete(bucket).catch(() => undefined);
    await nats?.cleanup();
  });

  it('posts a blocking finding to the configured channel and never prints the token', async () => {
    const check = aCheck({ job: aJobPlan({ notifiers: [{ name: 'slack', handler: 'slack', config: { channels: ['security'] } }] }) });

    await createPublisher({ js: nats.js, stream: nats.stream }).publish(OutputCompletedV1, anOutputCompleted(check, { blocking: [aFinding()] }));

    const message = await eventually(() => slack.messages[0], 20_000, 'a Slack message');
    expect(message.channelName).toBe('security');
    expect(proc.output()).not.toContain('xoxb-process-test');
  });

  it('refuses to start without the token variable, naming it', async () => {
    const failing = spawnService('notifier-slack', { ...streamEnv(nats.stream), SECBOT_ENV_DIR: dir, SECBOT_CONFIG: join(dir, 'config.yml'), SLACK_TOKEN: '', NOTIFIER_SLACK_PORT: '0' });

    const code = await failing.exited;

    expect(code).toBe(1);
    expect(failing.output()).toContain('components.slack.env.token: environment variable SLACK_TOKEN is not set');
  });
});
