import { deterministicId, type NotifiedV1, type OutputCompletedV1, type PlannedComponent } from '@secbot/contracts';
import { checkDetailsLink, RetryableError, type Logger } from '@secbot/service-kit';
import type { SlackClient } from './adapters/slack/client.ts';
import { planAnnouncements, type AnnouncedFingerprint, type AnnouncementPlan } from './announcements.ts';
import { SlackComponentConfig } from './config.ts';
import type { NotifierMemory, Versioned } from './memory.ts';
import { renderNothingNewMessage, renderSlackMessage } from './slack-message.ts';

export const HANDLER = 'slack';

export interface HandlerDeps {
  /** The client of a `slack` component of this service's config.yml (its token and api_url), if any. */
  slackFor(component: string): SlackClient | undefined;
  memory: NotifierMemory;
  publish(event: NotifiedV1): Promise<void>;
  /** RESULTS_PUBLIC_URL, for the check's detail link. */
  resultsUrl?: string;
  /** Signs the details links (SECBOT_LINK_SIGNING_KEY), so a person can open them without a credential. */
  linkSigning?: { key: string; ttlDays: number };
  now(): Date;
  log: Logger;
}

/** What one handling did, for logs and tests. */
export interface HandleOutcome {
  posted: number;
  skipped: number;
  errors: number;
}

export const notifiedId = (e: OutputCompletedV1, notifier: string, channel: string): string =>
  deterministicId('notified', e.securityCheckId, e.data.scan, e.data.output, notifier, channel, String(e.data.revision));

/** The key of a message in the posted memory: one message per (check, scan, output, notifier, channel, revision). */
export const postedKey = (e: OutputCompletedV1, notifier: string, channel: string): string =>
  [e.securityCheckId, e.data.scan, e.data.output, notifier, channel, String(e.data.revision)].join('/');

const projectKey = (e: OutputCompletedV1) => `${e.data.context.instance.host}/${e.data.context.project.id}`;
const decisionKey = (e: OutputCompletedV1) => `${e.securityCheckId}/${e.data.scan}/${e.data.output}`;

/**
 * Reads what the project already announced, decides what this decision announces, and stores that
 * (compare-and-set) before anything is posted, so concurrent replicas cannot both announce a secret.
 */
async function announce(event: OutputCompletedV1, deps: HandlerDeps): Promise<AnnouncementPlan> {
  const project = projectKey(event);
  const previous = await deps.memory.output(decisionKey(event));
  const fingerprints = new Set([...event.data.blocking.map((f) => f.fingerprint), ...(previous?.value.fingerprints ?? [])]);
  const stored = new Map<string, Versioned<AnnouncedFingerprint> | undefined>();
  for (const fp of fingerprints) stored.set(fp, await deps.memory.fingerprint(project, fp));
  const known = new Map<string, AnnouncedFingerprint>();
  for (const [fp, v] of stored) if (v) known.set(fp, v.value);

  const plan = planAnnouncements({
    owner: `${decisionKey(event)}/${event.data.revision}`,
    revision: event.data.revision,
    blocking: event.data.blocking,
    previous: previous?.value,
    known,
    now: deps.now(),
  });
  for (const [fp, value] of plan.writes) {
    if (!(await deps.memory.saveFingerprint(project, fp, value, stored.get(fp)?.revision))) {
      throw new RetryableError('Another replica changed what this project announced; deciding again.', { retryAfterMs: 200 });
    }
  }
  if (plan.output && (previous?.value.revision !== plan.output.revision || previous.value.fingerprints.join() !== plan.output.fingerprints.join())) {
    if (!(await deps.memory.saveOutput(decisionKey(event), plan.output, previous?.revision))) {
      throw new RetryableError('Another replica handled this decision at the same time; deciding again.', { retryAfterMs: 200 });
    }
  }
  return plan;
}

/**
 * One output.completed → for each `slack` notifier of the job, one message per channel listing the
 * findings that block and are new to the project (or back after being closed), then `notified`.
 *
 * Exactly once, as far as Slack allows: a message is recorded in the posted memory right after Slack
 * accepts it and before the event is acknowledged, so a redelivery finds the record and only publishes
 * `notified` again (same id, deduplicated by JetStream). The one gap is a crash between Slack's answer and
 * that record (milliseconds): the redelivery then posts a second message. We accept that duplicate rather
 * than record first and risk a message that is never posted (a lost alert is worse than a repeated one).
 *
 * A rate limit or an outage (RetryableError) does not stop the other channels; the event is retried after
 * the longest Retry-After and only the channels not yet posted are posted. A refusal retrying cannot fix
 * (invalid_auth, channel_not_found, not_in_channel, …) is published as `notified` with status `error` and a
 * reason a person can act on. Nothing here changes the check's status.
 */
