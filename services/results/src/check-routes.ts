import { SecurityCheckIdSchema } from '@secbot/contracts';
import { ErrorBody, type AuthFailureLimiter, type HttpServer } from '@secbot/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Database } from './adapters/postgres/database.ts';
import { activeExceptions, findCheck, findState, findStatus } from './adapters/postgres/projection-store.ts';
import { refuse, type CheckAccess, type CheckCredentials } from './check-access.ts';
import { toCheckDetails } from './check-details.ts';
import { effectiveStatus, type ActiveException, type CheckState } from './check-status.ts';

const Params = z.object({
  security_check_id: SecurityCheckIdSchema.describe('PREFIX_ + sha256 of HOST:PROJECT_PATH_COMMITSHA'),
});

const StatusBody = z.object({
  status: z
    .enum(['not_started', 'in_progress', 'success', 'fail', 'error'])
    .describe('not_started: no event for this id yet; in_progress: scans or outputs pending; success / fail / error: final'),
});

export interface CheckRoutesDeps {
  db: Database;
  publicUrl: string;
  /** Who may see the check's details: the same as its report (check-access.ts). */
  authorize(credentials: CheckCredentials, state: CheckState): Promise<CheckAccess>;
  /** Failed authentications per client (RESULTS_AUTH_FAILURES_PER_MINUTE): past it, 429 before any check. */
  authFailures: AuthFailureLimiter;
  /** Called when a read finds the check failing: outputs backed by an external system may look at triage again. */
  onFailedRead?: (state: CheckState) => void;
  now?: () => Date;
}

/** Exceptions that could cover the built-in output's blocking findings of this check. */
function exceptionsFor(db: Database, state: CheckState, now: Date): Promise<ActiveException[]> {
  if (!state.context) return Promise.resolve([]);
  const fingerprints = Object.values(state.outputs)
    .filter((o) => o.handler === 'builtin')
    .flatMap((o) => o.blocking.map((f) => f.fingerprint));
  return activeExceptions(db, state.context.instance.host, [...new Set(fingerprints)], now);
}

export function registerCheckRoutes(app: HttpServer, deps: CheckRoutesDeps): void {
  const now = deps.now ?? (() => new Date());

  app.get(
    '/v1/security/gitlab/check/:security_check_id',
    {
      schema: {
        tags: ['checks'],
        summary: 'The status of a security check, as the CI gate reads it',
        params: Params,
        response: { 200: StatusBody, 422: ErrorBody },
      },
    },
    async (req) => {
      const id = req.params.security_check_id;
      const stored = await findStatus(deps.db, id);
      if (stored !== 'fail') return { status: StatusBody.shape.status.parse(stored ?? 'not_started') };
      // Only a failing check can change without an event about it: an exception, or triage elsewhere.
      const state = await findState(deps.db, id);
      if (!state) return { status: 'not_started' as const };
      const at = now();
      const status = effectiveStatus(state, await exceptionsFor(deps.db, state, at), at);
      if (status === 'fail') deps.onFailedRead?.(state);
      return { status };
    },
  );

  app.get(
    '/v1/security/gitlab/check/:security_check_id/details',
    {
      onRequest: async (req: FastifyRequest, reply: FastifyReply) => (deps.authFailures.refuseBlocked(req, reply) ? reply : undefined),
      schema: {
        tags: ['checks'],
        summary: 'Everything about a security check: project, commit, job, scans, outputs, blocking findings, timeline',
        description:
          'Findings never include the secret value. 404 when no event mentions this id yet. It shows what the report shows and more, so it asks the same: JOB-TOKEN: $CI_JOB_TOKEN (a running job of the check’s project), Authorization: Bearer <SECBOT_READ_TOKEN>, or `?t=` of a link SecBot posted (merge request note, commit status, Slack).',
        params: Params,
        querystring: z.object({ t: z.string().max(200).optional().describe('The token of a signed link') }),
        headers: z.object({ 'job-token': z.string().optional(), authorization: z.string().optional() }),
        response: { 200: z.unknown(), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 422: ErrorBody, 429: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      const id = req.params.security_check_id;
      const notFound = () => reply.status(404).send({ error: 'not_found', message: 'No event mentions this security check yet (status not_started).' });
      // Authorize before reading the timeline: a refused caller costs one small read.
      const known = await findState(deps.db, id);
      if (!known) return notFound();
      const auth = await deps.authorize({ headers: req.headers, linkToken: req.query.t }, known);
      if (!auth.ok) return refuse(req, reply, auth, deps.authFailures);
      const view = await findCheck(deps.db, id);
      if (!view) return notFound();
      const state = view.row.state;
      const at = now();
      return toCheckDetails(id, state, view.timeline, `${deps.publicUrl}/v1/security/gitlab/check/${id}/details`, await exceptionsFor(deps.db, state, at), at);
    },
  );
}
