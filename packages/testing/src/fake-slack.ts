import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A local Slack Web API for `chat.postMessage` (and `auth.test`), with the real server's habits
 * (docs.slack.dev chat.postMessage and rate limits; @slack/web-api v8): POST `<base>/<method>` with a form or JSON body, the token as
 * `Authorization: Bearer` (or a `token` form field), HTTP 200 with `{"ok":false,"error":…}` for every
 * refusal, `blocks` as a JSON string in form posts, Block Kit limits enforced as `invalid_blocks`, and
 * HTTP 429 with `Retry-After` when told to rate-limit.
 */

export interface FakeSlackChannel {
  id: string;
  name: string;
  /** false: the bot is not a member (`not_in_channel`). */
  member?: boolean;
  archived?: boolean;
}

export interface FakeSlackMessage {
  channel: string;
  channelName: string;
  ts: string;
  text: string | undefined;
  blocks: unknown[] | undefined;
  /** Every argument as received (form fields parsed, `blocks` decoded). */
  args: Record<string, unknown>;
}

export interface FakeSlackRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  authorization: string | undefined;
  status: number;
  /** The `error` of an ok:false answer. */
  error?: string;
}

export interface FakeSlackOptions {
  token?: string;
  /** Channels the workspace has; default one public channel the bot is in, `#security` (C0SECURITY). */
  channels?: FakeSlackChannel[];
  port?: number;
}

export interface FakeSlack {
  /** The Web API root to give WebClient's `slackApiUrl`, e.g. `http://127.0.0.1:PORT/api/`. */
  apiUrl: string;
  token: string;
  readonly messages: FakeSlackMessage[];
  readonly requests: FakeSlackRequest[];
  readonly channels: FakeSlackChannel[];
  /** Answers 429 with `Retry-After: retryAfterSeconds` until `forMs` has passed (or `times` requests got it). */
  rateLimit(options: { retryAfterSeconds: number; forMs?: number; times?: number }): void;
  /** The next `times` API calls answer HTTP 200 `{"ok":false,"error":error}`. */
  failNextWith(error: string, times?: number): void;
  /** The next `times` API calls answer this HTTP status (e.g. 500, 503). */
  failNextStatus(status: number, times?: number): void;
  messagesIn(channel: string): FakeSlackMessage[];
  close(): Promise<void>;
}

const BLOCK_LIMIT = 50;
const SECTION_TEXT_LIMIT = 3000;
const HEADER_TEXT_LIMIT = 150;

function blocksProblem(blocks: unknown): string | undefined {
  if (!Array.isArray(blocks)) return 'blocks must be an array';
  if (blocks.length > BLOCK_LIMIT) return `no more than ${BLOCK_LIMIT} items allowed [json-pointer:/blocks]`;
  for (const [i, raw] of blocks.entries()) {
    const b = (raw ?? {}) as { type?: unknown; text?: { text?: unknown; type?: unknown }; elements?: unknown };
    const text = typeof b.text?.text === 'string' ? b.text.text : undefined;
    if (b.type === 'section' && text !== undefined && text.length > SECTION_TEXT_LIMIT) return `must be less than ${SECTION_TEXT_LIMIT + 1} characters [json-pointer:/blocks/${i}/text]`;
    if (b.type === 'header' && (b.text?.type !== 'plain_text' || (text ?? '').length > HEADER_TEXT_LIMIT)) return `must be plain_text of at most ${HEADER_TEXT_LIMIT} characters [json-pointer:/blocks/${i}/text]`;
    if (b.type === 'section' && b.text === undefined) return `must provide text or fields [json-pointer:/blocks/${i}]`;
    if (b.type === 'context' && (!Array.isArray(b.elements) || b.elements.length === 0 || b.elements.length > 10)) return `context needs 1-10 elements [json-pointer:/blocks/${i}/elements]`;
    if (typeof b.type !== 'string') return `missing type [json-pointer:/blocks/${i}]`;
  }
  return undefined;
}

