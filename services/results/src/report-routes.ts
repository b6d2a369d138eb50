import { createHash, timingSafeEqual } from 'node:crypto';
import { SecurityCheckIdSchema } from '@secbot/contracts';
import { ErrorBody, type HttpServer, type Logger } from '@secbot/service-kit';
import { z } from 'zod';
import type { GitLabJobsClient } from '@secbot/service-kit';
import type { Database } from './adapters/postgres/database.ts';
import { activeExceptions, findState } from './adapters/postgres/projection-store.ts';
import { blockingFindings, effectiveStatus, type CheckState } from './check-status.ts';
import { toSarif, toSecretDetectionReport } from './security-report.ts';

export interface ReportRoutesDeps {
  db: Database;
  gitlab: GitLabJobsClient;
  publicUrl: string;
  /** A token for clients other than GitLab CI jobs (Authorization: Bearer). */
  readToken: string | undefined;
  log: Logger;
  /** How long a verified job token stays trusted for a project. */
  cacheSeconds?: number;
  now?: () => Date;
}

const digest = (s: string) => createHash('sha256').update(s).digest();
const sameSecret = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

/**
 * The check's blocking findings as a GitLab secret-detection report (default) or SARIF (`?format=sarif`).
 * They reveal findings, so the caller must prove it may see them: a running CI job of the check's project
 * (its CI_JOB_TOKEN in the JOB-TOKEN header, verified with the check's GitLab instance and cached briefly),
 * or SECBOT_READ_TOKEN as a bearer token. The status endpoint stays open, as the seed's CI snippet needs.
 */
export function registerReportRoutes(app: HttpServer, deps: ReportRoutesDeps): void {
  const now = deps.now ?? (() => new Date());
  const ttlMs = (deps.cacheSeconds ?? 60) * 1000;
  const verified = new Map<string, { projectId: number; until: number }>();

  const authorize = async (headers: Record<string, string | string[] | undefined>, state: CheckState): Promise<{ ok: true } | { ok: false; status: 401 | 403 | 503; message: string }> => {
    const bearer = /^Bearer (.+)$/.exec(String(headers['authorization'] ?? ''))?.[1];
    if (bearer && deps.readToken && sameSecret(bearer, deps.readToken)) return { ok: true };
    const jobToken = headers['job-token'];
    if (typeof jobToken !== 'string' || !jobToken) {
      return { ok: false, status: 401, message: 'Send the CI job token (JOB-TOKEN: $CI_JOB_TOKEN) or Authorization: Bearer <SECBOT_READ_TOKEN>.' };
    }
    if (!state.context) return { ok: false, status: 403, message: 'This check has no project to verify the job against.' };
    const instanceUrl = state.context.instance.url;
    const key = `${instanceUrl}\u0000${digest(jobToken).toString('hex')}`;
    let entry = verified.get(key);
    if (!entry || entry.until < Date.now()) {
      const job = await deps.gitlab.currentJob(instanceUrl, jobToken);
      if (!job.ok) return { ok: false, status: job.reason === 'rejected' ? 401 : 503, message: job.message };
      entry = { projectId: job.projectId, until: Date.now() + ttlMs };
      verified.set(key, entry);
      if (verified.size > 10_000) verified.clear();
    }
    if (entry.projectId !== state.context.project.id) {
      deps.log.warn({ securityCheckId: state.securityCheckId, jobProjectId: entry.projectId }, 'Report refused: job of another project');
      return { ok: false, status: 403, message: 'The job token belongs to a job of another project.' };
    }
    return { ok: true };
  };

  app.get(
    '/v1/security/gitlab/check/:security_check_id/report',
    {
      schema: {
        tags: ['checks'],
        summary: 'Blocking findings as a GitLab secret-detection report (schema 15.2.1) or SARIF 2.1.0',
        description: 'Authenticate with JOB-TOKEN: $CI_JOB_TOKEN (a running job of the check’s project) or Authorization: Bearer <SECBOT_READ_TOKEN>.',
        params: z.object({ security_check_id: SecurityCheckIdSchema }),
        querystring: z.object({ format: z.enum(['gitlab', 'sarif']).default('gitlab') }),
        headers: z.object({ 'job-token': z.string().optional(), authorization: z.string().optional() }),
        response: { 200: z.unknown(), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      const id = req.params.security_check_id;
      const state = await findState(deps.db, id);
      if (!state) return reply.status(404).send({ error: 'not_found', message: 'No event mentions this security check yet (status not_started).' });
      const auth = await authorize(req.headers, state);
      if (!auth.ok) return reply.status(auth.status).send({ error: auth.status === 503 ? 'gitlab_unavailable' : 'unauthorized', message: auth.message });
      if (state.status === 'in_progress') return reply.status(409).send({ error: 'in_progress', message: 'The check has not finished; poll its status first.' });
      const at = now();
      const fingerprints = Object.values(state.outputs).flatMap((o) => o.blocking.map((f) => f.fingerprint));
      const exceptions = state.context ? await activeExceptions(deps.db, state.context.instance.host, [...new Set(fingerprints)], at) : [];
      const effective = { ...state, status: effectiveStatus(state, exceptions, at) };
      const findings = blockingFindings(state, exceptions, at).filter((b) => !b.exception);
      const toolVersion = Object.values(state.scans).find((s) => s.tool)?.tool?.version ?? 'unknown';
      const opts = { toolVersion, detailsUrl: `${deps.publicUrl}/v1/security/gitlab/check/${id}/details` };
      return req.query.format === 'sarif' ? toSarif(effective, findings, opts) : toSecretDetectionReport(effective, findings, opts);
    },
  );
}
