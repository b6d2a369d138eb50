import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { deterministicId, ExceptionCreatedV1, ExceptionRevokedV1 } from '@secbot/contracts';
import { ErrorBody, RetryableError, type HttpServer, type Publisher } from '@secbot/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Database } from './adapters/postgres/database.ts';
import { findException, listExceptions } from './adapters/postgres/projection-store.ts';

export interface ExceptionRoutesDeps {
  db: Database;
  publisher: Publisher;
  /** Bearer token for the exception API; undefined: the API refuses every call (403). */
  apiToken: string | undefined;
  /** Resolves once the projection has applied stream sequence `seq`. */
  applied(seq: number): Promise<void>;
  now?: () => Date;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

const CreateBody = z
  .object({
    fingerprint: z.string().min(1).max(500).describe('The finding fingerprint, as listed in the check details'),
    scope: z.enum(['project', 'instance']),
    instance_host: z.string().min(1).max(255).describe('GitLab host name, e.g. gitlab.example.com'),
    project_path: z.string().min(1).max(500).optional().describe('Required for scope project, e.g. group/app'),
    owner: z.string().min(1).max(200).describe('Who answers for this exception'),
    reason: z.string().min(1).max(2000),
    expires_at: z.iso.datetime({ offset: true }).optional().describe('Absent: until revoked'),
  })
  .superRefine((b, ctx) => {
    if (b.scope === 'project' && !b.project_path) ctx.addIssue({ code: 'custom', path: ['project_path'], message: 'is required for scope project' });
    if (b.scope === 'instance' && b.project_path) ctx.addIssue({ code: 'custom', path: ['project_path'], message: 'must be absent for scope instance' });
  });

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
  const authorized = (req: FastifyRequest, reply: FastifyReply): boolean => {
    if (!deps.apiToken) {
      void reply.status(403).send({ error: 'api_token_not_configured', message: 'Set SECBOT_API_TOKEN on the results service to use the exception API.' });
      return false;
    }
    const presented = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!presented || !timingSafeEqual(digest(presented), digest(deps.apiToken))) {
      void reply.status(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', message: 'Send Authorization: Bearer <SECBOT_API_TOKEN>.' });
      return false;
    }
    return true;
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
      schema: {
        tags: ['exceptions'],
        summary: 'Accept a finding (by fingerprint) for a project or a whole GitLab instance',
        description: 'Requires Authorization: Bearer <SECBOT_API_TOKEN>. An Idempotency-Key header makes retries create one exception.',
        headers: z.object({ 'idempotency-key': z.string().max(200).optional() }),
        body: CreateBody,
        response: { 201: ExceptionView, 401: ErrorBody, 403: ErrorBody, 422: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      if (!authorized(req, reply)) return reply;
      const b = req.body;
      if (b.expires_at && new Date(b.expires_at) <= now()) {
        return reply.status(422).send({ error: 'invalid_request', message: 'expires_at must be in the future.' });
      }
      const key = req.headers['idempotency-key'];
      const exceptionId = key ? deterministicId('exception', key) : randomUUID();
      const scope = b.scope === 'project' ? { kind: 'project' as const, instanceHost: b.instance_host, projectPath: b.project_path ?? '' } : { kind: 'instance' as const, instanceHost: b.instance_host };
      const data = { exceptionId, fingerprint: b.fingerprint, scope, owner: b.owner, reason: b.reason, expiresAt: b.expires_at ?? null };
      return durable(
        reply,
        () =>
          deps.publisher.publish(ExceptionCreatedV1, {
            id: deterministicId('exception.created', exceptionId),
            type: 'exception.created',
            version: 1,
            occurredAt: now().toISOString(),
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
      schema: {
        tags: ['exceptions'],
        summary: 'List exceptions (active ones unless include_inactive=true)',
        querystring: z.object({
          instance_host: z.string().optional(),
          project_path: z.string().optional().describe('Exceptions for this project and instance-wide ones'),
          include_inactive: z.enum(['true', 'false']).optional(),
        }),
        response: { 200: z.object({ exceptions: z.array(ExceptionView) }), 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (req, reply) => {
      if (!authorized(req, reply)) return reply;
      const q = req.query;
      return {
        exceptions: await listExceptions(deps.db, { instanceHost: q.instance_host, projectPath: q.project_path, includeInactive: q.include_inactive === 'true' }, now()),
      };
    },
  );

  app.delete(
    '/v1/security/exceptions/:id',
    {
      schema: {
        tags: ['exceptions'],
        summary: 'Revoke an exception: its finding blocks again from the next status read',
        params: z.object({ id: z.uuid() }),
        body: z.object({ revoked_by: z.string().min(1).max(200) }),
        response: { 204: z.null(), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 422: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      if (!authorized(req, reply)) return reply;
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
            data: { exceptionId: req.params.id, revokedBy: req.body.revoked_by },
          }),
        () => reply.status(204).send(null),
      );
    },
  );
}
