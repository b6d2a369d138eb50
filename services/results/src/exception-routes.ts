import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { deterministicId, ExceptionCreatedV1, ExceptionRevokedV1 } from '@secbot/contracts';
import { ErrorBody, RetryableError, type AuthFailureLimiter, type HttpServer, type Publisher } from '@secbot/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Database } from './adapters/postgres/database.ts';
import { findException, listExceptions } from './adapters/postgres/projection-store.ts';

export interface ExceptionRoutesDeps {
  db: Database;
  publisher: Publisher;
  /** The API's tokens: name → sha256 hex of the token. Empty: the API refuses every call (403). */
  apiTokens: Record<string, string>;
  /** An exception expires at most this many days after its creation. */
  maxDays: number;
  /** Whether an exception may cover a whole GitLab instance. */
  allowInstanceScope: boolean;
  /** Resolves once the projection has applied stream sequence `seq`. */
  applied(seq: number): Promise<void>;
  /** Failed authentications per client: past the budget, 429 before the token is compared. */
  authFailures: AuthFailureLimiter;
  now?: () => Date;
}

const DAY_MS = 86_400_000;

/** The caller no longer says who it is: the name of its token is recorded. A body naming someone is refused. */
const NOT_ACCEPTED = 'is not accepted: the name of the API token you send is recorded (SECBOT_API_TOKENS)';

const CreateBody = z
  .object({
    fingerprint: z.string().min(1).max(500).describe('The finding fingerprint, as listed in the check details'),
    scope: z.enum(['project', 'instance']).describe('instance only when SECBOT_ALLOW_INSTANCE_EXCEPTIONS=true'),
    instance_host: z.string().min(1).max(255).describe('GitLab host name, e.g. gitlab.example.com'),
    project_path: z.string().min(1).max(500).optional().describe('Required for scope project, e.g. group/app'),
    owner: z.unknown().optional().describe('Refused (422): the owner recorded is the name of the caller’s API token'),
    reason: z.string().min(1).max(2000),
    expires_at: z.iso.datetime({ offset: true }).describe('Required: in the future, at most SECBOT_EXCEPTION_MAX_DAYS (default 90) ahead'),
  })
  .superRefine((b, ctx) => {
    if (b.owner !== undefined) ctx.addIssue({ code: 'custom', path: ['owner'], message: NOT_ACCEPTED });
    if (b.scope === 'project' && !b.project_path) ctx.addIssue({ code: 'custom', path: ['project_path'], message: 'is required for scope project' });
    if (b.scope === 'instance' && b.project_path) ctx.addIssue({ code: 'custom', path: ['project_path'], message: 'must be absent for scope instance' });
  });

const RevokeBody = z
  .object({ revoked_by: z.unknown().optional().describe('Refused (422): who revoked is the name of the caller’s API token') })
  .superRefine((b, ctx) => {
    if (b.revoked_by !== undefined) ctx.addIssue({ code: 'custom', path: ['revoked_by'], message: NOT_ACCEPTED });
  })
  .nullish(); // Fastify hands a request without a body as null

const sha256 = (s: string) => createHash('sha256').update(s).digest();

const ExceptionView = z.object({
  id: z.string(),
  fingerprint: z.string(),
  scope: z.union([
    z.object({ kind: z.literal('project'), instanceHost: z.string(), projectPath: z.string() }),
    z.object({ kind: z.literal('instance'), instanceHost: z.string() }),
  ]),
  owner: z.string(),
  reason: z.string(),
  expiresAt: z.string().nullable(),
  createdAt: z.string().optional(),
  revokedAt: z.string().nullable().optional(),
  revokedBy: z.string().nullable().optional(),
});

/**
 * Exceptions to the built-in output: every finding blocks unless an active exception covers its fingerprint.
 * Each change is an event on the stream (the audit trail); the reply comes once the projection has applied it,
 * so the next status read already reflects it.
 */
