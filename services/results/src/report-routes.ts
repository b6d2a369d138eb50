import { SecurityCheckIdSchema } from '@secbot/contracts';
import { ErrorBody, type AuthFailureLimiter, type HttpServer } from '@secbot/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { refuse, type CheckAccess, type CheckCredentials } from './check-access.ts';
import type { Database } from './adapters/postgres/database.ts';
import { activeExceptions, findState } from './adapters/postgres/projection-store.ts';
import { blockingFindings, effectiveStatus, type CheckState } from './check-status.ts';
import { toSarif, toSecretDetectionReport } from './security-report.ts';

export interface ReportRoutesDeps {
  db: Database;
  /** Who may see the check's findings (check-access.ts), shared with the details route. */
  authorize(credentials: CheckCredentials, state: CheckState): Promise<CheckAccess>;
  /** Failed authentications per client (RESULTS_AUTH_FAILURES_PER_MINUTE): past it, 429 before any check. */
  authFailures: AuthFailureLimiter;
  /** The details URL the report points people at (signed when links are signed). */
  detailsLink(checkId: string): string;
  now?: () => Date;
}

/**
 * The check's blocking findings as a GitLab secret-detection report (default) or SARIF (`?format=sarif`).
 * They reveal findings, so the caller must prove it may see them (`authorize`, as for the details: a running CI
 * job of the check's project, SECBOT_READ_TOKEN, or a signed link). The status endpoint stays open, as the CI gate
 * needs.
 */
export function registerReportRoutes(app: HttpServer, deps: ReportRoutesDeps): void {
  const now = deps.now ?? (() => new Date());

  app.get(
    '/v1/security/gitlab/check/:security_check_id/report',
    {
      onRequest: async (req: FastifyRequest, reply: FastifyReply) => (deps.authFailures.refuseBlocked(req, reply) ? reply : undefined),
      schema: {
        tags: ['checks'],
        summary: 'Blocking findings as a GitLab secret-detection report (schema 15.2.1) or SARIF 2.1.0',
        description:
          'Authenticate with JOB-TOKEN: $CI_JOB_TOKEN (a running job of the check’s project, matched by project path), Authorization: Bearer <SECBOT_READ_TOKEN>, or the `t` of a link SecBot posted.',
        params: z.object({ security_check_id: SecurityCheckIdSchema }),
        querystring: z.object({ format: z.enum(['gitlab', 'sarif']).default('gitlab'), t: z.string().max(200).optional().describe('The token of a signed link') }),
        headers: z.object({ 'job-token': z.string().optional(), authorization: z.string().optional() }),
        response: { 200: z.unknown(), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, 429: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      const id = req.params.security_check_id;
      const state = await findState(deps.db, id);
      if (!state) return reply.status(404).send({ error: 'not_found', message: 'No event mentions this security check yet (status not_started).' });
      const auth = await deps.authorize({ headers: req.headers, linkToken: req.query.t }, state);
      if (!auth.ok) return refuse(req, reply, auth, deps.authFailures);
      if (state.status === 'in_progress') return reply.status(409).send({ error: 'in_progress', message: 'The check has not finished; poll its status first.' });
      const at = now();
      const fingerprints = Object.values(state.outputs).flatMap((o) => o.blocking.map((f) => f.fingerprint));
      const exceptions = state.context ? await activeExceptions(deps.db, state.context.instance.host, [...new Set(fingerprints)], at) : [];
      const effective = { ...state, status: effectiveStatus(state, exceptions, at) };
      const findings = blockingFindings(state, exceptions, at).filter((b) => !b.exception);
      const toolVersion = Object.values(state.scans).find((s) => s.tool)?.tool?.version ?? 'unknown';
      const opts = { toolVersion, detailsUrl: deps.detailsLink(id) };
      return req.query.format === 'sarif' ? toSarif(effective, findings, opts) : toSecretDetectionReport(effective, findings, opts);
    },
  );
}
