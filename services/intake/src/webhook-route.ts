import { createHash } from 'node:crypto';
import { EventReceivedV1, securityCheckId } from '@secbot/contracts';
import {
  ErrorBody,
  RetryableError,
  type AuthFailureLimiter,
  type GitLabInstanceConfig,
  type HttpServer,
  type Logger,
  type Policy,
  type Publisher,
} from '@secbot/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import secureJson from 'secure-json-parse';
import { z } from 'zod';
import { credentialsForToken, mayDeliverFor, type WebhookCredential } from './authenticate.ts';
import { classifyEvent, MergeRequestPayload, PushPayload } from './gitlab-payload.ts';
import { matchJobs, toJobPlan } from './match-job.ts';
import { mergeRequestToChange, pushToChange, urlsBelongTo, type ChangeDecision } from './to-change.ts';
import { buildEventReceived } from './event-received.ts';

export interface WebhookDeps {
  instances: GitLabInstanceConfig[];
  policy: Policy;
  publisher: Publisher;
  log: Logger;
  /** Failed authentications per client (INTAKE_AUTH_FAILURES_PER_MINUTE), shared with the CI route. */
  authFailures: AuthFailureLimiter;
  now?: () => Date;
}

const Accepted = z.object({
  status: z.literal('accepted'),
  security_check_id: z.string(),
  event_id: z.string(),
  duplicate: z.boolean().describe('true when this delivery was already accepted (a GitLab retry)'),
  job: z.string().nullable(),
  plan_error: z.string().optional(),
});
const Ignored = z.object({ status: z.literal('ignored'), reason: z.string() });

const Headers = z.object({
  'x-gitlab-event': z.string().optional().describe('Push Hook, Tag Push Hook, Merge Request Hook or System Hook'),
  'x-gitlab-token': z.string().optional().describe("The hook's secret token: a GITLAB_CONFIGS webhook_secret_token"),
  'idempotency-key': z.string().max(200).optional().describe('Same value on every retry of a delivery (GitLab 17.4+)'),
  'x-gitlab-event-uuid': z.string().max(200).optional(),
  'x-gitlab-instance': z.string().max(500).optional(),
  'user-agent': z.string().optional(),
});

const rawBodies = new WeakMap<object, Buffer>();
/** The webhook secrets the request presented (instance or project ones), set before its body is read. */
const authenticatedAs = new WeakMap<FastifyRequest, WebhookCredential[]>();

/**
 * The JSON parser of every application/json body: secure-json-parse refuses `__proto__` and
 * `constructor.prototype` keys (prototype poisoning), as Fastify's own parser does; the raw bytes are kept
 * for the delivery key.
 */
export function registerJsonParser(app: HttpServer): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    const buf = body as Buffer;
    rawBodies.set(req, buf);
    let parsed: unknown;
    try {
      parsed = secureJson.parse(buf, null, { protoAction: 'error', constructorAction: 'error' });
    } catch (err) {
      const poisoned = err instanceof SyntaxError && /forbidden prototype property/i.test(err.message);
      const error = poisoned
        ? Object.assign(new Error('The body has a __proto__ or constructor.prototype key, which SecBot refuses.'), { statusCode: 400, code: 'forbidden_json_key' })
        : Object.assign(new Error('The body is not valid JSON.'), { statusCode: 400, code: 'malformed_json' });
      done(error, undefined);
      return;
    }
    done(null, parsed);
  });
}

