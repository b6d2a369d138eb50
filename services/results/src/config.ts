import { CheckLinkSettings, CommonSettings, parseJsonText, TrustedProxies } from '@secbot/service-kit';
import { z } from 'zod';

/** The token name the deprecated SECBOT_API_TOKEN is known by. */
export const LEGACY_API_TOKEN_NAME = 'api-token';

/** SECBOT_API_TOKENS: token name → sha256 hex of the token (`printf %s "$TOKEN" | sha256sum`). */
export const ApiTokenHashes = z
  .record(
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$/, 'token names are letters, digits, _ . @ - (at most 100)'),
    z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be the sha256 hex of the token (printf %s "$TOKEN" | sha256sum), not the token')
      .transform((h) => h.toLowerCase()),
  )
  .refine((r) => Object.keys(r).length > 0, 'must name at least one token');

export const ResultsSettings = CommonSettings.extend({
  RESULTS_PORT: z.coerce.number().int().min(1).max(65535).default(5001),
  /** The URL people and GitLab reach the results service at; used in links. Defaults to the listen address. */
  RESULTS_PUBLIC_URL: z.url().optional(),
  /** `pglite` is the embedded database `make up` falls back to when no PostgreSQL answers. */
  SECBOT_DB_DRIVER: z.enum(['postgresql', 'pglite']).default('postgresql'),
  SECBOT_POSTGRES_DSN: z.string().optional(),
  SECBOT_PGLITE_DIR: z.string().min(1).default('.data/pglite'),
  SECBOT_DB_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lower-case letters, digits and _').default('public'),
  /** Events applied per transaction at most; fewer when fewer are pending. */
  RESULTS_BATCH_SIZE: z.coerce.number().int().min(1).max(5000).default(200),
  /**
   * Named tokens of the exception API: a JSON object name → sha256 hex of the token. The name is recorded as the
   * owner of the exceptions it creates and as who revoked. Unset (and no SECBOT_API_TOKEN): the API refuses every call.
   */
  SECBOT_API_TOKENS: z.string().transform(parseJsonText).pipe(ApiTokenHashes)
    .optional(),
  /** Deprecated: one unnamed token of the exception API; accepted as the token named `api-token`. */
  SECBOT_API_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** An exception expires at most this many days after it is created. */
  SECBOT_EXCEPTION_MAX_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
  /** `true`: exceptions may cover a whole GitLab instance (scope `instance`); otherwise project scope only. */
  SECBOT_ALLOW_INSTANCE_EXCEPTIONS: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false').transform((v) => v === 'true'),
  /** Bearer token that lets clients other than GitLab CI jobs read check reports. Unset: CI job tokens only. */
  SECBOT_READ_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** How long GitLab's acceptance of a CI job token is reused (its rejection: 30 s). */
  RESULTS_JOB_TOKEN_CACHE_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
  /** Failed authentications (reports, details, the exception API) a client may make per minute; then 429. */
  RESULTS_AUTH_FAILURES_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(20),
  RESULTS_TRUSTED_PROXIES: TrustedProxies,
  /** A check still in progress this long after its first event becomes `error` (check.expired). */
  RESULTS_CHECK_DEADLINE_SECONDS: z.coerce.number().int().min(1).default(1800),
  RESULTS_DEADLINE_SWEEP_SECONDS: z.coerce.number().int().min(1).default(30),
  /** A failing check's status read asks external outputs to re-evaluate triage at most once per window. */
  RESULTS_REEVALUATION_WINDOW_SECONDS: z.coerce.number().int().min(1).default(30),
  /** How often results looks whether a rebuild pointed it at a new schema. */
  RESULTS_POINTER_POLL_SECONDS: z.coerce.number().min(0.2).max(300).default(2),
  /** Names the projection's checkpoint (the stream position committed with its rows); one per schema. */
  RESULTS_PROJECTION_NAME: z.string().regex(/^[A-Za-z0-9_-]+$/).optional(),
  ...CheckLinkSettings.shape,
}).superRefine((s, ctx) => {
  if (s.SECBOT_DB_DRIVER === 'postgresql' && !s.SECBOT_POSTGRES_DSN) {
    ctx.addIssue({ code: 'custom', path: ['SECBOT_POSTGRES_DSN'], message: 'is required when SECBOT_DB_DRIVER is postgresql (e.g. postgresql://user@host:5432/secbot)' });
  }
  if (s.SECBOT_POSTGRES_DSN && !/^postgres(ql)?:\/\//.test(s.SECBOT_POSTGRES_DSN)) {
    ctx.addIssue({ code: 'custom', path: ['SECBOT_POSTGRES_DSN'], message: 'must start with postgresql://' });
  }
  if (s.SECBOT_API_TOKEN && s.SECBOT_API_TOKENS?.[LEGACY_API_TOKEN_NAME]) {
    ctx.addIssue({ code: 'custom', path: ['SECBOT_API_TOKENS'], message: `names a token ${LEGACY_API_TOKEN_NAME}, the name of the deprecated SECBOT_API_TOKEN: unset SECBOT_API_TOKEN` });
  }
});
export type ResultsSettings = z.infer<typeof ResultsSettings>;
