import { CommonSettings, GitLabConfigs, TrustedProxies } from '@secbot/service-kit';
import { z } from 'zod';

export const IntakeSettings = CommonSettings.extend({
  INTAKE_PORT: z.coerce.number().int().min(1).max(65535).default(5000),
  /** GitLab push bodies with many commits can be large; past this the request gets 413. */
  INTAKE_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(5 * 1024 * 1024),
  GITLAB_CONFIGS: GitLabConfigs,
  /**
   * Failed authentications (wrong X-Gitlab-Token, a job token GitLab rejects) a client may make per minute;
   * past that it gets 429 with Retry-After, whatever it sends.
   */
  INTAKE_AUTH_FAILURES_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(20),
  INTAKE_TRUSTED_PROXIES: TrustedProxies,
});
export type IntakeSettings = z.infer<typeof IntakeSettings>;
