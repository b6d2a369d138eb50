import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RetryableError, TerminalError } from '@secbot/service-kit';
import { childEnv, run, type RunResult } from '../process/run.ts';
import { withFileLock } from './file-lock.ts';
import { classifyGitFailure, gitErrorSummary } from './git-errors.ts';

/** Where a project's code comes from. The token is only ever put in a child's environment. */
export interface Remote {
  /** Clone URL built from the configured instance, without credentials. */
  url: string;
  token: string;
  /** Stable key of the instance + project, used to name the mirror. */
  key: string;
  project: string;
}

export interface MirrorsOptions {
  dataDir: string;
  gitTimeoutMs: number;
  lockWaitMs: number;
  lockStaleMs?: number;
  /** Loose objects (small fetches arrive loose) above which the mirror is repacked after a fetch. */
  looseObjectLimit?: number;
}

export interface RangeStats {
  commits: number;
  bytes: number;
}

export interface Mirror {
  dir: string;
  /** Every branch in the mirror: name → sha. */
  branches(): Promise<Map<string, string>>;
  /** The subset of `shas` that are commits in the mirror. */
  present(shas: string[]): Promise<Set<string>>;
  /** Commits and blob bytes that `git log <revisions>` covers. */
  rangeStats(revisions: string[]): Promise<RangeStats>;
  treeStats(commit: string): Promise<RangeStats>;
  /** Writes the tree of `commit` into `dir`, ignoring the repository's .gitattributes (export-ignore). */
  exportTree(commit: string, dir: string): Promise<void>;
  /** A file at a commit, or null when it does not exist. */
  readFile(commit: string, path: string): Promise<Buffer | null>;
}

export interface FetchRequest {
  refspecs: string[];
  required: string[];
  /** Skip the fetch when all of these are already in the mirror (empty: always fetch). */
  skipWhenPresent: string[];
}

export interface Mirrors {
  /** Creates or updates the project's bare mirror so that `required` commits are present. */
  prepare(remote: Remote, request: FetchRequest): Promise<Mirror>;
}

/** A git fetch that failed, sorted (see classifyGitFailure); the message never contains the token. */
export class GitFetchError extends TerminalError {
  override name = 'GitFetchError';
  readonly kind: 'auth' | 'not-found' | 'missing-commit';
  constructor(message: string, kind: 'auth' | 'not-found' | 'missing-commit') {
    super(message);
    this.kind = kind;
  }
}

