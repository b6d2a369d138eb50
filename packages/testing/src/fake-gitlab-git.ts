import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

// A path that does not exist: git reads a missing global config as empty (safer than /dev/null, which a
// broken container may have as a regular file that other processes write to).
const NO_GLOBAL_CONFIG = join(tmpdir(), 'secbot-test-no-global-gitconfig');

/** Git settings that make test repositories independent of the machine's and user's git config. */
export const ISOLATED_GIT_ENV: Record<string, string> = {
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: NO_GLOBAL_CONFIG,
  GIT_TERMINAL_PROMPT: '0',
  GIT_AUTHOR_NAME: 'Test Author',
  GIT_AUTHOR_EMAIL: 'author@example.com',
  GIT_COMMITTER_NAME: 'Test Author',
  GIT_COMMITTER_EMAIL: 'author@example.com',
};

export async function git(cwd: string, args: string[], input?: { env?: Record<string, string> }): Promise<string> {
  const { stdout } = await execFileAsync('git', args, {
    cwd,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: tmpdir(), ...ISOLATED_GIT_ENV, ...input?.env },
    maxBuffer: 256 * 1024 * 1024,
  });
  return stdout.trim();
}

/** A working copy whose pushes go straight to the bare repository the fake serves. */
export interface TestRepo {
  /** The working copy. */
  dir: string;
  /** The bare repository the fake serves, i.e. "GitLab's" copy. */
  bare: string;
  pathWithNamespace: string;
  git(...args: string[]): Promise<string>;
  /** Writes the files (relative path → content), commits them all, returns the new commit sha. */
  commit(message: string, files: Record<string, string | Buffer>): Promise<string>;
  /** `git push --force origin <refspec>...` to the bare repository. */
  push(...refspecs: string[]): Promise<void>;
  sha(rev?: string): Promise<string>;
}

export interface FakeGitLabGit {
  /** Base URL with a trailing slash, as in GITLAB_CONFIGS `host`. */
  url: string;
  token: string;
  /** Where the bare repositories live (`<group>/<project>.git`). */
  root: string;
  requests: Array<{ method: string; path: string; status: number; user: string | undefined }>;
  /** Answers the next `count` git requests with `status` (e.g. 503), to test retries. */
  failNext(status: number, count?: number): void;
  createProject(pathWithNamespace: string, opts?: { defaultBranch?: string }): Promise<TestRepo>;
  close(): Promise<void>;
}

/**
 * A fake GitLab that serves real git smart HTTP (clone and fetch) by running `git http-backend` as CGI,
 * behind GitLab's authentication for HTTPS git: Basic auth, user `oauth2`, password = the token.
 * Pushes are refused; tests push to the bare repositories on disk through `TestRepo`.
 */
export async function fakeGitLabGit(opts: { token?: string; port?: number } = {}): Promise<FakeGitLabGit> {
  const token = opts.token ?? `fake-token-${Math.random().toString(36).slice(2)}`;
  const base = await mkdtemp(join(tmpdir(), 'fake-gitlab-git-'));
  const root = join(base, 'repos');
  await mkdir(root, { recursive: true });
  const requests: FakeGitLabGit['requests'] = [];
  let failures: { status: number; remaining: number } | undefined;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const record = (status: number, user?: string) => requests.push({ method: req.method ?? 'GET', path: url.pathname, status, user });
    const user = basicUser(req.headers.authorization, token);
    if (failures && failures.remaining > 0) {
      failures.remaining--;
      record(failures.status, user.name);
      res.writeHead(failures.status, { 'content-type': 'text/plain' }).end('Injected failure\n');
      return;
    }
    if (!user.ok) {
      record(401, user.name);
      res.writeHead(401, { 'www-authenticate': 'Basic realm="GitLab"', 'content-type': 'text/plain' }).end('HTTP Basic: Access denied\n');
      return;
    }
    if (url.pathname.endsWith('/git-receive-pack') || url.searchParams.get('service') === 'git-receive-pack') {
      record(403, user.name);
      res.writeHead(403, { 'content-type': 'text/plain' }).end('Pushes are not supported by the fake\n');
      return;
    }
    const project = /^\/(.+\.git)\//.exec(url.pathname)?.[1];
    if (!project || project.split('/').includes('..')) {
      record(404, user.name);
      res.writeHead(404).end('Not found\n');
      return;
    }
    const child = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: NO_GLOBAL_CONFIG,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.replace(/^\?/, ''),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
        ...(typeof req.headers['git-protocol'] === 'string' ? { GIT_PROTOCOL: req.headers['git-protocol'] } : {}),
        REMOTE_USER: user.name ?? '',
        REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
        SERVER_PROTOCOL: 'HTTP/1.1',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stderr.resume();
    req.pipe(child.stdin);
    child.stdin.on('error', () => undefined);
    let head = Buffer.alloc(0);
    let headersSent = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersSent) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n') >= 0 ? head.indexOf('\r\n\r\n') + 4 : head.indexOf('\n\n') >= 0 ? head.indexOf('\n\n') + 2 : -1;
      if (end < 0) return;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
        const m = /^([^:]+):\s*(.*)$/.exec(line);
        if (!m?.[1]) continue;
        if (m[1].toLowerCase() === 'status') status = parseInt(m[2] ?? '200', 10);
        else headers[m[1]] = m[2] ?? '';
      }
      record(status, user.name);
      res.writeHead(status, headers);
      res.write(head.subarray(end));
      headersSent = true;
    });
    child.on('close', () => {
      if (!headersSent) {
        record(500, user.name);
        res.writeHead(500).end('git http-backend failed\n');
      } else res.end();
    });
  };

  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/`,
    token,
    root,
    requests,
    failNext(status, count = 1) {
      failures = { status, remaining: count };
    },
    async createProject(pathWithNamespace, projectOpts = {}) {
      const branch = projectOpts.defaultBranch ?? 'main';
      const bare = join(root, `${pathWithNamespace}.git`);
      const dir = join(base, 'work', pathWithNamespace);
      await mkdir(dirname(bare), { recursive: true });
      await mkdir(dir, { recursive: true });
      await git(root, ['init', '-q', '--bare', '-b', branch, bare]);
      await git(dir, ['init', '-q', '-b', branch]);
      await git(dir, ['remote', 'add', 'origin', bare]);
      const run = (...args: string[]) => git(dir, args);
      return {
        dir,
        bare,
        pathWithNamespace,
        git: run,
        async commit(message, files) {
          for (const [file, content] of Object.entries(files)) {
            await mkdir(dirname(join(dir, file)), { recursive: true });
            await writeFile(join(dir, file), content);
          }
          await run('add', '-A');
          await run('commit', '-q', '--allow-empty', '-m', message);
          return run('rev-parse', 'HEAD');
        },
        async push(...refspecs) {
          await run('push', '-q', '--force', 'origin', ...refspecs);
        },
        sha: (rev = 'HEAD') => run('rev-parse', rev),
      };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(base, { recursive: true, force: true });
    },
  };
}

function basicUser(header: string | undefined, token: string): { ok: boolean; name: string | undefined } {
  const m = /^Basic\s+(.+)$/i.exec(header ?? '');
  if (!m?.[1]) return { ok: false, name: undefined };
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const name = colon >= 0 ? decoded.slice(0, colon) : decoded;
  return { ok: name === 'oauth2' && decoded.slice(colon + 1) === token, name };
}
