import { readFileSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { credsAuthenticator, nanos, type ConnectionOptions, type NatsConnection } from '@nats-io/nats-core';
import type { StreamSettings } from '@secbot/contracts';
import { ConfigError } from './errors.ts';
import type { Logger } from './logger.ts';

export interface Nats {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

/** How a service proves who it is to NATS, and whether the connection uses TLS. Empty: an open local server. */
export interface NatsAuth {
  user?: string;
  pass?: string;
  /** A credentials file (JWT and nkey seed). */
  credsFile?: string;
  /** The CA that signed the server's certificate; turns TLS on. */
  tlsCaFile?: string;
}

/** The NATS credentials in a service's settings (SECBOT_NATS_USER/PASSWORD, SECBOT_NATS_CREDS, SECBOT_NATS_TLS_CA). */
export function natsAuthFrom(s: {
  SECBOT_NATS_USER?: string | undefined;
  SECBOT_NATS_PASSWORD?: string | undefined;
  SECBOT_NATS_CREDS?: string | undefined;
  SECBOT_NATS_TLS_CA?: string | undefined;
}): NatsAuth {
  const problems: string[] = [];
  if (s.SECBOT_NATS_USER && !s.SECBOT_NATS_PASSWORD) problems.push('SECBOT_NATS_PASSWORD: is required when SECBOT_NATS_USER is set');
  if (s.SECBOT_NATS_PASSWORD && !s.SECBOT_NATS_USER) problems.push('SECBOT_NATS_USER: is required when SECBOT_NATS_PASSWORD is set');
  if (s.SECBOT_NATS_CREDS && s.SECBOT_NATS_USER) problems.push('SECBOT_NATS_CREDS: set either it or SECBOT_NATS_USER/SECBOT_NATS_PASSWORD, not both');
  if (problems.length) throw new ConfigError('The NATS credentials', problems);
  return {
    ...(s.SECBOT_NATS_USER ? { user: s.SECBOT_NATS_USER, pass: s.SECBOT_NATS_PASSWORD } : {}),
    ...(s.SECBOT_NATS_CREDS ? { credsFile: s.SECBOT_NATS_CREDS } : {}),
    ...(s.SECBOT_NATS_TLS_CA ? { tlsCaFile: s.SECBOT_NATS_TLS_CA } : {}),
  };
}

/**
 * The inbox prefix of a NATS user: replies (JetStream acks, pulled messages, API answers) come to
 * `_INBOX_<user>.…`, so a user's permissions can let it read its own replies and nobody else's.
 */
export const natsInboxPrefix = (user: string): string => `_INBOX_${user.replace(/[^A-Za-z0-9_-]/g, '_')}`;

function connectionOptions(auth: NatsAuth, servers: string[]): Partial<ConnectionOptions> {
  const opts: Partial<ConnectionOptions> = {};
  if (auth.user) Object.assign(opts, { user: auth.user, pass: auth.pass, inboxPrefix: natsInboxPrefix(auth.user) });
  if (auth.credsFile) {
    const file = auth.credsFile;
    let creds: Uint8Array;
    try {
      creds = readFileSync(file);
    } catch (err) {
      throw new ConfigError('The NATS credentials', [`SECBOT_NATS_CREDS: cannot read ${file} (${(err as Error).message})`]);
    }
    opts.authenticator = credsAuthenticator(creds);
  }
  if (auth.tlsCaFile) opts.tls = { caFile: auth.tlsCaFile };
  else if (servers.some((u) => u.startsWith('tls://'))) opts.tls = {};
  return opts;
}

/** Connects and keeps reconnecting for ever; a service is not ready while the connection is down. */
export async function connectNats(url: string, name: string, log: Logger, auth: NatsAuth = {}): Promise<Nats> {
  const servers = url.split(',').map((s) => s.trim());
  const nc = await connect({
    servers,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    ...connectionOptions(auth, servers),
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
 * A NATS user that may not manage the stream (with authentication only results and ops may: see
 * nats-auth.ts) waits up to `waitMs` for it to exist, and leaves its limits to them.
 */
export async function ensureStream(jsm: JetStreamManager, s: StreamSettings, opts: { log?: Logger; waitMs?: number } = {}): Promise<void> {
  const config = {
    name: s.name,
    subjects: [`${s.prefix}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    max_age: nanos(s.retentionDays * 86_400_000),
    duplicate_window: nanos(Math.min(s.duplicateWindowMs, s.retentionDays * 86_400_000)),
    num_replicas: s.replicas,
  };
  const deadline = Date.now() + (opts.waitMs ?? 120_000);
  for (let waiting = false; ; ) {
    let info;
    try {
      info = await jsm.streams.info(s.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (info) {
      const c = info.config;
      if (c.max_age === config.max_age && c.duplicate_window === config.duplicate_window && c.num_replicas === config.num_replicas) return;
      try {
        await jsm.streams.update(s.name, { ...c, max_age: config.max_age, duplicate_window: config.duplicate_window, num_replicas: config.num_replicas });
      } catch (err) {
        if (!isPermissionViolation(err)) throw err;
        opts.log?.warn({ stream: s.name }, 'The stream limits differ from the settings, and this NATS user may not change them (results and ops may)');
      }
      return;
    }
    try {
      await jsm.streams.add(config);
      return;
    } catch (err) {
      if (!isPermissionViolation(err)) throw err;
      if (Date.now() > deadline) {
        throw new Error(`The stream ${s.name} does not exist and this NATS user may not create it: start results (or run a secbot command as ops) first`, { cause: err });
      }
      if (!waiting) opts.log?.info({ stream: s.name }, 'Waiting for results to create the stream (this NATS user may not)');
      waiting = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** NATS refused a publish or request because the user's permissions do not allow its subject. */
export const isPermissionViolation = (err: unknown): boolean => /permissions violation/i.test((err as Error)?.message ?? '');

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
