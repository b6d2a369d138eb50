/** How long the event log is kept by default: an audit year plus a margin. */
export const DEFAULT_RETENTION_DAYS = 400;
/** GitLab retries (and manual "Resend") of the same delivery inside this window are dropped by JetStream. */
export const DEFAULT_DUPLICATE_WINDOW_MS = 24 * 60 * 60 * 1000;

/** Where SecBot's events live. Tests use their own name and prefix so they never share a stream. */
export interface StreamSettings {
  name: string;
  /** Subject prefix; events are `<prefix>.<type>.v<version>`. */
  prefix: string;
  retentionDays: number;
  duplicateWindowMs: number;
  replicas: number;
}

export const defaultStreamSettings: StreamSettings = {
  name: 'SECBOT',
  prefix: 'secbot',
  retentionDays: DEFAULT_RETENTION_DAYS,
  duplicateWindowMs: DEFAULT_DUPLICATE_WINDOW_MS,
  replicas: 1,
};
