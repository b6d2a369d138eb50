import { CheckLinkSettings, CommonSettings } from '@secbot/service-kit';
import { z } from 'zod';
import { DEFAULT_SLACK_API_URL } from './adapters/slack/client.ts';

export const NotifierSlackSettings = CommonSettings.extend({
  NOTIFIER_SLACK_PORT: z.coerce.number().int().min(0).max(65535).default(5004),
  /** Base of the results detail links in messages; without it messages link to GitLab and DefectDojo only. */
  RESULTS_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** One chat.postMessage call; the SDK itself never retries (JetStream does). */
  NOTIFIER_SLACK_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(300).default(10),
  /**
   * Deliveries of one output.completed. Each 429 uses one, so this bounds how long a message may wait for
   * Slack: with Retry-After of a few seconds, 100 covers several minutes of rate limiting.
   */
  NOTIFIER_SLACK_MAX_DELIVER: z.coerce.number().int().min(1).max(1000).default(100),
  /** How long a posted message is remembered (a redelivery after this would post again). */
  NOTIFIER_SLACK_POSTED_TTL_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  /** SECBOT_LINK_SIGNING_KEY, SECBOT_LINK_TTL_DAYS: messages link to details with a signed token. */
  ...CheckLinkSettings.shape,
});
export type NotifierSlackSettings = z.infer<typeof NotifierSlackSettings>;

/** A `slack` component's `config` in config.yml (it reaches the notifier inside the event's job plan). */
export const SlackComponentConfig = z.object({
  channels: z.array(z.string().min(1)).min(1, 'must list at least one channel (name or id)'),
  render_limit: z.coerce.number().int().min(1).max(45).default(10),
  api_url: z.url({ protocol: /^https?$/ }).default(DEFAULT_SLACK_API_URL),
  /** Post "nothing new blocks" too (default: stay silent when nothing new blocks). */
  notify_when_nothing_new: z.boolean().default(false),
});
export type SlackComponentConfig = z.infer<typeof SlackComponentConfig>;
