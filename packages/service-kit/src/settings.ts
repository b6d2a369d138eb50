import { z } from 'zod';
import { defaultStreamSettings, isProjectPath, type StreamSettings } from '@secbot/contracts';
import { ConfigError } from './errors.ts';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Settings every service reads from its environment. URLs and tokens have no silent defaults. */
export const CommonSettings = z.object({
  SECBOT_NATS_URL: z
    .string({ error: (i) => (i.input === undefined ? 'is required (e.g. nats://127.0.0.1:4222)' : 'must be a string') })
    .min(1, 'is required (e.g. nats://127.0.0.1:4222)')
    .refine((v) => v.split(',').every((u) => /^(nats|tls|wss?):\/\/[^\s]+$/.test(u.trim())), 'must be nats://host:port'),
  SECBOT_STREAM: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').default(defaultStreamSettings.name),
  SECBOT_SUBJECT_PREFIX: z.string().regex(/^[a-z0-9_-]+$/, 'lower-case letters, digits, _ and - only').default(defaultStreamSettings.prefix),
  SECBOT_STREAM_RETENTION_DAYS: int(1, 36500).default(defaultStreamSettings.retentionDays),
  SECBOT_STREAM_DUPLICATE_WINDOW_SECONDS: int(1, 7 * 86400).default(defaultStreamSettings.duplicateWindowMs / 1000),
  SECBOT_STREAM_REPLICAS: int(1, 5).default(1),
  SECBOT_CONFIG: z.string().min(1).default('./config.yml'),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  SECBOT_LISTEN_HOST: z.string().min(1).default('127.0.0.1'),
  OTEL_TRACES_EXPORTER: z.enum(['none', 'console', 'otlp']).default('none'),
  /**
   * `development` lets a service start with the secrets the committed .env.dev ships; anything else (the
   * default, production) refuses them. Read from the process environment or .env.override, never from .env.dev.
   */
  SECBOT_ENV: z.enum(['development', 'production'], { error: 'must be development or production' }).default('production'),
  /** NATS user and password of this service (one user per service, see deploy/nats); unset: no authentication. */
  SECBOT_NATS_USER: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only').optional(),
  SECBOT_NATS_PASSWORD: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_-]{15,}$/, 'must be at least 16 characters, start with a letter, then letters, digits, _ and - (e.g. p$(openssl rand -hex 24))')
    .optional(),
  /** A NATS credentials file (JWT + nkey seed) instead of a user and password. */
  SECBOT_NATS_CREDS: z.string().min(1).optional(),
  /** CA certificate (PEM file) that signed the NATS server's TLS certificate; setting it turns TLS on. */
  SECBOT_NATS_TLS_CA: z.string().min(1).optional(),
});
export type CommonSettings = z.infer<typeof CommonSettings>;

/** One GitLab instance from GITLAB_CONFIGS (the seed's shape). */
export const GitLabInstanceConfig = z.object({
  host: z.url({ protocol: /^https?$/ }),
  webhook_secret_token: z.string().min(8, 'must be at least 8 characters'),
  auth_token: z.string().min(1),
  prefix: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, _ . - (as in GIT_LOCAL)'),
  /**
   * true: the instance may be reached over plain http (a development or test GitLab). Its tokens, webhook
   * bodies and clones then cross the network in clear, so an `http://` host is refused without it.
   */
  insecure: z.boolean().optional(),
  /**
   * The secret of each project webhook, by project path: accepted only for that project's events. Prefer these
   * to giving webhook_secret_token (the system hook's, accepted for every project) to each project's maintainers.
   */
  project_webhook_secrets: z
    .record(
      z.string().refine(isProjectPath, 'must be a project path (group/project)'),
      z.string().min(16, 'must be at least 16 characters (e.g. openssl rand -hex 24)'),
    )
    .optional(),
}).superRefine((c, ctx) => {
  if (c.insecure !== true && URL.parse(c.host)?.protocol === 'http:') {
    ctx.addIssue({
      code: 'custom',
      path: ['host'],
      message: 'uses http, which sends the instance\'s tokens in clear: use https, or set "insecure": true for a development instance',
    });
  }
});
export type GitLabInstanceConfig = z.infer<typeof GitLabInstanceConfig>;

/** A setting that holds JSON text: parsed, or one clear problem; pipe it into the schema of its value. */
export const parseJsonText = (text: string, ctx: z.RefinementCtx): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `is not valid JSON (${(err as Error).message})` });
    return z.NEVER;
  }
};

export const GitLabConfigs = z
  .string({ error: 'is required: a JSON list of {host, webhook_secret_token, auth_token, prefix[, insecure]}' })
  .min(1, 'is required: a JSON list of {host, webhook_secret_token, auth_token, prefix[, insecure]}')
  .transform(parseJsonText)
  .pipe(
    z
      .array(GitLabInstanceConfig)
      .min(1, 'must list at least one GitLab instance'),
  );

/** Parses the environment against a schema and lists every problem (never a value: they may be secrets). */
export function readSettings<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
  throw new ConfigError('The service environment (.env.dev, .env.override, process environment)', problems);
}

export function streamSettingsFrom(s: CommonSettings): StreamSettings {
  return {
    name: s.SECBOT_STREAM,
    prefix: s.SECBOT_SUBJECT_PREFIX,
    retentionDays: s.SECBOT_STREAM_RETENTION_DAYS,
    duplicateWindowMs: s.SECBOT_STREAM_DUPLICATE_WINDOW_SECONDS * 1000,
    replicas: s.SECBOT_STREAM_REPLICAS,
  };
}