export async function fakeSlack(options: FakeSlackOptions = {}): Promise<FakeSlack> {
  const token = options.token ?? 'xoxb-fake-slack-token';
  const channels: FakeSlackChannel[] = options.channels ?? [{ id: 'C0SECURITY', name: 'security', member: true }];
  const messages: FakeSlackMessage[] = [];
  const requests: FakeSlackRequest[] = [];
  const sockets = new Set<Socket>();
  let limit: { retryAfterSeconds: number; until?: number; times?: number } | undefined;
  const errors: string[] = [];
  const statuses: number[] = [];
  let tsCounter = 0;

  const send = (res: ServerResponse, record: FakeSlackRequest, status: number, body: unknown, headers: Record<string, string> = {}) => {
    record.status = status;
    if (typeof body === 'object' && body !== null && (body as { ok?: unknown }).ok === false) record.error = String((body as { error?: unknown }).error);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };

  function parseArgs(req: IncomingMessage, raw: string): Record<string, unknown> | 'invalid_json' | 'invalid_form_data' {
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type === 'application/json') {
      try {
        const parsed = JSON.parse(raw) as unknown;
        return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : 'invalid_json';
      } catch {
        return 'invalid_json';
      }
    }
    if (type === 'application/x-www-form-urlencoded' || type === undefined || type === '') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of new URLSearchParams(raw)) out[k] = v;
      return out;
    }
    return 'invalid_form_data';
  }

  function postMessage(args: Record<string, unknown>): { ok: false; error: string; [k: string]: unknown } | { ok: true; [k: string]: unknown } {
    const channelArg = typeof args['channel'] === 'string' ? args['channel'] : '';
    const channel = channels.find((c) => c.id === channelArg || c.name === channelArg.replace(/^#/, ''));
    if (!channel) return { ok: false, error: 'channel_not_found' };
    if (channel.archived) return { ok: false, error: 'is_archived' };
    if (channel.member === false) return { ok: false, error: 'not_in_channel' };
    let blocks = args['blocks'];
    if (typeof blocks === 'string') {
      try {
        blocks = JSON.parse(blocks) as unknown;
      } catch {
        return { ok: false, error: 'invalid_blocks_format' };
      }
    }
    if (blocks !== undefined) {
      const problem = blocksProblem(blocks);
      if (problem) return { ok: false, error: 'invalid_blocks', errors: [problem] };
    }
    const text = typeof args['text'] === 'string' ? args['text'] : undefined;
    if (!text && blocks === undefined) return { ok: false, error: 'no_text' };
    if (text && text.length > 40_000) return { ok: false, error: 'msg_too_long' };
    const ts = `${Math.floor(Date.now() / 1000)}.${String(++tsCounter).padStart(6, '0')}`;
    const message: FakeSlackMessage = {
      channel: channel.id,
      channelName: channel.name,
      ts,
      text,
      blocks: Array.isArray(blocks) ? (blocks as unknown[]) : undefined,
      args: { ...args, ...(blocks === undefined ? {} : { blocks }) },
    };
    messages.push(message);
    return { ok: true, channel: channel.id, ts, message: { type: 'message', subtype: 'bot_message', text, ts, blocks, bot_id: 'B0FAKE' } };
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const record: FakeSlackRequest = { method: req.method ?? 'GET', path: url.pathname, contentType: req.headers['content-type'], authorization: req.headers.authorization, status: 0 };
      requests.push(record);
      const m = /^\/api\/([a-zA-Z.]+)$/.exec(url.pathname);
      if (!m) return send(res, record, 404, { ok: false, error: 'unknown_method' });
      if (limit) {
        const active = (limit.until === undefined || Date.now() < limit.until) && (limit.times === undefined || limit.times > 0);
        if (active) {
          if (limit.times !== undefined) limit.times--;
          return send(res, record, 429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(limit.retryAfterSeconds) });
        }
        limit = undefined;
      }
      const status = statuses.shift();
      if (status !== undefined) return send(res, record, status, { ok: false, error: 'fatal_error' });
      const args = parseArgs(req, Buffer.concat(chunks).toString('utf8'));
      if (typeof args === 'string') return send(res, record, 200, { ok: false, error: args });
      // Slack takes the token from the header, or (form posts only) from a `token` argument.
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const isJson = (req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json');
      const presented = bearer ?? (!isJson && typeof args['token'] === 'string' ? args['token'] : undefined);
      if (!presented) return send(res, record, 200, { ok: false, error: 'not_authed' });
      if (presented !== token) return send(res, record, 200, { ok: false, error: 'invalid_auth' });
      const injected = errors.shift();
      if (injected) return send(res, record, 200, { ok: false, error: injected });
      switch (m[1]) {
        case 'auth.test':
          return send(res, record, 200, { ok: true, url: 'https://fake.slack.com/', team: 'Fake', user: 'secbot', team_id: 'T0FAKE', user_id: 'U0BOT', bot_id: 'B0FAKE' });
        case 'chat.postMessage':
          return send(res, record, 200, postMessage(args));
        default:
          return send(res, record, 200, { ok: false, error: 'unknown_method' });
      }
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    token,
    messages,
    requests,
    channels,
    rateLimit({ retryAfterSeconds, forMs, times }) {
      limit = { retryAfterSeconds, ...(forMs === undefined ? {} : { until: Date.now() + forMs }), ...(times === undefined ? {} : { times }) };
    },
    failNextWith(error, times = 1) {
      for (let i = 0; i < times; i++) errors.push(error);
    },
    failNextStatus(status, times = 1) {
      for (let i = 0; i < times; i++) statuses.push(status);
    },
    messagesIn(channel) {
      return messages.filter((m) => m.channel === channel || m.channelName === channel.replace(/^#/, ''));
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
