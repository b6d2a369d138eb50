import { createHash } from 'node:crypto';
import { z } from 'zod';
import { createRateLimiter } from './rate-limit.ts';

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
  | { ok: false; reason: 'rejected' | 'unavailable'; message: string }
  | { ok: false; reason: 'rate_limited'; message: string; retryAfterSeconds: number };

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
  /**
   * Asks the instance whose job the token belongs to. The token is valid only while its job runs. Answers are
   * cached, lookups rate-limited (see createGitLabJobsClient).
   */
  currentJob(instanceUrl: string, jobToken: string): Promise<JobTokenCheck>;
}

export interface GitLabJobsClientOptions {
  fetch?: typeof fetch;
  timeoutMs?: number;
  /** How long GitLab's acceptance of a token is reused (default 60 s; 0: not cached). */
  acceptedTtlMs?: number;
  /** How long GitLab's rejection of a token is reused (default 30 s), so a wrong token costs GitLab one call. */
  rejectedTtlMs?: number;
  /** Lookups of one token per minute (default 10): a caller retrying one token cannot make SecBot hammer GitLab. */
  perTokenPerMinute?: number;
  /** Lookups per instance per minute (default 600): random tokens cannot either. */
  perInstancePerMinute?: number;
  /** Answers kept at most (default 10,000); the oldest is forgotten first. */
  maxCached?: number;
  now?: () => number;
}

type Cached = { result: JobTokenCheck; until: number };

/**
 * GitLab's "Get job token's job" (`GET /api/v4/job`), the one place SecBot verifies CI job tokens (intake's CI
 * announcements, results' reports and details):
 * - the token goes to the configured instance only: http(s) URLs only, and a redirect is not followed (it
 *   would carry the token elsewhere) but answered as `unavailable`;
 * - acceptances and rejections are cached briefly, keyed by a hash of (instance, token), never the token;
 * - lookups are rate-limited per token and per instance, so callers with random tokens cannot make SecBot
 *   flood GitLab: past the limit the answer is `rate_limited` with the seconds to wait.
 */
export function createGitLabJobsClient(opts: GitLabJobsClientOptions = {}): GitLabJobsClient {
  const doFetch = opts.fetch ?? fetch;
  const now = opts.now ?? Date.now;
  const acceptedTtlMs = opts.acceptedTtlMs ?? 60_000;
  const rejectedTtlMs = opts.rejectedTtlMs ?? 30_000;
  const maxCached = opts.maxCached ?? 10_000;
  const perToken = createRateLimiter({ perMinute: opts.perTokenPerMinute ?? 10, now });
  const perInstance = createRateLimiter({ perMinute: opts.perInstancePerMinute ?? 600, maxKeys: 1000, now });
  const cache = new Map<string, Cached>();
  const inFlight = new Map<string, Promise<JobTokenCheck>>();

  const remember = (key: string, result: JobTokenCheck) => {
    const ttl = result.ok ? acceptedTtlMs : result.reason === 'rejected' ? rejectedTtlMs : 0;
    if (ttl <= 0) return;
    cache.delete(key);
    cache.set(key, { result, until: now() + ttl });
    if (cache.size > maxCached) cache.delete(cache.keys().next().value as string);
  };

  async function ask(url: URL, instanceUrl: string, jobToken: string): Promise<JobTokenCheck> {
    let res: Response;
    try {
      res = await doFetch(url, {
        headers: { 'JOB-TOKEN': jobToken, accept: 'application/json' },
        redirect: 'manual',
        signal: AbortSignal.timeout(opts.timeoutMs ?? 5000),
      });
    } catch (err) {
      return { ok: false, reason: 'unavailable', message: `GitLab at ${url.host} did not answer (${(err as Error).name}).` };
    }
    if (res.type === 'opaqueredirect' || (res.status >= 300 && res.status < 400)) {
      await res.body?.cancel().catch(() => undefined);
      return { ok: false, reason: 'unavailable', message: `GitLab at ${url.host} redirected GET /api/v4/job (${res.status}); SecBot does not follow it with a job token. Check the instance URL in GITLAB_CONFIGS.` };
    }
    if (res.status === 401 || res.status === 403 || res.status === 404) {
      await res.body?.cancel().catch(() => undefined);
      return { ok: false, reason: 'rejected', message: `GitLab at ${url.host} rejected the job token (${res.status}); it is valid only while its job runs.` };
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      return { ok: false, reason: 'unavailable', message: `GitLab at ${url.host} answered ${res.status} to GET /api/v4/job.` };
    }
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
  }

  return {
    async currentJob(instanceUrl, jobToken) {
      const base = URL.parse(instanceUrl.endsWith('/') ? instanceUrl : `${instanceUrl}/`);
      if (!base || (base.protocol !== 'https:' && base.protocol !== 'http:')) {
        return { ok: false, reason: 'unavailable', message: 'The GitLab instance URL is not an http(s) URL; no job token is sent there.' };
      }
      const url = new URL('api/v4/job', base);
      const key = createHash('sha256').update(`${base.href}\u0000${jobToken}`).digest('hex');
      const cached = cache.get(key);
      if (cached && cached.until > now()) return cached.result;
      if (cached) cache.delete(key);
      const pending = inFlight.get(key);
      if (pending) return pending;
      const tokenWait = perToken.take(key);
      const instanceWait = tokenWait === 0 ? perInstance.take(base.host.toLowerCase()) : 0;
      if (tokenWait > 0 || instanceWait > 0) {
        const retryAfterSeconds = Math.max(tokenWait, instanceWait);
        return {
          ok: false,
          reason: 'rate_limited',
          retryAfterSeconds,
          message: `SecBot asked GitLab at ${base.host} about ${tokenWait > 0 ? 'this job token' : 'job tokens'} too often; retry in ${retryAfterSeconds} s.`,
        };
      }
      const lookup = ask(url, instanceUrl, jobToken)
        .then((result) => {
          remember(key, result);
          return result;
        })
        .finally(() => inFlight.delete(key));
      inFlight.set(key, lookup);
      return lookup;
    },
  };
}
