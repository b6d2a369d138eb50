import { SecurityCheckIdSchema } from '@secbot/contracts';
import { ErrorBody, type HttpServer } from '@secbot/service-kit';
import { z } from 'zod';
import { findCheck, findStatus } from './adapters/postgres/projection-store.ts';
import type { Database } from './adapters/postgres/database.ts';
import { toCheckDetails } from './check-details.ts';

const Params = z.object({
  security_check_id: SecurityCheckIdSchema.describe('PREFIX_ + sha256 of HOST:PROJECT_PATH_COMMITSHA'),
});

const StatusBody = z.object({
  status: z
    .enum(['not_started', 'in_progress', 'success', 'fail', 'error'])
    .describe('not_started: no event for this id yet; in_progress: scans or outputs pending; success / fail / error: final'),
});

export function registerCheckRoutes(app: HttpServer, deps: { db: Database; publicUrl: string }): void {
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
      const status = await findStatus(deps.db, req.params.security_check_id);
      return { status: StatusBody.shape.status.parse(status ?? 'not_started') };
    },
  );

  app.get(
    '/v1/security/gitlab/check/:security_check_id/details',
    {
      schema: {
        tags: ['checks'],
        summary: 'Everything about a security check: project, commit, job, scans, outputs, blocking findings, timeline',
        description: 'Findings never include the secret value. 404 when no event mentions this id yet.',
        params: Params,
        response: { 200: z.unknown(), 404: ErrorBody, 422: ErrorBody },
      },
    },
    async (req, reply) => {
      const id = req.params.security_check_id;
      const view = await findCheck(deps.db, id);
      if (!view) return reply.status(404).send({ error: 'not_found', message: 'No event mentions this security check yet (status not_started).' });
      return toCheckDetails(id, view.row.state, view.timeline, `${deps.publicUrl}/v1/security/gitlab/check/${id}/details`);
    },
  );
}
