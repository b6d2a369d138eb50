import { randomBytes } from 'node:crypto';
import {
  CheckExpiredV1,
  EventReceivedV1,
  NotifiedV1,
  OutputCompletedV1,
  ReevaluationRequestedV1,
  ScanCompletedV1,
  type AnyEvent,
  type StreamSettings,
} from '@secbot/contracts';
import { connectNats, createLogger, ensureStream, type Nats, type Publisher } from '@secbot/service-kit';

export const TEST_NATS_URL = process.env['SECBOT_TEST_NATS_URL'] ?? process.env['SECBOT_NATS_URL'] ?? 'nats://127.0.0.1:4222';

/** A stream of its own for one test file: unique name and subject prefix, short retention. */
export function uniqueStream(label = 't'): StreamSettings {
  const id = `${label.replace(/[^a-z0-9]/gi, '').toLowerCase()}${randomBytes(4).toString('hex')}`;
  return { name: `TEST_${id.toUpperCase()}`, prefix: `test-${id}`, retentionDays: 1, duplicateWindowMs: 120_000, replicas: 1 };
}

export interface TestNats extends Nats {
  stream: StreamSettings;
  /** Deletes the stream and closes the connection. */
  cleanup(): Promise<void>;
}

/** Connects to the running NATS (SECBOT_TEST_NATS_URL) and creates an isolated stream. */
export async function testNats(label?: string): Promise<TestNats> {
  const stream = uniqueStream(label);
  const nats = await connectNats(TEST_NATS_URL, `test-${stream.prefix}`, createLogger({ service: 'test', level: 'silent' }));
  await ensureStream(nats.jsm, stream);
  return {
    ...nats,
    stream,
    async cleanup() {
      await nats.jsm.streams.delete(stream.name).catch(() => undefined);
      await nats.jsm.streams.delete(`KV_${projectsBucket(stream)}`).catch(() => undefined);
      await nats.nc.close();
    },
  };
}

/** The environment a service under test gets: the shared NATS with this test's stream. */
export function streamEnv(stream: StreamSettings): Record<string, string> {
  return {
    // Tests may use the development secrets of .env.dev (the services refuse them otherwise).
    SECBOT_ENV: 'development',
    SECBOT_NATS_URL: TEST_NATS_URL,
    SECBOT_STREAM: stream.name,
    SECBOT_SUBJECT_PREFIX: stream.prefix,
    SECBOT_STREAM_RETENTION_DAYS: String(stream.retentionDays),
    SECBOT_STREAM_DUPLICATE_WINDOW_SECONDS: String(stream.duplicateWindowMs / 1000),
    // The scanner's project records (never expire): one bucket per test stream, so runs never share them.
    SCANNER_PROJECTS_BUCKET: projectsBucket(stream),
  };
}

/** The KV bucket of project records that goes with a test stream (removed by testNats' cleanup). */
export const projectsBucket = (stream: StreamSettings): string => `${stream.name}_projects`;

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export interface StoredMessage {
  seq: number;
  subject: string;
  data: string;
  json: unknown;
}

/** Every message in the stream, read directly by sequence (what an auditor would see). */
export async function readStream(nats: Nats, stream: StreamSettings): Promise<StoredMessage[]> {
  const info = await nats.jsm.streams.info(stream.name);
  const out: StoredMessage[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await nats.jsm.streams.getMessage(stream.name, { seq }).catch(() => null);
    if (!m) continue;
    const data = m.string();
    out.push({ seq, subject: m.subject, data, json: JSON.parse(data) as unknown });
  }
  return out;
}

/** Publishes events of any SecBot type through the real publisher (validation, Nats-Msg-Id, trace headers). */
export async function publishEvents(publisher: Publisher, events: AnyEvent[]): Promise<void> {
  for (const e of events) {
    switch (e.type) {
      case 'event.received':
        await publisher.publish(EventReceivedV1, e);
        break;
      case 'scan.completed':
        await publisher.publish(ScanCompletedV1, e);
        break;
      case 'output.completed':
        await publisher.publish(OutputCompletedV1, e);
        break;
      case 'notified':
        await publisher.publish(NotifiedV1, e);
        break;
      case 'check.expired':
        await publisher.publish(CheckExpiredV1, e);
        break;
      case 'reevaluation.requested':
        await publisher.publish(ReevaluationRequestedV1, e);
        break;
    }
  }
}

/** The PostgreSQL tests project into (each test file in schemas of its own). */
export const TEST_POSTGRES_DSN = process.env['SECBOT_TEST_POSTGRES_DSN'] ?? 'postgresql://postgres@127.0.0.1:5432/secbot_test';
