import { EventReceivedV1, GitSha, isGitRefName, isProjectPath, securityCheckId, type ChangeRange } from '@secbot/contracts';
import {
  ErrorBody,
  RetryableError,
  type AuthFailureLimiter,
  type GitLabInstanceConfig,
  type GitLabJobsClient,
  type HttpServer,
  type Logger,
  type Policy,
  type Publisher,
} from '@secbot/service-kit';
import { z } from 'zod';
import { buildEventReceived } from './event-received.ts';
import { matchJobs, toJobPlan } from './match-job.ts';
import type { Change } from './to-change.ts';

export interface CiCheckDeps {
  instances: GitLabInstanceConfig[];
  policy: Policy;
  publisher: Publisher;
  gitlab: GitLabJobsClient;
  log: Logger;
  /** Failed authentications per client, shared with the webhook route. */
  authFailures: AuthFailureLimiter;
  now?: () => Date;
}

const Branch = z.string().min(1).max(255).refine(isGitRefName, 'must be a branch or tag name git accepts (git check-ref-format), not starting with -');

const CiCheckBody = z.strictObject({
  host: z.string().min(1).max(255).describe('CI_SERVER_HOST'),
  project: z.string().min(1).max(500).refine(isProjectPath, 'must be a GitLab project path (group/project)').describe('CI_PROJECT_PATH'),
  sha: GitSha.describe('CI_COMMIT_SHA'),
  ref: Branch.optional().describe('CI_COMMIT_BRANCH (branch pipelines)'),
  tag: Branch.optional().describe('CI_COMMIT_TAG (tag pipelines)'),
  merge_request: z
    .strictObject({
      iid: z.number().int().positive().describe('CI_MERGE_REQUEST_IID'),
      source_branch: Branch.describe('CI_MERGE_REQUEST_SOURCE_BRANCH_NAME'),
      target_branch: Branch.describe('CI_MERGE_REQUEST_TARGET_BRANCH_NAME'),
    })
    .optional(),
});
type CiCheckBody = z.infer<typeof CiCheckBody>;

const Accepted = z.object({
  status: z.literal('accepted'),
  security_check_id: z.string(),
  event_id: z.string(),
  duplicate: z.boolean(),
  job: z.string().nullable(),
});
const Ignored = z.object({ status: z.literal('ignored'), reason: z.string() });

/**
 * POST /v1/gitlab/ci/checks: a CI job announces the commit its pipeline runs on, for commits no hook names
 * (fork merge requests, merged results pipelines). Authenticated by the job's own CI_JOB_TOKEN: GitLab must
 * confirm that the token's job runs, in this project, on this very commit; nothing in the body is trusted
 * beyond that. The commit is then judged like any other (its whole history), fetched from the project,
 * including the merge request's refs. Repository rules never come from such an announcement (the default
 * branch is not taken from the body), and rules match against a minimal body (see docs/gitlab-setup.md).
 */
