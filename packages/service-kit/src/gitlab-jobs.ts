import { z } from 'zod';

/** The part of GitLab's `GET /api/v4/job` answer SecBot reads (doc/api/jobs.md, "Get job token's job"). */
const JobResponse = z.object({
  id: z.number().int(),
  status: z.string().optional(),
  pipeline: z.object({ id: z.number().int().optional(), project_id: z.number().int(), sha: z.string().optional() }),
  /** `https://gitlab.example.com/<project path>/-/jobs/<id>`: the only place the answer names the project's path. */
  web_url: z.string().optional(),
});

export type JobTokenCheck =
  | { ok: true; jobId: number; projectId: number; sha?: string; pipelineId?: number; projectPath?: string }
  | { ok: false; reason: 'rejected' | 'unavailable'; message: string };

/** The project path in a job's web URL, when the URL is on the instance's host. */
export function projectPathOfJobUrl(webUrl: string | undefined, instanceUrl: string): string | undefined {
  if (!webUrl) return undefined;
  try {
    const url = new URL(webUrl);
    const base = new URL(instanceUrl.endsWith('/') ? instanceUrl : `${instanceUrl}/`);
    if (url.host.toLowerCase() !== base.host.toLowerCase()) return undefined;
    const path = decodeURIComponent(url.pathname.slice(base.pathname.length));
    const at = path.indexOf('/-/jobs/');
    return at > 0 ? path.slice(0, at) : undefined;
  } catch {
    return undefined;
  }
}

export interface GitLabJobsClient {
  /** Asks the instance whose job the token belongs to. The token is valid only while its job runs. */
  currentJob(instanceUrl: string, jobToken: string): Promise<JobTokenCheck>;
}

export function createGitLabJobsClient(opts: { fetch?: typeof fetch; timeoutMs?: number } = {}): GitLabJobsClient {
  const doFetch = opts.fetch ?? fetch;
  return {
    async currentJob(instanceUrl, jobToken) {
      const url = new URL('api/v4/job', instanceUrl.endsWith('/') ? instanceUrl : `${instanceUrl}/`);
      let res: Response;
      try {
        res = await doFetch(url, { headers: { 'JOB-TOKEN': jobToken, accept: 'application/json' }, signal: AbortSignal.timeout(opts.timeoutMs ?? 5000) });
      } catch (err) {
        return { ok: false, reason: 'unavailable', message: `GitLab at ${url.host} did not answer (${(err as Error).name}).` };
      }
      if (res.status === 401 || res.status === 403 || res.status === 404) {
        return { ok: false, reason: 'rejected', message: `GitLab at ${url.host} rejected the job token (${res.status}); it is valid only while its job runs.` };
      }
      if (!res.ok) return { ok: false, reason: 'unavailable', message: `GitLab at ${url.host} answered ${res.status} to GET /api/v4/job.` };
      const parsed = JobResponse.safeParse(await res.json().catch(() => undefined));
      if (!parsed.success) return { ok: false, reason: 'unavailable', message: `GitLab at ${url.host} answered GET /api/v4/job with an unexpected body.` };
      const job = parsed.data;
      const projectPath = projectPathOfJobUrl(job.web_url, instanceUrl);
      return {
        ok: true,
        jobId: job.id,
        projectId: job.pipeline.project_id,
        ...(job.pipeline.sha ? { sha: job.pipeline.sha } : {}),
        ...(job.pipeline.id !== undefined ? { pipelineId: job.pipeline.id } : {}),
        ...(projectPath ? { projectPath } : {}),
      };
    },
  };
}
