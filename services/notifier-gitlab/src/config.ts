import { CheckLinkSettings, CommonSettings, GitLabConfigs } from '@secbot/service-kit';
import { z } from 'zod';

export const NotifierGitLabSettings = CommonSettings.extend({
  GITLAB_CONFIGS: GitLabConfigs,
  NOTIFIER_GITLAB_PORT: z.coerce.number().int().min(0).max(65535).default(5006),
  /** Base of the commit status `target_url` and the note's links (the results detail view). */
  RESULTS_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  NOTIFIER_GITLAB_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(300).default(15),
  /** Deliveries of one event; each 429 or 5xx uses one. */
  NOTIFIER_GITLAB_MAX_DELIVER: z.coerce.number().int().min(1).max(1000).default(50),
  /** How long a check's state is kept (the KV bucket's TTL); later events about it start from what they carry. */
  NOTIFIER_GITLAB_STATE_TTL_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  /** SECBOT_LINK_SIGNING_KEY, SECBOT_LINK_TTL_DAYS: the status and note link to details with a signed token. */
  ...CheckLinkSettings.shape,
});
export type NotifierGitLabSettings = z.infer<typeof NotifierGitLabSettings>;

/** A `gitlab` notifier component's `config` in config.yml. */
export const GitLabNotifierConfig = z.object({
  /** The commit status name (GitLab's `name`/`context`), shown in the pipeline widget. */
  status_name: z.string().min(1).max(255).default('secbot'),
  commit_status: z.boolean().default(true),
  /** One note on the merge request, updated in place. */
  merge_request_note: z.boolean().default(true),
});
export type GitLabNotifierConfig = z.infer<typeof GitLabNotifierConfig>;
