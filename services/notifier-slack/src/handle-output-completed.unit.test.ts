import type { NotifiedV1, PlannedComponent } from '@secbot/contracts';
import { createLogger, RetryableError } from '@secbot/service-kit';
import { aCheck, aFinding, aJobPlan, anOutputCompleted } from '@secbot/testing';
import { describe, expect, it } from 'vitest';
import type { SlackClient, SlackPost, SlackPostResult } from './adapters/slack/client.ts';
import { handleOutputCompleted, type HandlerDeps } from './handle-output-completed.ts';
import { inMemoryNotifierMemory } from './memory.ts';

const slackComponent = (channels: string[], extra: Record<string, unknown> = {}): PlannedComponent => ({ name: 'slack', handler: 'slack', config: { channels, ...extra } });

/** A hand-written Slack: answers from a script per channel, records what was posted. */
function scriptedSlack(script: Record<string, Array<'ok' | 'rate-limited' | 'not_in_channel'>> = {}) {
  const posts: SlackPost[] = [];
  const client: SlackClient = {
    postMessage(post): Promise<SlackPostResult> {
      const next = script[post.channel]?.shift() ?? 'ok';
      if (next === 'rate-limited') return Promise.reject(new RetryableError('rate-limited', { retryAfterMs: 3000 }));
      if (next === 'not_in_channel') return Promise.resolve({ ok: false, error: 'not_in_channel', reason: 'Invite the bot.' });
      posts.push(post);
      return Promise.resolve({ ok: true, ts: String(posts.length), channel: post.channel });
    },
  };
  return { client, posts };
}

function depsWith(slack: SlackClient | undefined) {
  const published: NotifiedV1[] = [];
  const deps: HandlerDeps = {
    slackFor: () => slack,
    memory: inMemoryNotifierMemory(),
    publish: (e) => {
      published.push(e);
      return Promise.resolve();
    },
    now: () => new Date('2026-11-23T10:00:00.000Z'),
    log: createLogger({ service: 'test', level: 'silent' }),
  };
  return { deps, published };
}

describe('handleOutputCompleted', () => {
  it('posts the channels Slack accepted, retries only the rate-limited one, and posts it once later', async () => {
    const check = aCheck({ job: aJobPlan({ notifiers: [slackComponent(['a', 'b'])] }) });
    const event = anOutputCompleted(check, { blocking: [aFinding()] });
    const slack = scriptedSlack({ b: ['rate-limited'] });
    const { deps, published } = depsWith(slack.client);

    const first = await handleOutputCompleted(event, deps).catch((e: unknown) => e);
    await handleOutputCompleted(event, deps);
    await handleOutputCompleted(event, deps);

    expect(first).toBeInstanceOf(RetryableError);
    expect((first as RetryableError).retryAfterMs).toBe(3000);
    expect(slack.posts.map((p) => p.channel)).toEqual(['a', 'b']);
    expect(new Set(published.map((p) => p.id)).size).toBe(2);
    expect(published.every((p) => p.data.status === 'sent' && p.data.findingsAnnounced === 1)).toBe(true);
  });

  it('publishes an error for a channel Slack refuses and still posts to the others', async () => {
    const check = aCheck({ job: aJobPlan({ notifiers: [slackComponent(['closed', 'open'])] }) });
    const slack = scriptedSlack({ closed: ['not_in_channel'] });
    const { deps, published } = depsWith(slack.client);

    const outcome = await handleOutputCompleted(anOutputCompleted(check, { blocking: [aFinding()] }), deps);

    expect(outcome).toEqual({ posted: 1, skipped: 0, errors: 1 });
    expect(published.map((p) => [p.data.target, p.data.status, p.data.reason])).toEqual([
      ['closed', 'error', 'Invite the bot.'],
      ['open', 'sent', undefined],
    ]);
  });

  it('posts "nothing new" only when the component asks for it', async () => {
    const check = aCheck({ job: aJobPlan({ notifiers: [slackComponent(['quiet']), { ...slackComponent(['chatty'], { notify_when_nothing_new: true }), name: 'slack-chatty' }] }) });
    const slack = scriptedSlack();
    const { deps } = depsWith(slack.client);

    const outcome = await handleOutputCompleted(anOutputCompleted(check, { blocking: [] }), deps);

    expect(outcome).toEqual({ posted: 1, skipped: 1, errors: 0 });
    expect(slack.posts.map((p) => [p.channel, p.text])).toEqual([['chatty', 'No blocking secrets in mike/diaspora (master)']]);
  });

  it('does nothing for a failed output or a job without a slack notifier', async () => {
    const withSlack = aCheck({ job: aJobPlan({ notifiers: [slackComponent(['a'])] }) });
    const without = aCheck();
    const slack = scriptedSlack();
    const { deps, published } = depsWith(slack.client);

    await handleOutputCompleted(anOutputCompleted(withSlack, { status: 'error', reason: 'DefectDojo down' }), deps);
    await handleOutputCompleted(anOutputCompleted(without, { blocking: [aFinding()] }), deps);

    expect(slack.posts).toEqual([]);
    expect(published).toEqual([]);
  });

  it('reports a component this service has no token for, instead of posting', async () => {
    const check = aCheck({ job: aJobPlan({ notifiers: [slackComponent(['a'])] }) });
    const { deps, published } = depsWith(undefined);

    await handleOutputCompleted(anOutputCompleted(check, { blocking: [aFinding()] }), deps);

    expect(published[0]?.data).toMatchObject({ status: 'error', target: 'a' });
    expect(published[0]?.data.reason).toContain('no component "slack"');
  });
});
