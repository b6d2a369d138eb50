import { RetryableError, TerminalError } from '@secbot/service-kit';
import { z } from 'zod';

export interface CommitStatusInput {
  projectId: number;
  sha: string;
  state: 'pending' | 'running' | 'success' | 'failed';
  name: string;
  ref?: string;
  targetUrl?: string;
  description?: string;
}

export interface MergeRequestNote {
  id: number;
  body: string;
  system: boolean;
  /** The note's author; SecBot's own notes are those of its token's user. */
  authorId: number | undefined;
}

export interface GitLabProject {
  id: number;
  pathWithNamespace: string;
}

/** GitLab REST v4, as the notifier uses it. Throws RetryableError or TerminalError, never with the token. */
export interface GitLabClient {
  /** Sets the status; `unchanged` when GitLab says the status is already in that state (its 400, a no-op). */
  setCommitStatus(input: CommitStatusInput): Promise<'set' | 'unchanged'>;
  /** Every note of the merge request, all pages, oldest first. */
  listNotes(projectId: number, mergeRequestIid: number): Promise<MergeRequestNote[]>;
  createNote(projectId: number, mergeRequestIid: number, body: string): Promise<MergeRequestNote>;
  /** undefined when the note is gone (deleted by someone): the caller creates a new one. */
  updateNote(projectId: number, mergeRequestIid: number, noteId: number, body: string): Promise<MergeRequestNote | undefined>;
  /** The project at this path (`GET /projects/:url-encoded path`), undefined when GitLab has none the token can see. Cached. */
  projectByPath(pathWithNamespace: string): Promise<GitLabProject | undefined>;
  /** The source project of merge request `iid` of a project, undefined when GitLab has no such merge request. Cached. */
  mergeRequestSource(projectId: number, mergeRequestIid: number): Promise<{ sourceProjectId: number } | undefined>;
  /** The id of the token's user (`GET /user`): the author of SecBot's notes. Cached. */
  currentUserId(): Promise<number>;
}

export interface GitLabClientOptions {
  /** The instance root, e.g. `https://gitlab.example.com/` (the API is under `api/v4`). */
  baseUrl: string;
  token: string;
  /** Where the operator fixes the token, e.g. `GITLAB_CONFIGS (prefix GIT_LOCAL).auth_token`. */
  tokenSetting: string;
  timeoutMs: number;
  fetch?: typeof fetch;
  perPage?: number;
  /** How long a project path or a merge request's source project is remembered (default 10 min; a miss: 30 s). */
  lookupTtlMs?: number;
  now?: () => number;
}

// Permissive: only the fields read (renovate style).
const NoteBody = z.object({ id: z.number().int(), body: z.string(), system: z.boolean().default(false), author: z.object({ id: z.number().int() }).nullish() });
const Note = NoteBody.transform((n): MergeRequestNote => ({ id: n.id, body: n.body, system: n.system, authorId: n.author?.id ?? undefined }));
const Project = z.object({ id: z.number().int(), path_with_namespace: z.string() });
const MergeRequest = z.object({ iid: z.number().int(), source_project_id: z.number().int() });
const User = z.object({ id: z.number().int() });

/** `Retry-After` in seconds or as an HTTP date (RFC 9110 § 10.2.3). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** GitLab's answer when a status is posted again in the state it has (spec/requests/api/commit_statuses_spec.rb). */
const CANNOT_TRANSITION = /Cannot transition status/i;

