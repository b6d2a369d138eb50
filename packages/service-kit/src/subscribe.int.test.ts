import { EventReceivedV1 } from '@secbot/contracts';
import { aCheck, anEventReceived, captureLogs, eventually, testNats, type TestNats } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RetryableError, TerminalError } from './errors.ts';
import { createLogger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { createPublisher, type Publisher } from './publish.ts';
import { subscribe, type Subscription } from './subscribe.ts';

let nats: TestNats;
let publisher: Publisher;
const subs: Subscription[] = [];

beforeAll(async () => {
  nats = await testNats('subscribe');
  publisher = createPublisher({ js: nats.js, stream: nats.stream });
});
afterAll(async () => {
  for (const s of subs) await s.stop();
  await nats?.cleanup();
});

/** Subscribes a fresh durable that only sees events of one check, and records every delivery. */
async function deliveries(
  check: ReturnType<typeof aCheck>,
  behave: (deliveryCount: number) => void,
  opts: { maxDeliver?: number } = {},
) {
  const seen: number[] = [];
  const logs = captureLogs();
  const metrics = createMetrics('test', { defaults: false });
  const sub = await subscribe({
    nats,
    stream: nats.stream,
    durable: `d-${check.sha.slice(-8)}`,
    events: [EventReceivedV1],
    log: createLogger({ service: 'test', level: 'info', destination: logs }),
    metrics,
    maxDeliver: opts.maxDeliver ?? 4,
    backoffMs: () => 50,
    handle: (event, ctx) => {
      if (event.securityCheckId !== check.securityCheckId) return Promise.resolve();
      seen.push(ctx.deliveryCount);
      behave(ctx.deliveryCount);
      return Promise.resolve();
    },
  });
  subs.push(sub);
  return { seen, logs, metrics };
}

const settle = () => new Promise((r) => setTimeout(r, 600));

describe('subscribe decides every message’s fate in one place', () => {
  it('acks a handled message: it is not delivered again', async () => {
    const c = aCheck();
    const { seen } = await deliveries(c, () => {});

    await publisher.publish(EventReceivedV1, anEventReceived(c));
    await eventually(() => (seen.length ? true : undefined));
    await settle();

    expect(seen).toEqual([1]);
  });

  it('naks a RetryableError with backoff and succeeds on a later delivery', async () => {
    const c = aCheck();
    const { seen } = await deliveries(c, (n) => {
      if (n < 3) throw new RetryableError('GitLab answered 503');
    });

    await publisher.publish(EventReceivedV1, anEventReceived(c));
    await eventually(() => (seen.length >= 3 ? true : undefined));
    await settle();

    expect(seen).toEqual([1, 2, 3]);
  });

  it('terms a TerminalError at once', async () => {
    const c = aCheck();
    const { seen, logs } = await deliveries(c, () => {
      throw new TerminalError('GitLab rejected the token (401)');
    });

    await publisher.publish(EventReceivedV1, anEventReceived(c));
    await eventually(() => (seen.length ? true : undefined));
    await settle();

    expect(seen).toEqual([1]);
    expect(logs.text()).toContain('GitLab rejected the token (401)');
    // The server took the termination (nats-server 2.9 ignores a term that carries a reason): nothing waits
    // for a redelivery at the end of the 30 s ack wait.
    await eventually(async () => ((await nats.jsm.consumers.info(nats.stream.name, `d-${c.sha.slice(-8)}`)).num_ack_pending === 0 ? true : undefined), 5000, 'no message pending');
  });

  it('gives up after maxDeliver attempts of an unknown error, and says so once', async () => {
    const c = aCheck();
    const { seen, logs, metrics } = await deliveries(c, () => {
      throw new Error('boom');
    }, { maxDeliver: 3 });

    await publisher.publish(EventReceivedV1, anEventReceived(c));
    await eventually(() => (seen.length >= 3 ? true : undefined));
    await settle();

    expect(seen).toEqual([1, 2, 3]);
    expect(logs.lines.filter((l) => l.includes('gave up after the last delivery'))).toHaveLength(1);
    expect(await metrics.registry.getSingleMetricAsString('secbot_messages_handled_total')).toMatch(/outcome="term"[^\n]* 1/);
  });

  it('terms a payload that does not match its schema without calling the handler', async () => {
    const c = aCheck();
    const { seen, logs } = await deliveries(c, () => {});

    await nats.js.publish(EventReceivedV1.subject(nats.stream.prefix), JSON.stringify({ ...anEventReceived(c), version: 7 }));
    await eventually(() => (logs.text().includes('Invalid event payload') ? true : undefined));
    await settle();

    expect(seen).toEqual([]);
  });
});
