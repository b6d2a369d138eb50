import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotifiedV1, OutputCompletedV1, type Finding, type PlannedComponent } from '@secbot/contracts';
import { createPublisher, verifyCheckLink } from '@secbot/service-kit';
import { aCheck, aFinding, aJobPlan, anOutputCompleted, captureLogs, eventually, fakeSlack, readStream, streamEnv, testNats, type FakeSlack, type TestNats } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNotifierSlack, type RunningService } from './service.ts';

const LINK_KEY = 'notifier-slack-test-link-key-0123456789';

const policy = (apiUrl: string) => `version: "1.0"
components:
  gitleaks: { handler_name: gitleaks }
  builtin: { handler_name: builtin }
  slack:
    handler_name: slack
    config: { render_limit: 10, channels: [security, alerts], api_url: "${apiUrl}" }
    env: { token: TEST_SLACK_TOKEN }
  slack-bad-token:
    handler_name: slack
    config: { channels: [security], api_url: "${apiUrl}" }
    env: { token: TEST_SLACK_BAD_TOKEN }
jobs:
  - name: Secrets
    rules: { gitlab: { event_type: push } }
    scans: [gitleaks]
    outputs: [builtin]
    notifications: [slack, slack-bad-token]
`;

describe('notifier-slack on JetStream', () => {
  let nats: TestNats;
  let slack: FakeSlack;
  let service: RunningService;
  let projectIds = 100;

  const component = (name: string, channels: string[], extra: Record<string, unknown> = {}): PlannedComponent => ({
    name,
    handler: 'slack',
    config: { channels, render_limit: 10, api_url: slack.apiUrl, ...extra },
  });
  /** A check in a project of its own, so each test starts with an empty project memory. */
  const aCheckNotifying = (notifiers: PlannedComponent[], projectId = ++projectIds) => {
    const check = aCheck({ job: aJobPlan({ notifiers }) });
    return { ...check, context: { ...check.context, project: { ...check.context.project, id: projectId } } };
  };
  const publish = async (event: OutputCompletedV1) => createPublisher({ js: nats.js, stream: nats.stream }).publish(OutputCompletedV1, event);
  const notifiedOf = async (checkId: string): Promise<NotifiedV1[]> =>
    (await readStream(nats, nats.stream))
      .filter((m) => m.subject === NotifiedV1.subject(nats.stream.prefix))
      .map((m) => NotifiedV1.schema.parse(m.json))
      .filter((e) => e.securityCheckId === checkId);
  const waitForNotified = (checkId: string, count: number, timeoutMs = 15_000) =>
    eventually(async () => {
      const list = await notifiedOf(checkId);
      return list.length >= count ? list : undefined;
    }, timeoutMs, `${count} notified events`);
  const messagesFor = (checkId: string) => slack.messages.filter((m) => JSON.stringify(m.blocks).includes(checkId.slice(0, 24)));

  beforeAll(async () => {
    nats = await testNats('slack');
    slack = await fakeSlack({
      token: 'xoxb-int-test',
      channels: [
        { id: 'C0SECURITY', name: 'security' },
        { id: 'C0ALERTS', name: 'alerts' },
        { id: 'C0PRIVATE', name: 'private', member: false },
      ],
    });
    const dir = mkdtempSync(join(tmpdir(), 'secbot-slack-'));
    writeFileSync(join(dir, 'config.yml'), policy(slack.apiUrl));
    service = await startNotifierSlack(
      {
        ...streamEnv(nats.stream),
        SECBOT_CONFIG: join(dir, 'config.yml'),
        TEST_SLACK_TOKEN: slack.token,
        TEST_SLACK_BAD_TOKEN: 'xoxb-revoked',
        RESULTS_PUBLIC_URL: 'https://secbot.example.com',
        SECBOT_LINK_SIGNING_KEY: LINK_KEY,
      },
      { port: 0, logDestination: captureLogs(), backoffMs: () => 200 },
    );
  });
  afterAll(async () => {
    await service?.close();
    await slack?.close();
    for (const bucket of [`KV_${nats.stream.name}_notifier_slack`, `KV_${nats.stream.name}_notifier_slack_posted`]) await nats?.jsm.streams.delete(bucket).catch(() => undefined);
    await nats?.cleanup();
  });

  it('serves /healthz, /readyz and /metrics', async () => {
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${service.url}/metrics`)).text()).toContain('secbot_messages_handled_total');
  });

  it('posts one message per channel, publishes notified for each, and posts nothing again on redelivery', async () => {
    const check = aCheckNotifying([component('slack', ['security', 'alerts'])]);
    const event = anOutputCompleted(check, { blocking: [aFinding({ fingerprint: 'fp-once' })] });

    await publish(event);
    const notified = await waitForNotified(check.securityCheckId, 2);
    // The same decision again (a republish after the duplicate window gets a new event id).
    await publish({ ...event, id: '00000000-0000-4000-8000-0000000000a1' });
    await new Promise((r) => setTimeout(r, 1500));

    expect(messagesFor(check.securityCheckId).map((m) => m.channelName).sort()).toEqual(['alerts', 'security']);
    expect(notified.map((n) => [n.data.target, n.data.status, n.data.findingsAnnounced]).sort()).toEqual([
      ['alerts', 'sent', 1],
      ['security', 'sent', 1],
    ]);
    expect(await notifiedOf(check.securityCheckId)).toHaveLength(2);
    const message = messagesFor(check.securityCheckId)[0];
    // The link opens the details without a credential: results accepts its `t` for this check.
    const link = new RegExp(`<(https://secbot\\.example\\.com/v1/security/gitlab/check/${check.securityCheckId}/details\\?t=[^|>]+)\\|`).exec(JSON.stringify(message?.blocks))?.[1];
    expect(link).toBeDefined();
    expect(verifyCheckLink(LINK_KEY, check.securityCheckId, new URL(link ?? 'http://missing/').searchParams.get('t') ?? '', new Date())).toMatchObject({ ok: true });
    expect(slack.requests.every((r) => r.authorization === undefined || r.authorization === `Bearer ${slack.token}` || r.authorization === 'Bearer xoxb-revoked')).toBe(true);
  });

  it('does not announce a fingerprint the project already announced, and says why in notified', async () => {
    const first = aCheckNotifying([component('slack', ['security'])]);
    const second = { ...aCheckNotifying([component('slack', ['security'])], first.context.project.id) };
    const finding = aFinding({ fingerprint: 'fp-seen-before' });

    await publish(anOutputCompleted(first, { blocking: [finding] }));
    await waitForNotified(first.securityCheckId, 1);
    await publish(anOutputCompleted(second, { blocking: [finding] }));
    const [notified] = await waitForNotified(second.securityCheckId, 1);

    expect(messagesFor(first.securityCheckId)).toHaveLength(1);
    expect(messagesFor(second.securityCheckId)).toHaveLength(0);
    expect(notified?.data).toMatchObject({ status: 'skipped', findingsAnnounced: 0, reason: 'every blocking finding was already announced for this project' });
  });

  it('announces a fingerprint that comes back after triage closed it as a regression', async () => {
    const first = aCheckNotifying([component('slack', ['security'])]);
    const later = aCheckNotifying([component('slack', ['security'])], first.context.project.id);
    const finding: Finding = aFinding({ fingerprint: 'fp-regression' });

    await publish(anOutputCompleted(first, { blocking: [finding] }));
    await waitForNotified(first.securityCheckId, 1);
    await publish(anOutputCompleted(first, { blocking: [], revision: 1 })); // marked false positive
    await waitForNotified(first.securityCheckId, 2);
    await publish(anOutputCompleted(later, { blocking: [finding] }));
    await waitForNotified(later.securityCheckId, 1);

    const [message] = messagesFor(later.securityCheckId);
    expect(JSON.stringify(message?.blocks)).toContain(':repeat: *regression*');
  });

  it('waits out 429s during a burst of 50 checks without blocking other work, and delivers every message exactly once', async () => {
    const checks = Array.from({ length: 50 }, () => aCheckNotifying([component('slack', ['security'])]));
    const ids = new Set(checks.map((c) => c.securityCheckId.slice(0, 24)));
    const burst = () => slack.messages.filter((m) => [...ids].some((id) => JSON.stringify(m.blocks).includes(id)));
    slack.rateLimit({ retryAfterSeconds: 1, forMs: 3000 });
    const before = slack.requests.filter((r) => r.status === 429).length;

    for (const [i, c] of checks.entries()) await publish(anOutputCompleted(c, { blocking: [aFinding({ fingerprint: `fp-burst-${i}` })] }));
    await eventually(() => (burst().length >= 50 ? true : undefined), 45_000, '50 messages');
    await new Promise((r) => setTimeout(r, 1500));

    expect(slack.requests.filter((r) => r.status === 429).length).toBeGreaterThan(before);
    expect(burst()).toHaveLength(50);
    const notified = (await readStream(nats, nats.stream))
      .filter((m) => m.subject === NotifiedV1.subject(nats.stream.prefix))
      .map((m) => NotifiedV1.schema.parse(m.json))
      .filter((e) => ids.has(e.securityCheckId.slice(0, 24)));
    expect(notified).toHaveLength(50);
    expect(notified.every((n) => n.data.status === 'sent')).toBe(true);
  });

  it('publishes notified error with an actionable reason for a rejected token or a missing channel, without retrying', async () => {
    const check = aCheckNotifying([component('slack-bad-token', ['security']), component('slack', ['no-such-channel', 'private'])]);

    await publish(anOutputCompleted(check, { blocking: [aFinding({ fingerprint: 'fp-errors' })] }));
    const notified = await waitForNotified(check.securityCheckId, 3);
    await new Promise((r) => setTimeout(r, 1000));

    const byTarget = Object.fromEntries(notified.map((n) => [`${n.data.notifier}:${n.data.target}`, n.data]));
    expect(byTarget['slack-bad-token:security']).toMatchObject({ status: 'error' });
    expect(byTarget['slack-bad-token:security']?.reason).toContain('invalid_auth');
    expect(byTarget['slack-bad-token:security']?.reason).toContain('TEST_SLACK_BAD_TOKEN');
    expect(byTarget['slack:no-such-channel']?.reason).toContain('channel_not_found');
    expect(byTarget['slack:private']?.reason).toContain('/invite');
    expect(JSON.stringify(notified)).not.toContain('xoxb-revoked');
    expect(await notifiedOf(check.securityCheckId)).toHaveLength(3);
    expect(slack.requests.filter((r) => r.error === 'invalid_auth')).toHaveLength(1);
  });

  it('stays silent when nothing blocks', async () => {
    const check = aCheckNotifying([component('slack', ['security'])]);

    await publish(anOutputCompleted(check, { blocking: [] }));
    const [notified] = await waitForNotified(check.securityCheckId, 1);

    expect(notified?.data).toMatchObject({ status: 'skipped', reason: 'nothing blocks' });
    expect(messagesFor(check.securityCheckId)).toHaveLength(0);
  });
});
