import { CommonSettings, GitLabConfigs } from '@secbot/service-kit';
import { z } from 'zod';

export const IntakeSettings = CommonSettings.extend({
  INTAKE_PORT: z.coerce.number().int().min(1).max(65535).default(5000),
  /** GitLab push bodies with many commits can be large; past this the request gets 413. */
  INTAKE_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(5 * 1024 * 1024),
  GITLAB_CONFIGS: GitLabConfigs,
});
export type IntakeSettings = z.infer<typeof IntakeSettings>;
