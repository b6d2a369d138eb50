import { createHash } from 'node:crypto';
import { checkDetailsLink, createAuthFailureLimiter, createHttpServer, createPublisher, readSettings, startRuntime, type DestinationStream, type HttpServer, type Logger } from '@secbot/service-kit';
import { startProjector } from './adapters/nats/projector.ts';
import { openDatabase, type DatabaseConfig } from './adapters/postgres/database.ts';
import { applyBatch, cursorOf } from './adapters/postgres/projection-store.ts';
import { createCheckAccess } from './check-access.ts';
import { registerCheckRoutes } from './check-routes.ts';
import { startDeadlineSweeper } from './deadline.ts';
import { registerExceptionRoutes } from './exception-routes.ts';
import { createGitLabJobsClient } from '@secbot/service-kit';
import { registerReportRoutes } from './report-routes.ts';
import { reevaluationRequester } from './reevaluation.ts';
import { LEGACY_API_TOKEN_NAME, ResultsSettings } from './config.ts';

export interface RunningResults {
  url: string;
  /** The HTTP server, for in-process requests (`app.inject`) and its route list in tests. */
  app: HttpServer;
  log: Logger;
  /** Resolves once the projection has applied everything up to the stream's last sequence at call time. */
  caughtUp(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export function databaseConfig(s: ResultsSettings): DatabaseConfig {
  return s.SECBOT_DB_DRIVER === 'pglite' || !s.SECBOT_POSTGRES_DSN
    ? { driver: 'pglite', dir: s.SECBOT_PGLITE_DIR, schema: s.SECBOT_DB_SCHEMA }
    : { driver: 'postgresql', dsn: s.SECBOT_POSTGRES_DSN, schema: s.SECBOT_DB_SCHEMA };
}

/** The exception API's tokens, name → sha256 hex; the deprecated SECBOT_API_TOKEN is the one named `api-token`. */
function apiTokensOf(s: ResultsSettings, log: Logger): Record<string, string> {
  const tokens = { ...(s.SECBOT_API_TOKENS ?? {}) };
  if (s.SECBOT_API_TOKEN) {
    tokens[LEGACY_API_TOKEN_NAME] = createHash('sha256').update(s.SECBOT_API_TOKEN).digest('hex');
    log.warn(
      { tokenName: LEGACY_API_TOKEN_NAME },
      'SECBOT_API_TOKEN is deprecated: it is accepted as the token named api-token. Give each caller its own named token in SECBOT_API_TOKENS (name → sha256 hex) and unset it.',
    );
  }
  return tokens;
}

/** The projection's name, which keys its checkpoint row. */
export const projectionName = (s: ResultsSettings) => s.RESULTS_PROJECTION_NAME ?? `results-projection-${s.SECBOT_DB_SCHEMA.replace(/_/g, '-')}`;

export async function startResults(
  env: Record<string, string | undefined>,
  opts: { port?: number; logDestination?: DestinationStream } = {},
): Promise<RunningResults> {
  const settings = readSettings(ResultsSettings, env);
  const rt = await startRuntime('results', settings, opts);
  const { log, metrics, nats, stream } = rt;
  const db = await openDatabase(databaseConfig(settings), log);
  const projection = projectionName(settings);
  const pointed = await db.pointedSchema();
  if (pointed && pointed !== db.schema) await db.switchTo(pointed);
  const runProjector = () =>
    startProjector({
      nats,
      stream,
      name: projection,
      checkpoint: async () => (await cursorOf(db, projection))?.lastSeq ?? 0,
      log,
      metrics,
      batchSize: settings.RESULTS_BATCH_SIZE,
      apply: (batch, upToSeq) => applyBatch(db, projection, batch, upToSeq),
    });
  let projector = runProjector();
  // A rebuild points the configured schema at a fresh one: follow it without pausing reads. The new schema
  // is complete up to the rebuild's checkpoint, and the projector resumes from there.
  let switching = Promise.resolve();
  const follow = setInterval(() => {
    switching = switching.then(async () => {
      const target = await db.pointedSchema().catch(() => null);
      if (!target || target === db.schema) return;
      await projector.stop();
      const from = db.schema;
      await db.switchTo(target);
      projector = runProjector();
      log.info({ from, to: target }, 'Projection switched to a rebuilt schema');
    });
  }, settings.RESULTS_POINTER_POLL_SECONDS * 1000);

  const app = await createHttpServer({
    service: 'results',
    log,
    metrics,
    readiness: { nats: rt.natsReady, database: () => db.ping() },
    trustProxy: settings.RESULTS_TRUSTED_PROXIES,
    openapi: { title: 'SecBot results', description: 'Security check status for the CI gate, and check details.', version: '1.0.0' },
  });
  const port = opts.port ?? settings.RESULTS_PORT;
  const publicUrl = (settings.RESULTS_PUBLIC_URL ?? `http://${settings.SECBOT_LISTEN_HOST}:${port}`).replace(/\/$/, '');
  const publisher = createPublisher({ js: nats.js, stream, metrics });
  const applied = async (seq: number, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    while (((await cursorOf(db, projection))?.lastSeq ?? 0) < seq) {
      if (Date.now() > deadline) throw new Error(`projection did not reach stream sequence ${seq} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  // One authorization for everything that shows findings (details, report).
  const authorize = createCheckAccess({
    gitlab: createGitLabJobsClient({ acceptedTtlMs: settings.RESULTS_JOB_TOKEN_CACHE_SECONDS * 1000 }),
    readToken: settings.SECBOT_READ_TOKEN,
    linkSigningKey: settings.SECBOT_LINK_SIGNING_KEY,
    log,
  });
  // One budget of failed authentications per client for every route that asks for a credential.
  const authFailures = createAuthFailureLimiter({ perMinute: settings.RESULTS_AUTH_FAILURES_PER_MINUTE });
  registerCheckRoutes(app, {
    db,
    publicUrl,
    authorize,
    authFailures,
    onFailedRead: reevaluationRequester({ publisher, log, windowSeconds: settings.RESULTS_REEVALUATION_WINDOW_SECONDS }),
  });
  registerExceptionRoutes(app, {
    db,
    publisher,
    apiTokens: apiTokensOf(settings, log),
    maxDays: settings.SECBOT_EXCEPTION_MAX_DAYS,
    allowInstanceScope: settings.SECBOT_ALLOW_INSTANCE_EXCEPTIONS,
    applied,
    authFailures,
  });
  registerReportRoutes(app, {
    db,
    authorize,
    authFailures,
    detailsLink: (id) => checkDetailsLink(publicUrl, id, { key: settings.SECBOT_LINK_SIGNING_KEY, ttlDays: settings.SECBOT_LINK_TTL_DAYS }, new Date()),
  });
  const sweeper = startDeadlineSweeper({
    db,
    publisher,
    log,
    deadlineSeconds: settings.RESULTS_CHECK_DEADLINE_SECONDS,
    intervalSeconds: settings.RESULTS_DEADLINE_SWEEP_SECONDS,
  });
  const address = await app.listen({ port, host: settings.SECBOT_LISTEN_HOST });
  log.info({ url: address, docs: `${address}/docs`, database: db.describe, schema: db.schema, projection }, 'Results listening');

  return {
    url: address,
    app,
    log,
    async caughtUp(timeoutMs = 10_000) {
      await applied((await nats.jsm.streams.info(stream.name)).state.last_seq, timeoutMs);
    },
    async close() {
      clearInterval(follow);
      await switching;
      await app.close();
      await sweeper.stop();
      await projector.stop();
      await rt.close();
      await db.close();
    },
  };
}
