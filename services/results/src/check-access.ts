import { createHash, timingSafeEqual } from 'node:crypto';
import { verifyCheckLink, type AuthFailureLimiter, type GitLabJobsClient, type Logger } from '@secbot/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CheckState } from './check-status.ts';

export interface CheckAccessDeps {
  gitlab: GitLabJobsClient;
  /** A token for clients other than GitLab CI jobs (Authorization: Bearer). */
  readToken: string | undefined;
  /** SECBOT_LINK_SIGNING_KEY: verifies the `?t=` of links SecBot posts for people. Unset: no link is accepted. */
  linkSigningKey: string | undefined;
  log: Logger;
  now?: () => Date;
}

export type CheckAccess =
  | { ok: true; by: 'read-token' | 'link' | 'job-token' }
  | { ok: false; status: 401 | 403 | 429 | 503; error: string; message: string; retryAfterSeconds?: number };

export interface CheckCredentials {
  headers: Record<string, string | string[] | undefined>;
  /** The `t` query parameter of a signed link. */
  linkToken?: string | undefined;
}

const digest = (s: string) => createHash('sha256').update(s).digest();
const sameSecret = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

const ASK = 'Send the CI job token (JOB-TOKEN: $CI_JOB_TOKEN), Authorization: Bearer <SECBOT_READ_TOKEN>, or open the link SecBot posted (merge request note, commit status, Slack).';

/**
 * Who may see a check's findings (its report and its details), decided in one place. Any one of:
 * - `Authorization: Bearer <SECBOT_READ_TOKEN>`;
 * - `?t=<token>` of a link SecBot posted for people: an HMAC over the check id and an expiry (SECBOT_LINK_SIGNING_KEY);
 * - `JOB-TOKEN: <CI_JOB_TOKEN>` of a job GitLab says is running in the check's project. The project is compared by
 *   PATH, taken from the job's `web_url` in GitLab's answer, with the path the check id is computed from; never by
 *   the hook payload's `project.id`, which anyone holding the webhook secret can pair with any path. Any commit of
 *   the project may be read (the job's pipeline sha is not compared): the job can read the project's repository,
 *   whose commits the findings point at, anyway. GitLab's answers are cached and rate-limited in one place, the
 *   GitLab jobs client (service-kit's gitlab-jobs.ts), shared by every route that verifies job tokens.
 */
export function createCheckAccess(deps: CheckAccessDeps): (credentials: CheckCredentials, state: CheckState) => Promise<CheckAccess> {
  const now = deps.now ?? (() => new Date());

  return async ({ headers, linkToken }, state) => {
    const bearer = /^Bearer (.+)$/.exec(String(headers['authorization'] ?? ''))?.[1];
    if (bearer && deps.readToken && sameSecret(bearer, deps.readToken)) return { ok: true, by: 'read-token' };
    const jobToken = headers['job-token'];
    const hasJobToken = typeof jobToken === 'string' && jobToken.length > 0;

    if (linkToken !== undefined) {
      const link = deps.linkSigningKey
        ? verifyCheckLink(deps.linkSigningKey, state.securityCheckId, linkToken, now())
        : ({ ok: false, message: 'This SecBot verifies no links (SECBOT_LINK_SIGNING_KEY is not set).' } as const);
      if (link.ok) return { ok: true, by: 'link' };
      if (!hasJobToken) return { ok: false, status: 401, error: 'unauthorized', message: `${link.message} ${ASK}` };
    }
    if (!hasJobToken) return { ok: false, status: 401, error: 'unauthorized', message: ASK };

    if (!state.context) return { ok: false, status: 403, error: 'forbidden', message: 'This check has no project to verify the job against.' };
    const job = await deps.gitlab.currentJob(state.context.instance.url, jobToken);
    if (!job.ok) {
      if (job.reason === 'rejected') return { ok: false, status: 401, error: 'unauthorized', message: job.message };
      if (job.reason === 'rate_limited') return { ok: false, status: 429, error: 'too_many_lookups', message: job.message, retryAfterSeconds: job.retryAfterSeconds };
      return { ok: false, status: 503, error: 'gitlab_unavailable', message: job.message, retryAfterSeconds: 5 };
    }
    const entry = { projectPath: job.projectPath };
    const checkPath = state.context.project.pathWithNamespace;
    if (!entry.projectPath || entry.projectPath.toLowerCase() !== checkPath.toLowerCase()) {
      deps.log.warn({ securityCheckId: state.securityCheckId, jobProjectPath: entry.projectPath ?? null }, 'Check refused: job of another project');
      return {
        ok: false,
        status: 403,
        error: 'forbidden',
        message: entry.projectPath ? 'The job token belongs to a job of another project.' : 'GitLab’s answer does not name the job’s project (web_url on another host); the job cannot be matched to this check.',
      };
    }
    return { ok: true, by: 'job-token' };
  };
}

/** Answers a refused read; a wrong or missing credential counts against the client (429 past its budget). */
export function refuse(req: FastifyRequest, reply: FastifyReply, auth: Extract<CheckAccess, { ok: false }>, failures: AuthFailureLimiter): FastifyReply {
  if (auth.status === 401 || auth.status === 403) failures.failed(req);
  if (auth.retryAfterSeconds !== undefined) void reply.header('retry-after', String(auth.retryAfterSeconds));
  return reply.status(auth.status).send({ error: auth.error, message: auth.message });
}
