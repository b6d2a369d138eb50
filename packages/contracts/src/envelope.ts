import { createHash } from 'node:crypto';
import { z } from 'zod';
import { SecurityCheckIdSchema } from './check-id.ts';

/** Fields every SecBot event carries, whatever its type. */
export const EnvelopeBase = z.object({
  /** Unique per event; doubles as the JetStream `Nats-Msg-Id`, so a republished event is deduplicated. */
  id: z.uuid(),
  type: z.string(),
  version: z.number().int().positive(),
  occurredAt: z.iso.datetime({ offset: true }),
  /** The GitLab delivery that started the check; carried through every event, log line and request. */
  correlationId: z.string().min(1).max(200),
  securityCheckId: SecurityCheckIdSchema,
  /** The service that published the event, e.g. `intake`. */
  source: z.string().min(1),
});

/** Envelope of events that are not about one check (e.g. an exception): no securityCheckId. */
export const GlobalEnvelopeBase = EnvelopeBase.omit({ securityCheckId: true });

/** What publish and subscribe need of any event definition, per-check or global. */
export interface EventDefinitionBase {
  readonly type: string;
  readonly version: number;
  readonly schema: z.ZodType<{
    id: string;
    type: string;
    version: number;
    occurredAt: string;
    correlationId: string;
    source: string;
    securityCheckId?: string;
  }>;
  subject(prefix: string): string;
}

export interface EventDefinition<T extends string, V extends number, D extends z.ZodType> {
  readonly type: T;
  readonly version: V;
  readonly data: D;
  readonly schema: z.ZodObject<
    Omit<typeof EnvelopeBase.shape, 'type' | 'version'> & { type: z.ZodLiteral<T>; version: z.ZodLiteral<V>; data: D }
  >;
  /** The JetStream subject, e.g. `secbot.event.received.v1`. */
  subject(prefix: string): string;
}

export function defineEvent<T extends string, V extends number, D extends z.ZodType>(
  type: T,
  version: V,
  data: D,
): EventDefinition<T, V, D> {
  const schema = EnvelopeBase.extend({ type: z.literal(type), version: z.literal(version), data });
  return { type, version, data, schema, subject: (prefix) => `${prefix}.${type}.v${version}` };
}

export interface GlobalEventDefinition<T extends string, V extends number, D extends z.ZodType> {
  readonly type: T;
  readonly version: V;
  readonly data: D;
  readonly schema: z.ZodObject<
    Omit<typeof GlobalEnvelopeBase.shape, 'type' | 'version'> & { type: z.ZodLiteral<T>; version: z.ZodLiteral<V>; data: D }
  >;
  subject(prefix: string): string;
}

/** An event that concerns no single check (exceptions, instance-wide facts). */
export function defineGlobalEvent<T extends string, V extends number, D extends z.ZodType>(
  type: T,
  version: V,
  data: D,
): GlobalEventDefinition<T, V, D> {
  const schema = GlobalEnvelopeBase.extend({ type: z.literal(type), version: z.literal(version), data });
  return { type, version, data, schema, subject: (prefix) => `${prefix}.${type}.v${version}` };
}

export type EventOf<E extends { schema: z.ZodType }> = z.infer<E['schema']>;
export type DataOf<E extends { data: z.ZodType }> = z.infer<E['data']>;

/**
 * A UUID-shaped id derived from its parts, so that the same logical event (the same GitLab delivery,
 * the same scan of the same check) always gets the same id and JetStream drops the second publish.
 */
export function deterministicId(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  // Shape it as an RFC 9562 version-8 (custom) UUID.
  const variant = ((parseInt(h.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
