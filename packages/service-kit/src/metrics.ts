import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per service, so tests that start several services in one process keep them apart. */
export interface Metrics {
  registry: Registry;
  httpRequests: Histogram<'method' | 'route' | 'status'>;
  messagesHandled: Counter<'subject' | 'outcome'>;
  eventsPublished: Counter<'subject' | 'duplicate'>;
}

export function createMetrics(service: string, { defaults = true }: { defaults?: boolean } = {}): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (defaults) collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Histogram({
      name: 'secbot_http_request_duration_seconds',
      help: 'HTTP requests served, by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    messagesHandled: new Counter({
      name: 'secbot_messages_handled_total',
      help: 'JetStream messages handled, by outcome (ack, nak, term)',
      labelNames: ['subject', 'outcome'],
      registers: [registry],
    }),
    eventsPublished: new Counter({
      name: 'secbot_events_published_total',
      help: 'Events published and acknowledged by JetStream',
      labelNames: ['subject', 'duplicate'],
      registers: [registry],
    }),
  };
}
