import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
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
  /** Loose refs above which the mirror's refs are packed. */
  looseRefLimit?: number;
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
  /** Commits and blob bytes that `git rev-list <revisions>` covers. */
  rangeStats(revisions: string[]): Promise<RangeStats>;
  /** A file at a commit (or any revision, e.g. `refs/heads/main`), or null when it is not a file there. */
  readFile(revision: string, path: string): Promise<Buffer | null>;
  /** Refs under `prefix` (e.g. `refs/secbot/scanned/`): full ref name → sha. */
  refs(prefix: string): Promise<Map<string, string>>;
  /** Refs under `prefix` whose commit is an ancestor of (or equal to) `head`, in one git call. */
  refsMergedInto(head: string, prefix: string): Promise<string[]>;
  /**
   * Applies ref updates in one transaction (all or none). Call it inside `locked`: ref writes in a shared
   * mirror happen under its lock.
   */
  updateRefs(updates: Array<{ ref: string; sha: string } | { ref: string; delete: true }>): Promise<void>;
  /**
   * One walk of `revisions`: how many commits, whether any is an octopus merge, and the boundary (the excluded
   * commits whose children are in the walk; `head --not <boundary>` selects the same commits).
   */
  walk(revisions: string[]): Promise<{ commits: number; octopus: boolean; boundary: string[] }>;
  /** Every path the commits of `revisions` added, changed or deleted (merges not included). */
  changedPaths(revisions: string[]): Promise<string[]>;
  /** The files among `paths` at `revision` (blobs, not trees or submodules) of at most `maxBytes`. */
  files(revision: string, paths: string[], maxBytes: number): Promise<Array<{ path: string; sha: string; size: number }>>;
  /** The contents of blobs, read from the object database (no checkout, no filters). */
  readBlobs(shas: string[]): Promise<Buffer[]>;
  /** The last commit of `revisions` that changed `path`. */
  lastChange(revisions: string[], path: string): Promise<string | null>;
  /** Runs `fn` while holding the mirror's lock (the one fetches take). */
  locked<T>(fn: () => Promise<T>): Promise<T>;
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
  /** The project's default branch as GitLab advertises it (HEAD), or null; never what an event claims. */
  defaultBranch(remote: Remote): Promise<string | null>;
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

  const lockOptions = { waitMs: opts.lockWaitMs, staleMs: opts.lockStaleMs ?? 60_000 };
  /** GitLab's answer, kept a minute: asked for every scan with repository rules. */
  const defaultBranches = new Map<string, { branch: string | null; until: number }>();
  const configured = new Set<string>();
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
    async readFile(revision, path) {
      // `<rev>:<path>` of a directory or a submodule is not a blob: cat-file fails, and that means "no file".
      const type = await git(['-C', dir, 'cat-file', '-t', `${revision}:${path}`]);
      if (type.code !== 0 || type.stdout.toString('utf8').trim() !== 'blob') return null;
      const r = await git(['-C', dir, 'cat-file', 'blob', `${revision}:${path}`]);
      return r.code === 0 ? r.stdout : null;
    },
    async refs(prefix) {
      const r = await git(['-C', dir, 'for-each-ref', '--format=%(objectname) %(refname)', prefix]);
      if (r.code !== 0) throw new TerminalError(`git for-each-ref failed: ${gitErrorSummary(r.stderr, [])}`);
      const out = new Map<string, string>();
      for (const line of r.stdout.toString('utf8').split('\n')) {
        const [sha, ref] = line.split(' ');
        if (sha && ref) out.set(ref, sha);
      }
      return out;
    },
    async refsMergedInto(head, prefix) {
      const r = await git(['-C', dir, 'for-each-ref', `--merged=${head}`, '--format=%(refname)', prefix]);
      if (r.code !== 0) throw new TerminalError(`git for-each-ref --merged failed: ${gitErrorSummary(r.stderr, [])}`);
      return r.stdout.toString('utf8').split('\n').filter(Boolean);
    },
    async updateRefs(updates) {
      if (updates.length === 0) return;
      const input = updates.map((u) => ('delete' in u ? `delete ${u.ref}\n` : `update ${u.ref} ${u.sha}\n`)).join('');
      const r = await git(['-C', dir, 'update-ref', '--no-deref', '--stdin'], { input });
      if (r.code !== 0) throw new RetryableError(`git update-ref failed: ${gitErrorSummary(r.stderr, [])}`);
      await packRefs(dir);
    },
    async walk(revisions) {
      const r = await git(['-C', dir, 'rev-list', '--boundary', '--parents', ...revisions]);
      if (r.code !== 0) throw new TerminalError(`git rev-list --boundary failed: ${gitErrorSummary(r.stderr, [])}`);
      let commits = 0;
      let octopus = false;
      const boundary: string[] = [];
      for (const line of r.stdout.toString('utf8').split('\n')) {
        if (!line) continue;
        if (line.startsWith('-')) {
          boundary.push(line.slice(1).split(' ')[0] ?? '');
          continue;
        }
        commits++;
        if (line.split(' ').length > 3) octopus = true;
      }
      return { commits, octopus, boundary: boundary.filter(Boolean) };
    },
    async changedPaths(revisions) {
      const r = await git(['-C', dir, 'log', '--format=', '--name-only', '--no-renames', '-z', ...revisions]);
      if (r.code !== 0) throw new TerminalError(`git log --name-only failed: ${gitErrorSummary(r.stderr, [])}`);
      return [...new Set(r.stdout.toString('utf8').split('\0').map((p) => p.replace(/^\n+/, '')).filter(Boolean))];
    },
    async files(revision, paths, maxBytes) {
      const batchable = paths.filter((p) => !p.includes('\n'));
      const out: Array<{ path: string; sha: string; size: number }> = [];
      const check = await git(['-C', dir, 'cat-file', '--batch-check=%(objectname) %(objecttype) %(objectsize)'], { input: batchable.map((p) => `${revision}:${p}\n`).join('') });
      check.stdout
        .toString('utf8')
        .split('\n')
        .forEach((line, i) => {
          const [sha, type, size] = line.split(' ');
          const path = batchable[i];
          if (path !== undefined && sha && type === 'blob' && Number(size) <= maxBytes) out.push({ path, sha, size: Number(size) });
        });
      // A path with a newline cannot be named on a batch line: the diff pass still sees what its commits add.
      return out;
    },
    async readBlobs(shas) {
      const r = await git(['-C', dir, 'cat-file', '--batch'], { input: shas.map((s) => `${s}\n`).join('') });
      const out: Buffer[] = [];
      let at = 0;
      for (let n = 0; n < shas.length; n++) {
        const eol = r.stdout.indexOf(0x0a, at);
        if (eol < 0) break;
        const size = Number(r.stdout.subarray(at, eol).toString('utf8').split(' ')[2] ?? 0);
        out.push(r.stdout.subarray(eol + 1, eol + 1 + size));
        at = eol + 1 + size + 1;
      }
      return out;
    },
    async lastChange(revisions, path) {
      const r = await git(['--literal-pathspecs', '-C', dir, 'log', '-1', '--format=%H', '--no-renames', ...revisions, '--', path]);
      return r.code === 0 ? r.stdout.toString('utf8').trim() || null : null;
    },
    locked(fn) {
      return withFileLock(`${dir}.lock`, lockOptions, fn);
    },
  });

  return {
    async defaultBranch(remote) {
      const cached = defaultBranches.get(remote.key);
      if (cached && cached.until > Date.now()) return cached.branch;
      const r = await git(['ls-remote', '--symref', remote.url, 'HEAD'], { env: authEnv(remote) });
      if (r.code !== 0) throw new RetryableError(`git ls-remote of ${remote.project} failed: ${gitErrorSummary(r.stderr, [remote.token, basicOf(remote)])}`);
      const branch = /^ref: refs\/heads\/(\S+)\s+HEAD$/m.exec(r.stdout.toString('utf8'))?.[1] ?? null;
      defaultBranches.set(remote.key, { branch, until: Date.now() + DEFAULT_BRANCH_TTL_MS });
      return branch;
    },
    async prepare(remote, request) {
      const dir = join(opts.dataDir, 'mirrors', mirrorName(remote));
      const exists = await stat(join(dir, 'HEAD')).then(() => true, () => false);
      if (exists && request.skipWhenPresent.length > 0) {
        const have = await mirrorFor(dir).present(request.skipWhenPresent);
        if (request.skipWhenPresent.every((s) => have.has(s))) return mirrorFor(dir);
      }
      await mkdir(join(opts.dataDir, 'mirrors'), { recursive: true });
      return withFileLock(`${dir}.lock`, lockOptions, async () => {
        // A shallow mirror (never made by SecBot) would answer "not an ancestor" past its boundary: a silent
        // pass. It is a cache: start it again.
        if (await stat(join(dir, 'shallow')).then(() => true, () => false)) await rm(dir, { recursive: true, force: true });
        if (!(await stat(join(dir, 'HEAD')).then(() => true, () => false))) await createBare(dir);
        await configure(dir);
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
        await packRefs(dir);
        await writeCommitGraph(dir);
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

  /**
   * Settings every mirror must have, also those created by an older SecBot: applied once per process.
   * - no attributes from the repository: git reads none in a bare repository before 2.42, and from HEAD's
   *   tree after it unless attr.tree names another tree; the empty tree means none, so a committed
   *   `.gitattributes` (`-diff`, `binary`) cannot turn a file's diff into "Binary files differ";
   * - a commit-graph (written after each fetch), so ancestry questions stay fast on large histories.
   */
  async function configure(dir: string): Promise<void> {
    if (configured.has(dir)) return;
    for (const [k, v] of MIRROR_CONFIG) await git(['-C', dir, 'config', k, v]);
    configured.add(dir);
  }

  /**
   * Thousands of loose ref files (a tip per scanned head, a ref per finding) make every walk that reads them
   * slow: pack them once enough have piled up. A few loose refs cost nothing.
   */
  async function packRefs(dir: string): Promise<void> {
    const entries = await readdir(join(dir, 'refs'), { recursive: true, withFileTypes: true }).catch(() => []);
    if (entries.filter((e) => e.isFile()).length > (opts.looseRefLimit ?? 100)) await git(['-C', dir, 'pack-refs', '--all', '--prune']);
  }

  async function writeCommitGraph(dir: string): Promise<void> {
    // --split adds a small layer for the new commits and merges layers as they pile up.
    const r = await git(['-C', dir, 'commit-graph', 'write', '--reachable', '--split', '--no-progress']);
    if (r.code !== 0) throw new RetryableError(`git commit-graph write failed: ${gitErrorSummary(r.stderr, [])}`);
  }

  async function createBare(dir: string): Promise<void> {
    const tmp = `${dir}.init-${randomBytes(4).toString('hex')}`;
    const steps = [
      ['init', '--quiet', '--bare', tmp],
      // No automatic gc: it could prune a force-pushed-away commit that a concurrent scan is reading.
      ['-C', tmp, 'config', 'gc.auto', '0'],
      ['-C', tmp, 'config', 'core.logAllRefUpdates', 'false'],
      ...MIRROR_CONFIG.map(([k, v]) => ['-C', tmp, 'config', k, v]),
    ];
    for (const args of steps) {
      const r = await git(args);
      if (r.code !== 0) throw new TerminalError(`Could not create the mirror: ${gitErrorSummary(r.stderr, [])}`);
    }
    await rename(tmp, dir);
  }

  async function fetch(dir: string, remote: Remote, refspecs: string[], tolerateMissing = false): Promise<RunResult> {
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
      // Tell the server what we have from the branches only, not from thousands of SecBot's own refs.
      '--negotiation-tip=refs/heads/*',
      remote.url,
      ...refspecs,
    ];
    const r = await git(args, { env: authEnv(remote) });
    if (r.code === 0 || tolerateMissing) return r;
    const summary = gitErrorSummary(r.stderr, [remote.token, basicOf(remote)]);
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

const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
const DEFAULT_BRANCH_TTL_MS = 60_000;
const MIRROR_CONFIG: Array<[string, string]> = [
  ['attr.tree', EMPTY_TREE],
  ['core.commitGraph', 'true'],
  ['fetch.writeCommitGraph', 'false'],
];

const basicOf = (remote: Remote): string => Buffer.from(`oauth2:${remote.token}`).toString('base64');

/** The token travels in a header set through the environment: never in a URL, argv or .git/config. */
const authEnv = (remote: Remote): Record<string, string> => ({
  GIT_CONFIG_COUNT: '3',
  GIT_CONFIG_KEY_0: 'http.extraHeader',
  GIT_CONFIG_VALUE_0: `Authorization: Basic ${basicOf(remote)}`,
  // A redirect must not carry the header to another host.
  GIT_CONFIG_KEY_1: 'http.followRedirects',
  GIT_CONFIG_VALUE_1: 'false',
  GIT_CONFIG_KEY_2: 'credential.helper',
  GIT_CONFIG_VALUE_2: '',
});

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
