import { RetryableError } from '@secbot/service-kit';
import {
  LogLevel,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
  type Logger as SlackLogger,
} from '@slack/web-api';
import type { Logger } from '@secbot/service-kit';

export const DEFAULT_SLACK_API_URL = 'https://slack.com/api/';

export interface SlackPost {
  channel: string;
  text: string;
  blocks: readonly unknown[];
}

/** Slack refused the message for a reason retrying cannot fix; `reason` tells a person what to change. */
export interface SlackRefusal {
  ok: false;
  error: string;
  reason: string;
}

export type SlackPostResult = { ok: true; ts: string; channel: string } | SlackRefusal;

/** chat.postMessage, as SecBot uses it. Throws RetryableError (429, 5xx, network); never with the token. */
export interface SlackClient {
  postMessage(post: SlackPost): Promise<SlackPostResult>;
}

export interface SlackClientOptions {
  token: string;
  /** The Web API root, `https://slack.com/api/` unless the component's `config.api_url` says otherwise. */
  baseUrl: string;
  timeoutMs: number;
  /** Where an operator fixes things, e.g. `components.slack.env.token (SLACK_TOKEN)`. */
  settings: { token: string; channels: string };
  log: Logger;
  fetch?: typeof fetch;
}

// Slack answers ok:false with these when trying again later can work (docs.slack.dev/reference/methods/chat.postMessage#errors).
const TRANSIENT = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'team_added_to_org']);

function refusal(error: string, channel: string, settings: SlackClientOptions['settings']): SlackRefusal {
  const reason = (() => {
    switch (error) {
      case 'invalid_auth':
      case 'not_authed':
      case 'account_inactive':
      case 'token_revoked':
      case 'token_expired':
      case 'no_permission':
        return `Slack rejected the bot token (${error}). Check ${settings.token} holds a valid bot token (xoxb-…) of an installed app.`;
      case 'missing_scope':
        return `The Slack app lacks the chat:write scope (${error}). Add it to the app and reinstall it, then update ${settings.token}.`;
      case 'channel_not_found':
        return `Slack has no channel "${channel}" the bot can see (${error}). Check ${settings.channels}; for a private channel, invite the bot to it.`;
      case 'not_in_channel':
        return `The bot is not a member of "${channel}" (${error}). Invite it there (/invite @your-bot) or give the app the chat:write.public scope.`;
      case 'is_archived':
        return `The channel "${channel}" is archived (${error}). Unarchive it or change ${settings.channels}.`;
      case 'restricted_action':
      case 'restricted_action_read_only_channel':
      case 'restricted_action_thread_only_channel':
      case 'restricted_action_non_threadable_channel':
        return `Slack does not let the bot post in "${channel}" (${error}). Ask a workspace admin to allow it, or change ${settings.channels}.`;
      default:
        return `Slack refused the message for "${channel}" (${error}).`;
    }
  })();
  return { ok: false, error, reason };
}

/** The SDK logs through this; only its warnings and errors are worth a line, and they never hold the token. */
function sdkLogger(log: Logger): SlackLogger {
  let level = LogLevel.WARN;
  const child = log.child({ component: 'slack-web-api' });
  return {
    debug: () => undefined,
    info: () => undefined,
    warn: (...msg: unknown[]) => child.warn({ detail: msg.map(String).join(' ').slice(0, 300) }, 'Slack client warning'),
    error: (...msg: unknown[]) => child.error({ detail: msg.map(String).join(' ').slice(0, 300) }, 'Slack client error'),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

/** The error the SDK rejected with: p-retry may wrap it once. */
function unwrap(err: unknown): unknown {
  if (err instanceof WebAPIRateLimitedError || err instanceof WebAPIPlatformError || err instanceof WebAPIHTTPError || err instanceof WebAPIRequestError) return err;
  const inner = typeof err === 'object' && err !== null ? ((err as { originalError?: unknown }).originalError ?? (err as { cause?: unknown }).cause) : undefined;
  return inner ?? err;
}

export function createSlackClient(opts: SlackClientOptions): SlackClient {
  const client = new WebClient(opts.token, {
    slackApiUrl: opts.baseUrl,
    // Retry here would wait inside the handler (the default policy takes ~30 minutes); JetStream retries instead.
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: opts.timeoutMs,
    allowAbsoluteUrls: false,
    logger: sdkLogger(opts.log),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
  const host = (() => {
    try {
      return new URL(opts.baseUrl).host;
    } catch {
      return opts.baseUrl;
    }
  })();

  return {
    async postMessage(post) {
      try {
        const res = await client.chat.postMessage({
          channel: post.channel,
          text: post.text,
          // The SDK's block types are stricter than needed; the shape is checked by the renderer's tests.
          blocks: post.blocks as never,
          unfurl_links: false,
          unfurl_media: false,
        });
        return { ok: true, ts: typeof res.ts === 'string' ? res.ts : '', channel: typeof res.channel === 'string' ? res.channel : post.channel };
      } catch (caught) {
        const err = unwrap(caught);
        if (err instanceof WebAPIRateLimitedError) {
          throw new RetryableError(`Slack rate-limited chat.postMessage to ${post.channel}; retrying after ${err.retryAfter} s.`, { retryAfterMs: Math.max(1, err.retryAfter) * 1000 });
        }
        if (err instanceof WebAPIPlatformError) {
          const code = typeof err.data.error === 'string' ? err.data.error : 'unknown_error';
          if (TRANSIENT.has(code)) {
            const retryAfter = err.data.response_metadata?.retryAfter;
            throw new RetryableError(`Slack answered ${code} to chat.postMessage; retrying.`, retryAfter ? { retryAfterMs: retryAfter * 1000 } : {});
          }
          return refusal(code, post.channel, opts.settings);
        }
        if (err instanceof WebAPIHTTPError) {
          throw new RetryableError(`Slack at ${host} answered HTTP ${err.statusCode} to chat.postMessage; retrying.`);
        }
        if (err instanceof WebAPIRequestError) {
          throw new RetryableError(`Slack at ${host} did not answer chat.postMessage (${err.original.name}). Check the network and components' config.api_url.`);
        }
        // Anything else (e.g. 429 without Retry-After) is Slack being unhappy now; JetStream's backoff applies.
        throw new RetryableError(`chat.postMessage to Slack at ${host} failed: ${err instanceof Error ? err.message.slice(0, 200) : 'unknown error'}`);
      }
    },
  };
}
