import { createServer, type Server } from 'node:http';

export interface FakeJob {
  id: number;
  projectId: number;
  sha: string;
  /** The project's path, for the job's `web_url` (default `project`). */
  projectPath?: string;
  /** GitLab accepts a job token only while its job runs. */
  status: 'running' | 'success' | 'failed';
}

export interface FakeGitLabJobs {
  url: string;
  /** The tokens GitLab would accept, each for its job. */
  jobs: Map<string, FakeJob>;
  requests: Array<{ path: string; jobToken: string | undefined }>;
  close(): Promise<void>;
}

/**
 * GitLab's `GET /api/v4/job` (doc/api/jobs.md "Get job token's job"): 200 with the job for a running job's
 * token in the JOB-TOKEN header, 401 `{"message":"401 Unauthorized"}` otherwise (unknown or finished job).
 */
export async function fakeGitLabJobs(): Promise<FakeGitLabJobs> {
  const jobs = new Map<string, FakeJob>();
  const requests: FakeGitLabJobs['requests'] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const token = typeof req.headers['job-token'] === 'string' ? req.headers['job-token'] : (url.searchParams.get('job_token') ?? undefined);
    requests.push({ path: url.pathname, jobToken: token });
    res.setHeader('content-type', 'application/json');
    if (req.method !== 'GET' || url.pathname !== '/api/v4/job') {
      res.statusCode = 404;
      return res.end(JSON.stringify({ message: '404 Not Found' }));
    }
    const job = token ? jobs.get(token) : undefined;
    if (!job || job.status !== 'running') {
      res.statusCode = 401;
      return res.end(JSON.stringify({ message: '401 Unauthorized' }));
    }
    res.end(
      JSON.stringify({
        id: job.id,
        status: job.status,
        name: 'secbot-gate',
        stage: 'test',
        ref: 'main',
        tag: false,
        commit: { id: job.sha },
        pipeline: { id: job.id * 10, project_id: job.projectId, ref: 'main', sha: job.sha, status: 'running' },
        web_url: `http://${req.headers.host ?? 'localhost'}/${job.projectPath ?? 'project'}/-/jobs/${job.id}`,
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    jobs,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
