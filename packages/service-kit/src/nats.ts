import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import type { StreamSettings } from '@secbot/contracts';
import type { Logger } from './logger.ts';

export interface Nats {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

/** Connects and keeps reconnecting for ever; a service is not ready while the connection is down. */
export async function connectNats(url: string, name: string, log: Logger): Promise<Nats> {
  const nc = await connect({
    servers: url.split(',').map((s) => s.trim()),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
  });
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') log.warn({ natsStatus: s.type }, 'NATS connection status changed');
    }
  })();
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  return { nc, js: jetstream(nc, { timeout: 10_000 }), jsm };
}

/**
 * Creates the event stream, or updates its limits. File storage, limits retention (the log is the audit trail,
 * so nothing is removed on ack), age from settings, and a duplicate window for `Nats-Msg-Id`.
 */
export async function ensureStream(jsm: JetStreamManager, s: StreamSettings): Promise<void> {
  const config = {
    name: s.name,
    subjects: [`${s.prefix}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    max_age: nanos(s.retentionDays * 86_400_000),
    duplicate_window: nanos(Math.min(s.duplicateWindowMs, s.retentionDays * 86_400_000)),
    num_replicas: s.replicas,
  };
  try {
    const info = await jsm.streams.info(s.name);
    const c = info.config;
    if (c.max_age !== config.max_age || c.duplicate_window !== config.duplicate_window || c.num_replicas !== config.num_replicas) {
      await jsm.streams.update(s.name, { ...c, max_age: config.max_age, duplicate_window: config.duplicate_window, num_replicas: config.num_replicas });
    }
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.streams.add(config);
  }
}

export function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; api_error?: { err_code?: number }; message?: string };
  return e?.api_error?.err_code === 10059 || e?.api_error?.err_code === 10014 || /not found/i.test(e?.message ?? '');
}

/** Drains the connection (finishing in-flight publishes and acks), or closes it after `timeoutMs`. */
export async function closeNats(nats: Pick<Nats, 'nc'>, timeoutMs = 3000): Promise<void> {
  if (nats.nc.isClosed()) return;
  await Promise.race([nats.nc.drain().catch(() => undefined), new Promise((r) => setTimeout(r, timeoutMs))]);
  if (!nats.nc.isClosed()) await nats.nc.close();
}