export function registerCiCheckRoute(app: HttpServer, deps: CiCheckDeps): void {
  const now = deps.now ?? (() => new Date());
  app.post(
    '/v1/gitlab/ci/checks',
    {
      // The announcement is a few hundred bytes.
      bodyLimit: 16 * 1024,
      // Before the body is read: a blocked client gets 429, a request without a job token 401.
      onRequest: async (req, reply) => {
        if (deps.authFailures.refuseBlocked(req, reply)) return reply;
        const token = req.headers['job-token'];
        if (typeof token !== 'string' || token === '') {
          deps.authFailures.failed(req);
          return reply
            .status(401)
            .header('connection', 'close')
            .send({ error: 'unauthenticated', message: 'Send the job token of the running CI job: JOB-TOKEN: $CI_JOB_TOKEN.' });
        }
        return undefined;
      },
      schema: {
        tags: ['gitlab'],
        summary: 'Announce the commit of a running CI job (fork MRs, merged results)',
        description: 'Send JOB-TOKEN: $CI_JOB_TOKEN. SecBot asks GitLab which job the token belongs to, checks project and commit, and starts a check.',
        headers: z.object({ 'job-token': z.string().max(1000).optional().describe('$CI_JOB_TOKEN of the running job') }),
        body: CiCheckBody,
        response: { 200: Ignored, 202: Accepted, 401: ErrorBody, 403: ErrorBody, 413: ErrorBody, 422: ErrorBody, 429: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      const token = req.headers['job-token'] ?? '';
      const body = req.body;
      if (body.tag && body.merge_request) return reply.status(422).send({ error: 'invalid_request', message: 'A pipeline is for a tag or for a merge request, not both: send `tag` or `merge_request`.' });
      const instance = deps.instances.find((c) => new URL(c.host).hostname.toLowerCase() === body.host.toLowerCase());
      if (!instance) {
        return reply.status(403).send({ error: 'unknown_instance', message: `No GitLab instance with host ${body.host.slice(0, 255)} is configured in GITLAB_CONFIGS.` });
      }
      const job = await deps.gitlab.currentJob(instance.host, token);
      if (!job.ok) {
        if (job.reason === 'rejected') {
          deps.authFailures.failed(req);
          return reply.status(401).send({ error: 'job_token_rejected', message: job.message });
        }
        if (job.reason === 'rate_limited') return reply.status(429).header('retry-after', String(job.retryAfterSeconds)).send({ error: 'too_many_lookups', message: job.message });
        return reply.status(503).header('retry-after', '5').send({ error: 'gitlab_unavailable', message: job.message });
      }
      if (job.sha !== body.sha || !job.projectPath || job.projectPath.toLowerCase() !== body.project.toLowerCase()) deps.authFailures.failed(req);
      if (job.sha !== body.sha) {
        deps.log.warn({ project: body.project, jobId: job.jobId }, 'CI announcement refused: the job runs on another commit');
        return reply.status(403).send({ error: 'wrong_commit', message: "The job token's pipeline runs on another commit than `sha`." });
      }
      if (!job.projectPath || job.projectPath.toLowerCase() !== body.project.toLowerCase()) {
        deps.log.warn({ project: body.project, jobId: job.jobId }, 'CI announcement refused: the job belongs to another project');
        return reply.status(403).send({ error: 'wrong_project', message: "The job token belongs to a job of another project than `project`." });
      }

      const host = new URL(instance.host).hostname;
      const { kind, change, payload } = changeOf(body, job.projectId, instance.host);
      const checkId = securityCheckId(instance.prefix, host, change.project.pathWithNamespace, body.sha);
      const jobs = matchJobs(deps.policy, 'gitlab', kind, payload);
      const [first] = jobs;
      if (!first) return reply.status(200).send({ status: 'ignored', reason: 'no job in config.yml matches this event' });
      const planError =
        jobs.length > 1 ? { reason: `${jobs.length} jobs match this event; exactly one may: ${jobs.map((j) => j.name).join(', ')}`, jobs: jobs.map((j) => j.name) } : undefined;
      const event = buildEventReceived({
        host,
        instance,
        kind,
        hook: 'project',
        delivery: { key: `ci-job:${job.jobId}`, keySource: 'idempotency-key' },
        checkId,
        change,
        job: planError ? null : toJobPlan(first),
        ...(planError ? { planError } : {}),
        ciJob: { id: job.jobId, ...(job.pipelineId !== undefined ? { pipelineId: job.pipelineId } : {}) },
        now: now(),
      });
      try {
        const ack = await deps.publisher.publish(EventReceivedV1, event);
        deps.log.info({ securityCheckId: checkId, eventId: event.id, project: body.project, jobId: job.jobId, duplicate: ack.duplicate }, 'CI announcement accepted');
        return reply.status(202).send({ status: 'accepted', security_check_id: checkId, event_id: event.id, duplicate: ack.duplicate, job: planError ? null : first.name });
      } catch (err) {
        if (!(err instanceof RetryableError)) throw err;
        return reply
          .status(503)
          .header('retry-after', '5')
          .send({ error: 'event_log_unavailable', message: 'The event log (NATS JetStream) did not store the event; nothing was started. Retry.' });
      }
    },
  );
}

/** The change as a hook would have described it, and the minimal hook-like body the job rules match. */
function changeOf(body: CiCheckBody, projectId: number, instanceUrl: string): { kind: EventReceivedV1['data']['eventType']; change: Change; payload: unknown } {
  const webUrl = new URL(body.project, instanceUrl.endsWith('/') ? instanceUrl : `${instanceUrl}/`).href;
  const project = { id: projectId, pathWithNamespace: body.project, webUrl, gitHttpUrl: `${webUrl}.git`, defaultBranch: null };
  const projectPayload = { id: projectId, path_with_namespace: body.project, web_url: webUrl };
  const user = {};
  if (body.merge_request) {
    const mr = body.merge_request;
    const range: ChangeRange = {
      kind: 'merge_request',
      iid: mr.iid,
      targetBranch: mr.target_branch,
      sourceBranch: mr.source_branch,
      sourceGitHttpUrl: null,
      headRef: `refs/merge-requests/${mr.iid}/head`,
      lastCommit: body.sha,
      oldrev: null,
    };
    return {
      kind: 'merge_request',
      change: {
        project,
        user,
        urls: [],
        commit: { sha: body.sha, ref: `refs/heads/${mr.source_branch}` },
        range,
        mergeRequest: { iid: mr.iid, sourceBranch: mr.source_branch, targetBranch: mr.target_branch, targetProjectId: projectId },
      },
      payload: { object_kind: 'merge_request', project: projectPayload, object_attributes: { iid: mr.iid, source_branch: mr.source_branch, target_branch: mr.target_branch, last_commit: { id: body.sha } } },
    };
  }
  if (body.tag) {
    const ref = `refs/tags/${body.tag}`;
    return {
      kind: 'tag_push',
      change: { project, user, urls: [], commit: { sha: body.sha, ref }, range: { kind: 'tag', ref, tag: body.tag, commit: body.sha, tagObject: body.sha } },
      payload: { object_kind: 'tag_push', ref, checkout_sha: body.sha, project: projectPayload },
    };
  }
  const ref = `refs/heads/${body.ref ?? 'unknown'}`;
  return {
    kind: 'push',
    change: { project, user, urls: [], commit: { sha: body.sha, ref }, range: { kind: 'push', ref, before: null, after: body.sha } },
    payload: { object_kind: 'push', ref, after: body.sha, checkout_sha: body.sha, project: projectPayload },
  };
}
