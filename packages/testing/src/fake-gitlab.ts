import { createServer, request, type Server } from 'node:http';
import { fakeGitLabApi, type FakeGitLabApi, type FakeGitLabApiOptions } from './fake-gitlab-api.ts';
import { fakeGitLabGit, type FakeGitLabGit } from './fake-gitlab-git.ts';
import { fakeGitLabJobs, type FakeGitLabJobs } from './fake-gitlab-jobs.ts';

export interface FakeGitLab {
  /** The instance root, as in GITLAB_CONFIGS `host`: git over smart HTTP and the REST API on one host. */
  url: string;
  token: string;
  git: FakeGitLabGit;
  api: FakeGitLabApi;
  jobs: FakeGitLabJobs;
  /** A repository, and with `id` a project the REST API knows by that id and path (as GitLab would). */
  createProject(pathWithNamespace: string, opts?: { defaultBranch?: string; id?: number }): ReturnType<FakeGitLabGit['createProject']>;
  close(): Promise<void>;
}

/**
 * One fake GitLab instance, as SecBot sees a real one: `/api/v4/job` (job tokens), the rest of `/api/v4`
 * (commit statuses, merge request notes) and git smart HTTP for everything else, all on one host, with one
 * token. Each part is its own fake; this front only routes requests to them unchanged.
 */
export async function fakeGitLab(opts: { token?: string; api?: Omit<FakeGitLabApiOptions, 'token' | 'port'> } = {}): Promise<FakeGitLab> {
  const token = opts.token ?? `glpat-fake-${Math.random().toString(36).slice(2)}`;
  const git = await fakeGitLabGit({ token });
  const api = await fakeGitLabApi({ ...opts.api, token });
  const jobs = await fakeGitLabJobs();
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    const target = new URL(path.startsWith('/api/v4/job') && !path.startsWith('/api/v4/jobs') ? jobs.url : path.startsWith('/api/') ? api.url : git.url);
    const upstream = request({ host: '127.0.0.1', port: target.port, method: req.method, path, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    token,
    git,
    api,
    jobs,
    createProject: (path, o = {}) => {
      if (o.id !== undefined) api.addProject(o.id, path);
      return git.createProject(path, o.defaultBranch ? { defaultBranch: o.defaultBranch } : {});
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([git.close(), api.close(), jobs.close()]);
    },
  };
}