export function createGitLabClient(opts: GitLabClientOptions): GitLabClient {
  const root = `${opts.baseUrl.replace(/\/+$/, '')}/api/v4`;
  const doFetch = opts.fetch ?? fetch;
  const perPage = opts.perPage ?? 100;
  const host = new URL(opts.baseUrl).host;
  const now = opts.now ?? Date.now;
  const lookupTtlMs = opts.lookupTtlMs ?? 600_000;
  const lookups = new Map<string, { value: unknown; until: number }>();
  /** A GET whose answer is remembered: `found` for lookupTtlMs, a 404 for 30 s. */
  async function lookup<T>(path: string, read: (text: string) => T): Promise<T | undefined> {
    const hit = lookups.get(path);
    if (hit && hit.until > now()) return hit.value as T | undefined;
    const res = await request('GET', path, undefined, undefined, true);
    const value = res.status === 404 ? undefined : read(res.text);
    lookups.delete(path);
    lookups.set(path, { value, until: now() + (value === undefined ? 30_000 : lookupTtlMs) });
    if (lookups.size > 10_000) lookups.delete(lookups.keys().next().value as string);
    return value;
  }

  /** `notFoundIsAnAnswer`: a 404 is returned (no such project or merge request), not thrown as a refusal. */
  async function request(
    method: string,
    path: string,
    body?: Record<string, unknown>,
    query?: Record<string, string>,
    notFoundIsAnAnswer = false,
  ): Promise<{ status: number; text: string; headers: Headers }> {
    const url = new URL(`${root}${path}`);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    const what = `${method} ${url.pathname}`;
    let res: Response;
    try {
      res = await doFetch(url, {
        method,
        headers: { 'private-token': opts.token, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(opts.timeoutMs),
        redirect: 'manual',
      });
    } catch (err) {
      const timeout = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw new RetryableError(`GitLab at ${host} did not answer ${what} (${timeout ? 'timeout' : 'network error'}).`, { cause: err });
    }
    const text = await res.text().catch(() => '');
    const excerpt = text.slice(0, 200).replace(/\s+/g, ' ').trim();
    if (res.status === 429 || res.status === 409 || res.status >= 500) {
      throw new RetryableError(`GitLab at ${host} answered ${res.status} to ${what}; retrying.`, { retryAfterMs: parseRetryAfter(res.headers.get('retry-after')) });
    }
    if (res.status === 401) throw new TerminalError(`GitLab at ${host} rejected the token (401) for ${what}. Check ${opts.tokenSetting} is a valid token with the api scope.`);
    if (res.status === 403) throw new TerminalError(`GitLab at ${host} refused ${what} (403). The user of ${opts.tokenSetting} needs the api scope and at least the Developer role in the project.`);
    if (res.status === 404 && notFoundIsAnAnswer) return { status: 404, text, headers: res.headers };
    if (res.status === 404 && method !== 'PUT') throw new TerminalError(`GitLab at ${host} has no ${url.pathname} (404), or ${opts.tokenSetting} cannot see it. Add the SecBot user to the project.`);
    if (res.status >= 300 && res.status < 400) throw new TerminalError(`GitLab at ${host} redirected ${what} (${res.status}). Check the instance URL in GITLAB_CONFIGS (scheme, host, path).`);
    if (res.status >= 400 && !(res.status === 404 && method === 'PUT') && !(res.status === 400 && CANNOT_TRANSITION.test(text))) {
      throw new TerminalError(`GitLab at ${host} refused ${what} (${res.status}): ${excerpt}`);
    }
    return { status: res.status, text, headers: res.headers };
  }

  function parse<S extends z.ZodType>(schema: S, text: string, what: string): z.infer<S> {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new TerminalError(`GitLab answered ${what} with something other than JSON. Check the instance URL in GITLAB_CONFIGS.`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new TerminalError(`GitLab's answer to ${what} has an unexpected shape (${parsed.error.issues[0]?.message ?? '?'}).`);
    return parsed.data;
  }

  const notesPath = (projectId: number, iid: number) => `/projects/${projectId}/merge_requests/${iid}/notes`;

  return {
    async setCommitStatus(input) {
      const res = await request('POST', `/projects/${input.projectId}/statuses/${input.sha}`, {
        state: input.state,
        name: input.name,
        ...(input.ref ? { ref: input.ref } : {}),
        ...(input.targetUrl && input.targetUrl.length <= 255 ? { target_url: input.targetUrl } : {}),
        ...(input.description ? { description: [...input.description].slice(0, 255).join('') } : {}),
      });
      return res.status === 400 ? 'unchanged' : 'set';
    },
    async listNotes(projectId, iid) {
      const out: MergeRequestNote[] = [];
      let page = '1';
      // Follow X-Next-Page (empty on the last page); the bound guards against a server that never ends.
      for (let i = 0; i < 1000 && page; i++) {
        const res = await request('GET', notesPath(projectId, iid), undefined, { sort: 'asc', order_by: 'created_at', per_page: String(perPage), page });
        out.push(...parse(z.array(Note), res.text, 'GET notes'));
        page = res.headers.get('x-next-page') ?? '';
      }
      return out;
    },
    async createNote(projectId, iid, body) {
      const res = await request('POST', notesPath(projectId, iid), { body });
      return parse(Note, res.text, 'POST note');
    },
    async updateNote(projectId, iid, noteId, body) {
      const res = await request('PUT', `${notesPath(projectId, iid)}/${noteId}`, { body });
      if (res.status === 404) return undefined;
      return parse(Note, res.text, 'PUT note');
    },
    async projectByPath(pathWithNamespace) {
      return lookup(`/projects/${encodeURIComponent(pathWithNamespace)}`, (text) => {
        const p = parse(Project, text, 'GET project');
        return { id: p.id, pathWithNamespace: p.path_with_namespace };
      });
    },
    async mergeRequestSource(projectId, iid) {
      return lookup(`/projects/${projectId}/merge_requests/${iid}`, (text) => ({ sourceProjectId: parse(MergeRequest, text, 'GET merge request').source_project_id }));
    },
    async currentUserId() {
      const user = await lookup('/user', (text) => parse(User, text, 'GET user').id);
      if (user === undefined) throw new TerminalError(`GitLab at ${host} has no user for ${opts.tokenSetting} (GET /user answered 404).`);
      return user;
    },
  };
}