export function createMirrors(opts: MirrorsOptions): Mirrors {
  const timeoutMs = opts.gitTimeoutMs;
  const git = (args: string[], extra: { env?: Record<string, string>; input?: string } = {}) =>
    run('git', args, { env: childEnv({ GIT_TERMINAL_PROMPT: '0', ...extra.env }), timeoutMs, ...(extra.input !== undefined ? { input: extra.input } : {}) });

  const mirrorFor = (dir: string): Mirror => ({
    dir,
    async branches() {
      const r = await git(['-C', dir, 'for-each-ref', '--format=%(objectname) %(refname)', 'refs/heads/']);
      const out = new Map<string, string>();
      for (const line of r.stdout.toString('utf8').split('\n')) {
        const [sha, ref] = line.split(' ');
        if (sha && ref) out.set(ref.replace(/^refs\/heads\//, ''), sha);
      }
      return out;
    },
    async present(shas) {
      if (shas.length === 0) return new Set();
      const r = await git(['-C', dir, 'cat-file', '--batch-check=%(objectname) %(objecttype)'], { input: shas.map((s) => `${s}^{commit}`).join('\n') + '\n' });
      const found = new Set<string>();
      for (const line of r.stdout.toString('utf8').split('\n')) {
        const [sha, type] = line.split(' ');
        if (sha && type === 'commit') found.add(sha);
      }
      return found;
    },
    async rangeStats(revisions) {
      const list = await git(['-C', dir, 'rev-list', '--objects', '--no-object-names', ...revisions]);
      if (list.code !== 0) throw new TerminalError(`git rev-list failed: ${gitErrorSummary(list.stderr, [])}`);
      return sizes(await git(['-C', dir, 'cat-file', '--batch-check=%(objecttype) %(objectsize)'], { input: list.stdout.toString('utf8') }));
    },
    async treeStats(commit) {
      const r = await git(['-C', dir, 'ls-tree', '-r', '-l', commit]);
      let bytes = 0;
      for (const line of r.stdout.toString('utf8').split('\n')) {
        const size = Number(/^\S+ blob \S+\s+(\d+)\t/.exec(line)?.[1] ?? 0);
        bytes += size;
      }
      return { commits: 1, bytes };
    },
    async exportTree(commit, into) {
      // read-tree + checkout-index instead of `git archive`: archive honours the repository's own
      // `export-ignore` attributes, which would let a repository hide files from the scan.
      const env = { GIT_INDEX_FILE: join(into, '..', `index-${randomBytes(4).toString('hex')}`) };
      const read = await git(['--git-dir', dir, 'read-tree', commit], { env });
      if (read.code !== 0) throw new TerminalError(`git read-tree failed: ${gitErrorSummary(read.stderr, [])}`);
      const out = await git(['--git-dir', dir, '--work-tree', into, '-c', `core.attributesFile=${join(into, '..', 'no-attributes')}`, 'checkout-index', '-a', '-f'], { env });
      await rm(env.GIT_INDEX_FILE, { force: true });
      if (out.code !== 0) throw new TerminalError(`git checkout-index failed: ${gitErrorSummary(out.stderr, [])}`);
    },
    async readFile(commit, path) {
      const r = await git(['-C', dir, 'cat-file', 'blob', `${commit}:${path}`]);
      return r.code === 0 ? r.stdout : null;
    },
  });

  return {
    async prepare(remote, request) {
      const dir = join(opts.dataDir, 'mirrors', mirrorName(remote));
      const exists = await stat(join(dir, 'HEAD')).then(() => true, () => false);
      if (exists && request.skipWhenPresent.length > 0) {
        const have = await mirrorFor(dir).present(request.skipWhenPresent);
        if (request.skipWhenPresent.every((s) => have.has(s))) return mirrorFor(dir);
      }
      await mkdir(join(opts.dataDir, 'mirrors'), { recursive: true });
      return withFileLock(`${dir}.lock`, { waitMs: opts.lockWaitMs, staleMs: opts.lockStaleMs ?? 60_000 }, async () => {
        if (!(await stat(join(dir, 'HEAD')).then(() => true, () => false))) await createBare(dir);
        const mirror = mirrorFor(dir);
        await fetch(dir, remote, request.refspecs);
        let have = await mirror.present(request.required);
        const missing = request.required.filter((s) => !have.has(s));
        if (missing.length > 0) {
          // The ref moved on since the event (another push, a force-push): ask for the commits themselves.
          await fetch(dir, remote, missing, true);
          have = await mirror.present(request.required);
          const still = request.required.filter((s) => !have.has(s));
          if (still.length > 0)
            throw new GitFetchError(
              `Commit ${still.map((s) => s.slice(0, 12)).join(', ')} is not in ${remote.project} any more (force-pushed away or deleted); nothing to scan.`,
              'missing-commit',
            );
        }
        await compact(dir);
        return mirror;
      });
    },
  };

  /**
   * Fetches of fewer than 100 objects (fetch.unpackLimit) arrive as loose objects, so a mirror fed by small
   * pushes slows down. Repack without `-a`: it packs reachable loose objects and never drops an object, so a
   * concurrent scan of a force-pushed-away commit keeps working.
   */
  async function compact(dir: string): Promise<void> {
    const count = await git(['-C', dir, 'count-objects']);
    const loose = Number(/^(\d+) objects/.exec(count.stdout.toString('utf8'))?.[1] ?? 0);
    if (loose > (opts.looseObjectLimit ?? 2000)) await git(['-C', dir, 'repack', '-d', '-q']);
  }

  async function createBare(dir: string): Promise<void> {
    const tmp = `${dir}.init-${randomBytes(4).toString('hex')}`;
    const steps = [
      ['init', '--quiet', '--bare', tmp],
      // No automatic gc: it could prune a force-pushed-away commit that a concurrent scan is reading.
      ['-C', tmp, 'config', 'gc.auto', '0'],
      ['-C', tmp, 'config', 'core.logAllRefUpdates', 'false'],
    ];
    for (const args of steps) {
      const r = await git(args);
      if (r.code !== 0) throw new TerminalError(`Could not create the mirror: ${gitErrorSummary(r.stderr, [])}`);
    }
    await rename(tmp, dir);
  }

  async function fetch(dir: string, remote: Remote, refspecs: string[], tolerateMissing = false): Promise<RunResult> {
    const basic = Buffer.from(`oauth2:${remote.token}`).toString('base64');
    const args = [
      '-C',
      dir,
      'fetch',
      '--quiet',
      '--no-tags',
      '--no-write-fetch-head',
      // Housekeeping that costs time on large repositories and that a scan does not need.
      '--no-show-forced-updates',
      '--no-auto-maintenance',
      '--no-write-commit-graph',
      ...(tolerateMissing ? [] : ['--prune']),
      remote.url,
      ...refspecs,
    ];
    const r = await git(args, {
      env: {
        // The token travels in a header set through the environment: never in a URL, argv or .git/config.
        GIT_CONFIG_COUNT: '3',
        GIT_CONFIG_KEY_0: 'http.extraHeader',
        GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
        // A redirect must not carry the header to another host.
        GIT_CONFIG_KEY_1: 'http.followRedirects',
        GIT_CONFIG_VALUE_1: 'false',
        GIT_CONFIG_KEY_2: 'credential.helper',
        GIT_CONFIG_VALUE_2: '',
      },
    });
    if (r.code === 0 || tolerateMissing) return r;
    const summary = gitErrorSummary(r.stderr, [remote.token, basic]);
    switch (classifyGitFailure(r.stderr, r.timedOut)) {
      case 'auth':
        throw new GitFetchError(
          `GitLab rejected the scanner's token for ${remote.project} (${summary}). Check auth_token in GITLAB_CONFIGS: it needs read_repository on this project.`,
          'auth',
        );
      case 'not-found':
        throw new GitFetchError(`GitLab says ${remote.project} does not exist or the scanner's token cannot see it (${summary}).`, 'not-found');
      case 'transient':
        throw new RetryableError(
          r.timedOut ? `git fetch of ${remote.project} took longer than ${Math.round(timeoutMs / 1000)} s` : `git fetch of ${remote.project} failed: ${summary}`,
        );
      case 'other':
        throw new RetryableError(`git fetch of ${remote.project} failed: ${summary}`);
    }
  }
}

function sizes(r: RunResult): RangeStats {
  let commits = 0;
  let bytes = 0;
  for (const line of r.stdout.toString('utf8').split('\n')) {
    const [type, size] = line.split(' ');
    if (type === 'commit') commits++;
    else if (type === 'blob') bytes += Number(size ?? 0);
  }
  return { commits, bytes };
}

/** `<sha256(instance + project) prefix>-<last path segment>.git`: unique, filesystem-safe, readable. */
export function mirrorName(remote: Pick<Remote, 'key' | 'project'>): string {
  const hash = createHash('sha256').update(remote.key).digest('hex').slice(0, 16);
  const last = (remote.project.split('/').at(-1) ?? 'project').replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_').slice(0, 60);
  return `${hash}-${last}.git`;
}