export async function handleOutputCompleted(event: OutputCompletedV1, deps: HandlerDeps): Promise<HandleOutcome> {
  const outcome: HandleOutcome = { posted: 0, skipped: 0, errors: 0 };
  const notifiers = event.data.context.job.notifiers.filter((n) => n.handler === HANDLER);
  // A failed output decided nothing: the check is `error` already and there is nothing to announce.
  if (notifiers.length === 0 || event.data.status !== 'ok') return outcome;

  const plan = await announce(event, deps);
  if (!plan.output) {
    deps.log.info({ revision: event.data.revision }, 'Older decision than one already handled; nothing to announce');
    return outcome;
  }

  const base = {
    version: 1 as const,
    type: 'notified' as const,
    correlationId: event.correlationId,
    securityCheckId: event.securityCheckId,
    source: 'notifier-slack',
  };
  const notified = async (notifier: PlannedComponent, target: string, status: NotifiedV1['data']['status'], findingsAnnounced: number, reason?: string) => {
    await deps.publish({
      ...base,
      id: notifiedId(event, notifier.name, target),
      occurredAt: deps.now().toISOString(),
      data: { notifier: notifier.name, handler: HANDLER, scan: event.data.scan, output: event.data.output, status, target, findingsAnnounced, ...(reason ? { reason } : {}) },
    });
    if (status === 'error') outcome.errors++;
    else if (status === 'skipped') outcome.skipped++;
  };

  const detailsUrl = deps.resultsUrl
    ? checkDetailsLink(deps.resultsUrl, event.securityCheckId, { key: deps.linkSigning?.key, ttlDays: deps.linkSigning?.ttlDays ?? 30 }, deps.now())
    : undefined;
  let retry: RetryableError | undefined;

  for (const notifier of notifiers) {
    const config = SlackComponentConfig.safeParse(notifier.config);
    if (!config.success) {
      const issues = config.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      await notified(notifier, '(config)', 'error', 0, `The config of component "${notifier.name}" in config.yml is invalid (${issues}).`);
      continue;
    }
    const slack = deps.slackFor(notifier.name);
    for (const channel of config.data.channels) {
      if (!slack) {
        await notified(notifier, channel, 'error', 0, `notifier-slack has no component "${notifier.name}" in its config.yml (or no token for it); give it the same config.yml as intake and restart it.`);
        continue;
      }
      const key = postedKey(event, notifier.name, channel);
      const already = await deps.memory.posted(key);
      if (already) {
        await notified(notifier, channel, 'sent', already.findings);
        continue;
      }
      const nothingNew = plan.announce.length === 0;
      if (nothingNew && !config.data.notify_when_nothing_new) {
        await notified(notifier, channel, 'skipped', 0, event.data.blocking.length ? 'every blocking finding was already announced for this project' : 'nothing blocks');
        continue;
      }
      const common = { securityCheckId: event.securityCheckId, context: event.data.context, scan: event.data.scan, output: event.data.output, ...(detailsUrl ? { detailsUrl } : {}) };
      const message = nothingNew
        ? renderNothingNewMessage({ ...common, blocking: event.data.blocking.length })
        : renderSlackMessage({ ...common, announcements: plan.announce, renderLimit: config.data.render_limit });
      let result;
      try {
        result = await slack.postMessage({ channel, text: message.text, blocks: message.blocks });
      } catch (err) {
        if (!(err instanceof RetryableError)) throw err;
        deps.log.warn({ notifier: notifier.name, channel, err: err.message, retryAfterMs: err.retryAfterMs }, 'Slack message not posted yet; will retry');
        if (!retry || (err.retryAfterMs ?? 0) > (retry.retryAfterMs ?? 0)) retry = err;
        continue;
      }
      if (!result.ok) {
        deps.log.warn({ notifier: notifier.name, channel, slackError: result.error }, 'Slack refused the message');
        await notified(notifier, channel, 'error', 0, result.reason);
        continue;
      }
      await deps.memory.recordPosted(key, { ts: result.ts, channel: result.channel, findings: plan.announce.length, at: deps.now().toISOString() });
      outcome.posted++;
      deps.log.info({ notifier: notifier.name, channel, findings: plan.announce.length, shown: message.shown }, 'Slack message posted');
      await notified(notifier, channel, 'sent', plan.announce.length);
    }
  }
  if (retry) throw retry;
  return outcome;
}