/** POST /v1/gitlab/webhook: GitLab system hooks and project/group webhooks. */
export function registerWebhookRoute(app: HttpServer, deps: WebhookDeps): void {
  const now = deps.now ?? (() => new Date());

  /**
   * Runs before the body is read: a client past its failed-authentication budget gets 429, a request
   * without a configured secret 403, and neither has its body read or parsed (so the body limit only
   * matters to callers that hold a secret).
   */
  const authenticate = async (req: FastifyRequest, reply: FastifyReply) => {
    if (deps.authFailures.refuseBlocked(req, reply)) return reply;
    const token = req.headers['x-gitlab-token'];
    const candidates = credentialsForToken(deps.instances, typeof token === 'string' ? token : undefined);
    if (candidates.length === 0) {
      deps.authFailures.failed(req);
      deps.log.warn({ remote: req.ip }, 'Webhook refused: unknown token');
      return reply
        .status(403)
        .header('connection', 'close')
        .send({ error: 'forbidden', message: 'X-Gitlab-Token does not match the secret token of any configured GitLab instance.' });
    }
    authenticatedAs.set(req, candidates);
    return undefined;
  };

  app.post(
    '/v1/gitlab/webhook',
    {
      onRequest: authenticate,
      schema: {
        tags: ['gitlab'],
        summary: 'Receive a GitLab push, tag push or merge request event',
        description:
          'Point a GitLab system hook (or project webhook) here with its secret token. A check starts for the commit ' +
          'the change adds when a job in config.yml matches. The reply comes after the event is durable in JetStream.',
        headers: Headers,
        body: z.unknown().describe('The GitLab hook body (JSON)'),
        response: { 200: Ignored, 202: Accepted, 400: ErrorBody, 403: ErrorBody, 413: ErrorBody, 415: ErrorBody, 422: ErrorBody, 429: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      const h = req.headers;
      const candidates = authenticatedAs.get(req);
      if (!candidates) throw new Error('webhook without authentication');
      const eventHeader = h['x-gitlab-event'];
      if (!eventHeader) return reply.status(400).send({ error: 'missing_event_header', message: 'The X-Gitlab-Event header is required.' });

      const classified = classifyEvent(eventHeader, req.body);
      if ('ignored' in classified) return reply.status(200).send({ status: 'ignored', reason: classified.ignored });

      const decision = toChange(classified.kind, req.body);
      if ('invalid' in decision) {
        return reply.status(422).send({
          error: 'unprocessable_event',
          message: `The ${classified.kind} event lacks what SecBot needs: ${decision.invalid.map((i) => `${i.path} ${i.message}`).join('; ')}`,
          issues: decision.invalid,
        });
      }
      if ('ignored' in decision) return reply.status(200).send({ status: 'ignored', reason: decision.ignored });
      const { change } = decision;

      const onInstance = candidates.filter((c) => urlsBelongTo(c.instance, change.urls));
      const instance = onInstance.find((c) => mayDeliverFor(c, change.project.pathWithNamespace))?.instance;
      if (!instance) {
        deps.log.warn({ project: change.project.pathWithNamespace }, 'Webhook refused: project outside what the secret may deliver');
        return reply.status(403).send({
          error: 'foreign_project',
          message:
            onInstance.length > 0
              ? 'The token is the webhook secret of another project: a project webhook secret delivers its own project’s events only.'
              : 'The project URLs in the event do not belong to the GitLab instance whose token was presented (same host, https unless the instance is marked insecure).',
        });
      }

      const host = new URL(instance.host).hostname;
      const checkId = securityCheckId(instance.prefix, host, change.project.pathWithNamespace, change.commit.sha);
      const jobs = matchJobs(deps.policy, 'gitlab', classified.kind, req.body);
      const [first] = jobs;
      if (!first) return reply.status(200).send({ status: 'ignored', reason: 'no job in config.yml matches this event' });

      const raw = rawBodies.get(req) ?? Buffer.from(JSON.stringify(req.body));
      const delivery = h['idempotency-key']
        ? { key: h['idempotency-key'], keySource: 'idempotency-key' as const }
        : h['x-gitlab-event-uuid']
          ? { key: h['x-gitlab-event-uuid'], keySource: 'event-uuid' as const }
          : { key: `sha256:${createHash('sha256').update(raw).digest('hex')}`, keySource: 'body-sha256' as const };
      const planError =
        jobs.length > 1 ? { reason: `${jobs.length} jobs match this event; exactly one may: ${jobs.map((j) => j.name).join(', ')}`, jobs: jobs.map((j) => j.name) } : undefined;

      const event = buildEventReceived({
        host,
        instance,
        kind: classified.kind,
        hook: classified.hook,
        delivery: {
          ...delivery,
          ...(h['x-gitlab-instance'] ? { gitlabInstance: h['x-gitlab-instance'] } : {}),
          ...(h['user-agent'] ? { userAgent: h['user-agent'].slice(0, 200) } : {}),
        },
        checkId,
        change,
        job: planError ? null : toJobPlan(first),
        ...(planError ? { planError } : {}),
        now: now(),
      });

      try {
        const ack = await deps.publisher.publish(EventReceivedV1, event);
        deps.log.info(
          { correlationId: event.correlationId, securityCheckId: checkId, eventId: event.id, eventType: classified.kind, project: change.project.pathWithNamespace, job: planError ? null : first.name, duplicate: ack.duplicate, streamSequence: ack.seq },
          'Webhook accepted',
        );
        return reply.status(202).send({
          status: 'accepted',
          security_check_id: checkId,
          event_id: event.id,
          duplicate: ack.duplicate,
          job: planError ? null : first.name,
          ...(planError ? { plan_error: planError.reason } : {}),
        });
      } catch (err) {
        if (!(err instanceof RetryableError)) throw err;
        deps.log.error({ correlationId: event.correlationId, err: err.message }, 'Webhook not accepted: event log unavailable');
        return reply
          .status(503)
          .header('retry-after', '5')
          .send({ error: 'event_log_unavailable', message: 'The event log (NATS JetStream) did not store the event; nothing was started. Retry the delivery.' });
      }
    },
  );
}

type Issue = { path: string; message: string };

function toChange(kind: 'push' | 'tag_push' | 'merge_request', body: unknown): ChangeDecision | { invalid: Issue[] } {
  if (kind === 'merge_request') {
    const mr = MergeRequestPayload.safeParse(body);
    return mr.success ? mergeRequestToChange(mr.data) : { invalid: issuesOf(mr.error) };
  }
  const push = PushPayload.safeParse(body);
  return push.success ? pushToChange(push.data, kind) : { invalid: issuesOf(push.error) };
}

const issuesOf = (e: z.ZodError): Issue[] =>
  e.issues.map((i) => ({ path: i.path.map(String).join('.') || '(body)', message: i.message }));
