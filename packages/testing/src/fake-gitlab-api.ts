import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A local GitLab REST API (v4) for what the GitLab notifier calls (GitLab doc/api/commits.md, doc/api/notes.md,
 * doc/api/projects.md, doc/api/merge_requests.md, doc/api/users.md): commit statuses (`POST
 * /projects/:id/statuses/:sha`, `GET /projects/:id/repository/commits/:sha/statuses`), merge request notes
 * (`GET/POST /projects/:id/merge_requests/:iid/notes`, `PUT …/notes/:note_id`), a project by id or path
 * (`GET /projects/:id`), a merge request (`GET /projects/:id/merge_requests/:iid`) and the token's user
 * (`GET /user`), all behind the same token check.
 * It keeps GitLab's habits: `PRIVATE-TOKEN` or `Authorization: Bearer`, `{"message":"401 Unauthorized"}`,
 * form or JSON bodies, `:id` as a number or a URL-encoded path, page/per_page pagination with `X-Page`,
 * `X-Next-Page`, `X-Total` and `Link`, and the 400 `Cannot transition status via :run from :running` when a
 * status is posted again in the state it has.
 */

export type FakeCommitState = 'pending' | 'running' | 'success' | 'failed' | 'canceled' | 'skipped';

export interface FakeCommitStatus {
  id: number;
  projectId: number;
  sha: string;
  ref: string | null;
  name: string;
  status: FakeCommitState;
  target_url: string | null;
  description: string | null;
  created_at: string;
  /** Every state this status went through, in order. */
  history: FakeCommitState[];
}

export interface FakeNote {
  id: number;
  projectId: number;
  mergeRequestIid: number;
  body: string;
  author: { id: number; username: string };
  system: boolean;
  created_at: string;
  updated_at: string;
  /** How many times PUT changed it. */
  edits: number;
}

export interface FakeGitLabApiRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  privateToken: string | undefined;
  authorization: string | undefined;
  body: Record<string, unknown> | undefined;
  status: number;
}

export interface FakeGitLabApiOptions {
  /** The token the fake accepts, as PRIVATE-TOKEN or Bearer. */
  token?: string;
  /** The user that token belongs to (author of the notes it creates). */
  user?: { id: number; username: string };
  /**
   * Projects that exist: numeric id → path; more with addProject. Default: any numeric id exists, with path
   * `group/project-<id>` unless addProject named another.
   */
  projects?: Record<number, string>;
  port?: number;
}

export interface FakeGitLabApiFailure {
  times?: number;
  /** Seconds, sent as `Retry-After`. */
  retryAfter?: number;
  body?: unknown;
  match?: (request: FakeGitLabApiRequest) => boolean;
}

export interface FakeGitLabApi {
  /** The instance root, e.g. `http://127.0.0.1:PORT/` (the API is under `api/v4`). */
  url: string;
  token: string;
  readonly requests: FakeGitLabApiRequest[];
  readonly statuses: FakeCommitStatus[];
  readonly notes: FakeNote[];
  /** The latest status of `name` on a commit. */
  statusOf(sha: string, name?: string): FakeCommitStatus | undefined;
  notesOn(projectId: number, mergeRequestIid: number): FakeNote[];
  /** A note written by someone else (or a system note), e.g. to fill pages before SecBot's own. */
  seedNote(projectId: number, mergeRequestIid: number, body: string, opts?: { author?: { id: number; username: string }; system?: boolean }): FakeNote;
  failNext(status: number, options?: FakeGitLabApiFailure): void;
  /** A project GitLab knows, found by id and by path. */
  addProject(id: number, pathWithNamespace: string): void;
  /** A merge request whose source project is another (a fork); others come from their own project. */
  addMergeRequest(projectId: number, iid: number, opts: { sourceProjectId: number }): void;
  close(): Promise<void>;
}

const STATES: readonly FakeCommitState[] = ['pending', 'running', 'success', 'failed', 'canceled', 'skipped'];
// The state-machine event GitLab fires for each requested state (app/services/ci/create_commit_status_service.rb).
const EVENT: Record<FakeCommitState, string> = { pending: 'enqueue', running: 'run', success: 'succeed', failed: 'drop', canceled: 'cancel', skipped: 'skip' };
const ALLOWED_FROM: Record<FakeCommitState, readonly FakeCommitState[]> = {
  pending: [],
  running: ['pending'],
  success: ['pending', 'running'],
  failed: ['pending', 'running'],
  canceled: ['pending', 'running'],
  skipped: ['pending'],
};
const COMPLETE: readonly FakeCommitState[] = ['success', 'failed', 'canceled', 'skipped'];

