import { RetryableError, createLogger } from '@secbot/service-kit';
import { fakeSlack, type FakeSlack } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSlackClient, type SlackClient } from './client.ts';

describe('Slack client against the fake Slack', () => {
  let slack: FakeSlack;
  let client: SlackClient;
  const post = { channel: 'security', text: 'fallback', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'hello' } }] };

  beforeAll(async () => {
    slack = await fakeSlack({ token: 'xoxb-client-test' });
    client = createSlackClient({
      token: slack.token,
      baseUrl: slack.apiUrl,
      timeoutMs: 2000,
      settings: { token: 'components.slack.env.token (SLACK_TOKEN)', channels: 'components.slack.config.channels' },
      log: createLogger({ service: 'test', level: 'silent' }),
    });
  });
  afterAll(async () => slack?.close());

  it('posts a form body with the bot token as Bearer and the blocks as JSON', async () => {
    const result = await client.postMessage(post);

    expect(result).toMatchObject({ ok: true, channel: 'C0SECURITY' });
    expect(slack.requests.at(-1)).toMatchObject({ path: '/api/chat.postMessage', authorization: 'Bearer xoxb-client-test' });
    expect(slack.requests.at(-1)?.contentType).toMatch(/^application\/x-www-form-urlencoded/);
    expect(slack.messages.at(-1)?.blocks).toEqual(post.blocks);
  });

  it('turns a 429 into a RetryableError carrying Retry-After, at once (no retry inside the client)', async () => {
    slack.rateLimit({ retryAfterSeconds: 30, times: 1 });
    const started = Date.now();

    const err = await client.postMessage(post).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).retryAfterMs).toBe(30_000);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('turns a 500 into a RetryableError at once instead of retrying for half an hour', async () => {
    slack.failNextStatus(500);
    const started = Date.now();

    await expect(client.postMessage(post)).rejects.toBeInstanceOf(RetryableError);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it.each([
    ['invalid_auth', /SLACK_TOKEN.*valid bot token/],
    ['channel_not_found', /components\.slack\.config\.channels/],
    ['not_in_channel', /\/invite/],
  ])('returns %s as a refusal with a reason a person can act on', async (error, reason) => {
    slack.failNextWith(error);

    const result = await client.postMessage(post);

    expect(result).toMatchObject({ ok: false, error });
    expect(result.ok ? '' : result.reason).toMatch(reason);
    expect(result.ok ? '' : result.reason).not.toContain(slack.token);
  });

  it('is refused by the fake with a wrong token, as Slack does (HTTP 200, ok:false)', async () => {
    const wrong = createSlackClient({ token: 'xoxb-wrong', baseUrl: slack.apiUrl, timeoutMs: 2000, settings: { token: 'T', channels: 'C' }, log: createLogger({ service: 'test', level: 'silent' }) });

    expect(await wrong.postMessage(post)).toMatchObject({ ok: false, error: 'invalid_auth' });
  });

  it('accepts JSON bodies with a Bearer token, like the real Web API', async () => {
    const res = await fetch(`${slack.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${slack.token}`, 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ channel: 'C0SECURITY', text: 'json', blocks: Array.from({ length: 51 }, () => ({ type: 'divider' })) }),
    });

    expect(await res.json()).toMatchObject({ ok: false, error: 'invalid_blocks' });
  });
});