export function registerExceptionRoutes(app: HttpServer, deps: ExceptionRoutesDeps): void {
  const now = deps.now ?? (() => new Date());
  const tokens = Object.entries(deps.apiTokens).map(([name, hex]) => ({ name, hash: Buffer.from(hex, 'hex') }));
  /** The name of the caller's token, set by `authenticate` before the body is read. */
  const caller = new WeakMap<FastifyRequest, string>();
  /** Every token is compared (in constant time), so the time taken does not tell which one nearly matched. */
  const nameOf = (presented: string): string | undefined => {
    const hash = sha256(presented);
    let found: string | undefined;
    for (const t of tokens) if (timingSafeEqual(hash, t.hash) && found === undefined) found = t.name;
    return found;
  };
  const authenticate = async (req: FastifyRequest, reply: FastifyReply) => {
    if (deps.authFailures.refuseBlocked(req, reply)) return reply;
    if (tokens.length === 0) {
      return reply.status(403).send({ error: 'api_token_not_configured', message: 'Set SECBOT_API_TOKENS on the results service to use the exception API.' });
    }
    const presented = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const name = presented ? nameOf(presented) : undefined;
    if (!name) {
      deps.authFailures.failed(req);
      return reply.status(401).header('www-authenticate', 'Bearer').header('connection', 'close').send({ error: 'unauthorized', message: 'Send Authorization: Bearer <a token named in SECBOT_API_TOKENS>.' });
    }
    caller.set(req, name);
    return undefined;
  };
  const nameOfCaller = (req: FastifyRequest) => {
    const name = caller.get(req);
    if (!name) throw new Error('exception route without authentication');
    return name;
  };
  const durable = async <T>(reply: FastifyReply, publish: () => Promise<{ seq: number }>, then: () => T) => {
    try {
      const { seq } = await publish();
      await deps.applied(seq);
      return then();
    } catch (err) {
      if (!(err instanceof RetryableError)) throw err;
      return reply.status(503).header('retry-after', '5').send({ error: 'event_log_unavailable', message: 'The event log did not store the change; nothing changed. Retry.' });
    }
  };

  app.post(
    '/v1/security/exceptions',
    {
      onRequest: authenticate,
      schema: {
        tags: ['exceptions'],
        summary: 'Accept a finding (by fingerprint) for a project or a whole GitLab instance',
        description:
          'Requires Authorization: Bearer <a token named in SECBOT_API_TOKENS>; its name is recorded as the owner (a body `owner` is refused). `expires_at` is required, at most SECBOT_EXCEPTION_MAX_DAYS ahead; scope `instance` only when SECBOT_ALLOW_INSTANCE_EXCEPTIONS=true (else 403). An Idempotency-Key header makes retries create one exception.',
        headers: z.object({ 'idempotency-key': z.string().max(200).optional() }),
        body: CreateBody,
        response: { 201: ExceptionView, 401: ErrorBody, 403: ErrorBody, 422: ErrorBody, 429: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      const owner = nameOfCaller(req);
      const b = req.body;
      const at = now();
      const expiresAt = new Date(b.expires_at);
      if (expiresAt <= at) return reply.status(422).send({ error: 'invalid_request', message: 'expires_at must be in the future.' });
      if (expiresAt.getTime() > at.getTime() + deps.maxDays * DAY_MS) {
        return reply.status(422).send({ error: 'invalid_request', message: `expires_at must be at most ${deps.maxDays} days ahead (SECBOT_EXCEPTION_MAX_DAYS); renew the exception when it lapses.` });
      }
      if (b.scope === 'instance' && !deps.allowInstanceScope) {
        return reply.status(403).send({ error: 'instance_scope_not_allowed', message: 'Exceptions for a whole GitLab instance are turned off (SECBOT_ALLOW_INSTANCE_EXCEPTIONS); create one per project.' });
      }
      const key = req.headers['idempotency-key'];
      const exceptionId = key ? deterministicId('exception', key) : randomUUID();
      const scope = b.scope === 'project' ? { kind: 'project' as const, instanceHost: b.instance_host, projectPath: b.project_path ?? '' } : { kind: 'instance' as const, instanceHost: b.instance_host };
      const data = { exceptionId, fingerprint: b.fingerprint, scope, owner, reason: b.reason, expiresAt: expiresAt.toISOString() };
      return durable(
        reply,
        () =>
          deps.publisher.publish(ExceptionCreatedV1, {
            id: deterministicId('exception.created', exceptionId),
            type: 'exception.created',
            version: 1,
            occurredAt: at.toISOString(),
            correlationId: `api:${exceptionId}`,
            source: 'results',
            data,
          }),
        () => reply.status(201).send({ id: exceptionId, ...data }),
      );
    },
  );

  app.get(
    '/v1/security/exceptions',
    {
      onRequest: authenticate,
      schema: {
        tags: ['exceptions'],
        summary: 'List exceptions (active ones unless include_inactive=true)',
        querystring: z.object({
          instance_host: z.string().optional(),
          project_path: z.string().optional().describe('Exceptions for this project and instance-wide ones'),
          include_inactive: z.enum(['true', 'false']).optional(),
        }),
        response: { 200: z.object({ exceptions: z.array(ExceptionView) }), 401: ErrorBody, 403: ErrorBody, 429: ErrorBody },
      },
    },
    async (req) => {
      const q = req.query;
      return {
        exceptions: await listExceptions(deps.db, { instanceHost: q.instance_host, projectPath: q.project_path, includeInactive: q.include_inactive === 'true' }, now()),
      };
    },
  );

  app.delete(
    '/v1/security/exceptions/:id',
    {
      onRequest: authenticate,
      schema: {
        tags: ['exceptions'],
        summary: 'Revoke an exception: its finding blocks again from the next status read',
        params: z.object({ id: z.uuid() }),
        description: 'Who revoked is the name of the caller’s API token; send no body (a body `revoked_by` is refused).',
        body: RevokeBody,
        response: { 204: z.null(), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 422: ErrorBody, 429: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      const revokedBy = nameOfCaller(req);
      const existing = await findException(deps.db, req.params.id);
      if (!existing) return reply.status(404).send({ error: 'not_found', message: 'No exception has this id.' });
      if (existing.revokedAt) return reply.status(204).send(null);
      return durable(
        reply,
        () =>
          deps.publisher.publish(ExceptionRevokedV1, {
            id: deterministicId('exception.revoked', req.params.id),
            type: 'exception.revoked',
            version: 1,
            occurredAt: now().toISOString(),
            correlationId: `api:${req.params.id}`,
            source: 'results',
            data: { exceptionId: req.params.id, revokedBy },
          }),
        () => reply.status(204).send(null),
      );
    },
  );
}