class Problem extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined);

export async function fakeGitLabApi(options: FakeGitLabApiOptions = {}): Promise<FakeGitLabApi> {
  const token = options.token ?? 'glpat-fake-notifier-token';
  const user = options.user ?? { id: 42, username: 'secbot' };
  const requests: FakeGitLabApiRequest[] = [];
  const statuses: FakeCommitStatus[] = [];
  const notes: FakeNote[] = [];
  const failures: Array<{ status: number; options: FakeGitLabApiFailure }> = [];
  const sockets = new Set<Socket>();
  let ids = 0;
  const now = () => new Date().toISOString();

  const registry = new Map<number, string>(Object.entries(options.projects ?? {}).map(([id, path]) => [Number(id), path]));
  const anyId = options.projects === undefined;
  const mergeRequests = new Map<string, { sourceProjectId: number }>();
  const pathOf = (id: number) => registry.get(id) ?? `group/project-${id}`;

  function projectId(raw: string): number {
    const decoded = decodeURIComponent(raw);
    if (/^\d+$/.test(decoded)) {
      const id = Number(decoded);
      if (!anyId && !registry.has(id)) throw new Problem(404, { message: '404 Project Not Found' });
      return id;
    }
    const found = [...registry].find(([, path]) => path.toLowerCase() === decoded.toLowerCase());
    if (found) return found[0];
    const generated = anyId ? /^group\/project-(\d+)$/.exec(decoded) : null;
    if (generated && !registry.has(Number(generated[1]))) return Number(generated[1]);
    throw new Problem(404, { message: '404 Project Not Found' });
  }

  function parseBody(req: IncomingMessage, raw: string): Record<string, unknown> {
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (raw === '') return {};
    if (type === 'application/json') {
      try {
        const v = JSON.parse(raw) as unknown;
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
      } catch {
        /* answered below */
      }
      throw new Problem(400, { error: 'The request body is not valid JSON' });
    }
    return Object.fromEntries(new URLSearchParams(raw));
  }

  const statusJson = (s: FakeCommitStatus) => ({
    id: s.id,
    sha: s.sha,
    ref: s.ref,
    status: s.status,
    name: s.name,
    target_url: s.target_url,
    description: s.description,
    created_at: s.created_at,
    started_at: s.status === 'running' ? now() : null,
    finished_at: COMPLETE.includes(s.status) ? now() : null,
    allow_failure: false,
    coverage: null,
    pipeline_id: 1000 + s.projectId,
    author: { id: user.id, username: user.username },
  });
  const noteJson = (n: FakeNote) => ({
    id: n.id,
    type: null,
    body: n.body,
    author: { id: n.author.id, username: n.author.username, name: n.author.username, state: 'active' },
    created_at: n.created_at,
    updated_at: n.updated_at,
    system: n.system,
    noteable_id: 5000 + n.mergeRequestIid,
    noteable_type: 'MergeRequest',
    noteable_iid: n.mergeRequestIid,
    project_id: n.projectId,
    resolvable: false,
    confidential: false,
    internal: false,
  });

  function setStatus(pid: number, sha: string, body: Record<string, unknown>): { status: number; body: unknown } {
    const state = str(body['state']);
    if (!state) throw new Problem(400, { error: 'state is missing' });
    if (!STATES.includes(state as FakeCommitState)) throw new Problem(400, { error: 'state does not have a valid value' });
    const next = state as FakeCommitState;
    const name = str(body['name']) ?? str(body['context']) ?? 'default';
    const ref = str(body['ref']) ?? null;
    for (const key of ['target_url', 'description'] as const) {
      const v = str(body[key]);
      if (v !== undefined && v.length > 255) throw new Problem(400, { message: { [key]: ['is too long (maximum is 255 characters)'] } });
    }
    const targetUrl = str(body['target_url']);
    if (targetUrl !== undefined && !/^https?:\/\//.test(targetUrl)) throw new Problem(400, { message: { target_url: ['is blocked: Only allowed schemes are http, https'] } });
    const latest = [...statuses].reverse().find((s) => s.projectId === pid && s.sha === sha && s.name === name && (ref === null || s.ref === ref));
    let target = latest;
    if (!target || COMPLETE.includes(target.status)) {
      // A finished status is not changed: GitLab adds a new one (the old one is kept as retried).
      if (target && target.status === next) throw new Problem(400, { message: `Cannot transition status via :${EVENT[next]} from :${target.status}` });
      target = { id: ++ids, projectId: pid, sha, ref: ref ?? 'main', name, status: 'pending', target_url: null, description: null, created_at: now(), history: [] };
      statuses.push(target);
      if (next === 'pending') target.history.push('pending');
    } else if (!ALLOWED_FROM[next].includes(target.status)) {
      throw new Problem(400, { message: `Cannot transition status via :${EVENT[next]} from :${target.status}` });
    }
    if (target.history.at(-1) !== next) target.history.push(next);
    target.status = next;
    if (targetUrl !== undefined) target.target_url = targetUrl;
    const description = str(body['description']);
    if (description !== undefined) target.description = description;
    return { status: 201, body: statusJson(target) };
  }

  function page<T>(req: IncomingMessage, url: URL, items: T[]): { body: T[]; headers: Record<string, string> } {
    const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get('per_page') ?? 20) || 20));
    const p = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
    const totalPages = Math.max(1, Math.ceil(items.length / perPage));
    const link = (n: number) => {
      const u = new URL(`http://${req.headers.host ?? '127.0.0.1'}${url.pathname}${url.search}`);
      u.searchParams.set('page', String(n));
      u.searchParams.set('per_page', String(perPage));
      return u.toString();
    };
    const links = [
      p < totalPages ? `<${link(p + 1)}>; rel="next"` : undefined,
      p > 1 ? `<${link(p - 1)}>; rel="prev"` : undefined,
      `<${link(1)}>; rel="first"`,
      `<${link(totalPages)}>; rel="last"`,
    ].filter((x) => x !== undefined);
    return {
      body: items.slice((p - 1) * perPage, p * perPage),
      headers: {
        'x-page': String(p),
        'x-per-page': String(perPage),
        'x-next-page': p < totalPages ? String(p + 1) : '',
        'x-prev-page': p > 1 ? String(p - 1) : '',
        'x-total': String(items.length),
        'x-total-pages': String(totalPages),
        link: links.join(', '),
      },
    };
  }

  function route(req: IncomingMessage, url: URL, body: Record<string, unknown>): { status: number; body: unknown; headers?: Record<string, string> } {
    const presented = str(req.headers['private-token']) ?? /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (presented !== token) return { status: 401, body: { message: '401 Unauthorized' } };
    const method = req.method ?? 'GET';
    const path = url.pathname;

    if (path === '/api/v4/user' && method === 'GET') return { status: 200, body: { id: user.id, username: user.username, name: user.username, state: 'active' } };
    let m = /^\/api\/v4\/projects\/([^/]+)$/.exec(path);
    if (m && method === 'GET') {
      const pid = projectId(m[1] ?? '');
      const full = pathOf(pid);
      return { status: 200, body: { id: pid, path_with_namespace: full, name: full.split('/').at(-1), default_branch: 'main' } };
    }
    m = /^\/api\/v4\/projects\/([^/]+)\/merge_requests\/(\d+)$/.exec(path);
    if (m && method === 'GET') {
      const pid = projectId(m[1] ?? '');
      const iid = Number(m[2]);
      const source = mergeRequests.get(`${pid}/${iid}`)?.sourceProjectId ?? pid;
      return { status: 200, body: { id: 5000 + iid, iid, project_id: pid, target_project_id: pid, source_project_id: source, state: 'opened' } };
    }
    m = /^\/api\/v4\/projects\/([^/]+)\/statuses\/([0-9a-f]{7,64})$/.exec(path);
    if (m && method === 'POST') return setStatus(projectId(m[1] ?? ''), m[2] ?? '', body);
    m = /^\/api\/v4\/projects\/([^/]+)\/repository\/commits\/([0-9a-f]{7,64})\/statuses$/.exec(path);
    if (m && method === 'GET') {
      const pid = projectId(m[1] ?? '');
      const list = statuses.filter((s) => s.projectId === pid && s.sha === m?.[2]).map(statusJson);
      const p = page(req, url, list);
      return { status: 200, body: p.body, headers: p.headers };
    }
    m = /^\/api\/v4\/projects\/([^/]+)\/merge_requests\/(\d+)\/notes(?:\/(\d+))?$/.exec(path);
    if (m) {
      const pid = projectId(m[1] ?? '');
      const iid = Number(m[2]);
      const noteId = m[3] === undefined ? undefined : Number(m[3]);
      if (method === 'GET' && noteId === undefined) {
        const sort = url.searchParams.get('sort') === 'asc' ? 1 : -1;
        const orderBy = url.searchParams.get('order_by') === 'updated_at' ? 'updated_at' : 'created_at';
        const list = notes
          .filter((n) => n.projectId === pid && n.mergeRequestIid === iid)
          .sort((a, b) => sort * (a[orderBy].localeCompare(b[orderBy]) || a.id - b.id))
          .map(noteJson);
        const p = page(req, url, list);
        return { status: 200, body: p.body, headers: p.headers };
      }
      if (method === 'POST' && noteId === undefined) {
        const text = str(body['body']);
        if (!text) return { status: 400, body: { error: 'body is missing' } };
        if (text.length > 1_000_000) return { status: 400, body: { message: { body: ['is too long (maximum is 1000000 characters)'] } } };
        const at = now();
        const note: FakeNote = { id: ++ids, projectId: pid, mergeRequestIid: iid, body: text, author: user, system: false, created_at: at, updated_at: at, edits: 0 };
        notes.push(note);
        return { status: 201, body: noteJson(note) };
      }
      if (method === 'PUT' && noteId !== undefined) {
        const note = notes.find((n) => n.id === noteId && n.projectId === pid && n.mergeRequestIid === iid);
        if (!note) return { status: 404, body: { message: '404 Not found' } };
        if (note.author.id !== user.id || note.system) return { status: 403, body: { message: '403 Forbidden' } };
        const text = str(body['body']);
        if (!text) return { status: 400, body: { error: 'body is missing' } };
        note.body = text;
        note.updated_at = new Date(Math.max(Date.now(), Date.parse(note.updated_at) + 1)).toISOString();
        note.edits++;
        return { status: 200, body: noteJson(note) };
      }
      if (method === 'GET' && noteId !== undefined) {
        const note = notes.find((n) => n.id === noteId && n.projectId === pid && n.mergeRequestIid === iid);
        return note ? { status: 200, body: noteJson(note) } : { status: 404, body: { message: '404 Not found' } };
      }
    }
    return { status: 404, body: { error: '404 Not Found' } };
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const record: FakeGitLabApiRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        privateToken: str(req.headers['private-token']),
        authorization: req.headers.authorization,
        body: undefined,
        status: 0,
      };
      requests.push(record);
      const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        record.status = status;
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      };
      try {
        record.body = parseBody(req, Buffer.concat(chunks).toString('utf8'));
        const index = failures.findIndex((f) => f.options.match?.(record) ?? true);
        const failure = failures[index];
        if (failure) {
          const left = (failure.options.times ?? 1) - 1;
          if (left <= 0) failures.splice(index, 1);
          else failure.options.times = left;
          const headers: Record<string, string> = failure.options.retryAfter === undefined ? {} : { 'retry-after': String(failure.options.retryAfter) };
          const defaults: Record<number, unknown> = {
            401: { message: '401 Unauthorized' },
            403: { message: '403 Forbidden' },
            404: { message: '404 Project Not Found' },
            409: { message: 'Commit status update is already in progress' },
            429: { message: 'Retry later' },
          };
          reply(failure.status, failure.options.body ?? defaults[failure.status] ?? { message: `${failure.status} Injected failure` }, headers);
          return;
        }
        const r = route(req, url, record.body);
        reply(r.status, r.body, r.headers);
      } catch (err) {
        if (err instanceof Problem) reply(err.status, err.body);
        else reply(500, { message: '500 Internal Server Error' });
      }
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/`,
    token,
    requests,
    statuses,
    notes,
    statusOf(sha, name = 'secbot') {
      return [...statuses].reverse().find((s) => s.sha === sha && s.name === name);
    },
    notesOn(projectId, mergeRequestIid) {
      return notes.filter((n) => n.projectId === projectId && n.mergeRequestIid === mergeRequestIid);
    },
    seedNote(projectId, mergeRequestIid, body, opts = {}) {
      const at = now();
      const note: FakeNote = { id: ++ids, projectId, mergeRequestIid, body, author: opts.author ?? { id: 7, username: 'reviewer' }, system: opts.system ?? false, created_at: at, updated_at: at, edits: 0 };
      notes.push(note);
      return note;
    },
    failNext(status, failOptions = {}) {
      failures.push({ status, options: { ...failOptions } });
    },
    addProject(id, pathWithNamespace) {
      registry.set(id, pathWithNamespace);
    },
    addMergeRequest(projectId, iid, mrOptions) {
      mergeRequests.set(`${projectId}/${iid}`, { sourceProjectId: mrOptions.sourceProjectId });
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
