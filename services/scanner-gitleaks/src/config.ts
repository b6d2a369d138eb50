import { CommonSettings, GitLabConfigs } from '@secbot/service-kit';
import { z } from 'zod';

export const ScannerSettings = CommonSettings.extend({
  SCANNER_PORT: z.coerce.number().int().min(1).max(65535).default(5002),
  /** Where the bare mirrors and their lock files live; replicas may share it (a volume). */
  SCANNER_DATA_DIR: z.string().min(1).default('.data/scanner'),
  /** The gitleaks binary; default `<repo>/.tools/bin/gitleaks` when present, else `gitleaks` on PATH. */
  GITLEAKS_BIN: z.string().min(1).optional(),
  /**
   * Key of the HMAC that turns a secret into a finding fingerprint. Keep it stable (fingerprints change with
   * it) and secret (with it, a guessed secret can be confirmed against a fingerprint).
   */
  SCANNER_FINGERPRINT_KEY: z.string().min(16, 'must be at least 16 characters (e.g. openssl rand -hex 32)'),
  /** Redacted reports larger than this go to the object store instead of inside scan.completed. */
  SCANNER_INLINE_REPORT_MAX_BYTES: z.coerce.number().int().min(0).max(512 * 1024).default(64 * 1024),
  /** KV bucket of project records (findings, baselines, scanned tips): no expiry; back it up with the stream. */
  SCANNER_PROJECTS_BUCKET: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').default('secbot-projects'),
  SCANNER_REPORT_BUCKET: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').default('secbot-gitleaks-reports'),
  /** Deliveries of one event before the scanner gives up and publishes an `error` result. */
  SCANNER_MAX_DELIVER: z.coerce.number().int().min(1).max(100).default(5),
  /** How long to wait for another scan of the same project to release its mirror. */
  SCANNER_LOCK_WAIT_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
  /** A mirror lock not touched for this long belongs to a killed scanner and is taken over. */
  SCANNER_LOCK_STALE_SECONDS: z.coerce.number().int().min(2).max(3600).default(60),
  /** Without a sign of life for this long, JetStream redelivers the event (a killed scanner's work). */
  SCANNER_ACK_WAIT_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
  SCANNER_GIT_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(7200).default(600),
  GITLAB_CONFIGS: GitLabConfigs,
});
export type ScannerSettings = z.infer<typeof ScannerSettings>;
