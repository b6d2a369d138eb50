import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger, DestinationStream } from 'pino';

/** Header and field names whose values are credentials; pino replaces them before a line is written. */
export const REDACT_PATHS = [
  'token',
  'auth_token',
  'webhook_secret_token',
  'secret',
  'password',
  'authorization',
  '*.token',
  '*.auth_token',
  '*.webhook_secret_token',
  '*.secret',
  '*.password',
  '*.authorization',
  'headers.authorization',
  'headers["x-gitlab-token"]',
  'headers["private-token"]',
  'headers["job-token"]',
  'req.headers.authorization',
  'req.headers["x-gitlab-token"]',
  'req.headers["private-token"]',
  'req.headers["job-token"]',
];

export interface LoggerOptions {
  service: string;
  level?: string;
  destination?: DestinationStream;
}

/** JSON logs, one line each; messages are static and details go in fields (`correlationId`, `eventId`, ...). */
export function createLogger({ service, level = 'info', destination }: LoggerOptions): Logger {
  return pino(
    {
      level,
      base: { service },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ sync: false }),
  );
}
