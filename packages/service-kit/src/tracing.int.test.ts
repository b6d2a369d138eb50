import { EventReceivedV1 } from '@secbot/contracts';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { aCheck, anEventReceived, eventually, testNats } from '@secbot/testing';
import { expect, it } from 'vitest';
import { createLogger } from './logger.ts';
import { createPublisher } from './publish.ts';
import { subscribe } from './subscribe.ts';
import { startTracing } from './tracing.ts';

it('carries the W3C trace context through NATS headers, so one trace follows a check across services', async () => {
  const exporter = new InMemorySpanExporter();
  const tracing = startTracing('secbot-test', 'none', [new SimpleSpanProcessor({ exporter })]);
  const nats = await testNats('tracing');
  const c = aCheck();
  let headerSeen: string | undefined;
  const sub = await subscribe({
    nats,
    stream: nats.stream,
    durable: 'tracing',
    events: [EventReceivedV1],
    log: createLogger({ service: 'test', level: 'silent' }),
    handle: async () => {},
  });
  try {
    await createPublisher({ js: nats.js, stream: nats.stream }).publish(EventReceivedV1, anEventReceived(c));
    const msg = await nats.jsm.streams.getMessage(nats.stream.name, { last_by_subj: EventReceivedV1.subject(nats.stream.prefix) });
    headerSeen = msg?.header.get('traceparent');
    const spans = await eventually(() => {
      const s = exporter.getFinishedSpans();
      return s.some((x) => x.name.startsWith('process ')) ? s : undefined;
    });

    const producer = spans.find((s) => s.name.startsWith('publish '))!;
    const consumer = spans.find((s) => s.name.startsWith('process '))!;
    expect(headerSeen).toMatch(new RegExp(`^00-${producer.spanContext().traceId}-[0-9a-f]{16}-01$`));
    expect(consumer.spanContext().traceId).toBe(producer.spanContext().traceId);
    expect(consumer.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
  } finally {
    await sub.stop();
    await nats.cleanup();
    await tracing.shutdown();
  }
});
