import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace';
import type { MsgHdrs } from '@nats-io/nats-core';

export interface Tracing {
  shutdown(): Promise<void>;
}

/**
 * Starts OpenTelemetry once per process. Off by default (`none`): spans are no-ops and nothing is exported.
 * `otlp` reads the standard OTEL_EXPORTER_OTLP_* variables; tests pass their own span processor.
 */
export function startTracing(
  service: string,
  exporter: 'none' | 'console' | 'otlp',
  extraProcessors: SpanProcessor[] = [],
): Tracing {
  const processors: SpanProcessor[] = [...extraProcessors];
  if (exporter === 'console') processors.push(new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() }));
  if (exporter === 'otlp') processors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter() }));
  if (processors.length === 0) return { shutdown: async () => {} };
  const sdk = new NodeSDK({
    serviceName: service,
    spanProcessors: processors,
    textMapPropagator: new W3CTraceContextPropagator(),
    instrumentations: [],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}

const setter: TextMapSetter<MsgHdrs> = { set: (h, k, v) => h.set(k, v) };
const getter: TextMapGetter<MsgHdrs | undefined> = {
  get: (h, k) => h?.get(k) || undefined,
  keys: (h) => (h ? [...h.keys()] : []),
};

const tracer = () => trace.getTracer('secbot');

/** Runs `fn` in a PRODUCER span and writes its W3C trace context into the NATS headers. */
export async function withPublishSpan<T>(subject: string, headers: MsgHdrs, fn: () => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(`publish ${subject}`, { kind: SpanKind.PRODUCER }, async (span) => {
    propagation.inject(context.active(), headers, setter);
    try {
      return await fn();
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Runs `fn` in a CONSUMER span whose parent is the trace context found in the message headers. */
export async function withConsumeSpan<T>(subject: string, headers: MsgHdrs | undefined, fn: () => Promise<T>): Promise<T> {
  const parent: Context = propagation.extract(ROOT_CONTEXT, headers, getter);
  return tracer().startActiveSpan(`process ${subject}`, { kind: SpanKind.CONSUMER }, parent, async (span) => {
    try {
      return await fn();
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The current trace id, for log lines; undefined when tracing is off. */
export function currentTraceId(): string | undefined {
  const ctx = trace.getSpanContext(context.active());
  return ctx && ctx.traceId !== '00000000000000000000000000000000' ? ctx.traceId : undefined;
}
