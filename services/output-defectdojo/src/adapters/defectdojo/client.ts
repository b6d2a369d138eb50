import { RetryableError, TerminalError } from '@secbot/service-kit';
import type { z } from 'zod';
import { DojoFinding, DojoNamed, DojoTest, ImportScanResponse, page } from './schema.ts';

export type { DojoFinding, DojoTest } from './schema.ts';

/** Where the operator fixes a setting, e.g. `components.defectdojo.env.secret_key (DEFECTDOJO__TOKEN)`. */
export interface SettingNames {
  url: string;
  token: string;
}

export interface DefectDojoClientOptions {
  /** The DefectDojo root, e.g. `https://defectdojo.example.org` (without `/api/v2`). */
  baseUrl: string;
  token: string;
  settings: SettingNames;
  fetch?: typeof fetch;
  timeoutMs?: number;
  /** Findings per page when listing (DefectDojo's default is 25). */
  pageSize?: number;
}

export interface ImportScanInput {
  productTypeName: string;
  productName: string;
  engagementName: string;
  testTitle: string;
  tags: string[];
  commitHash: string;
  branchTag: string;
  buildId: string;
  sourceCodeManagementUri: string;
  /** The gitleaks JSON report, already redacted. */
  report: string;
  lead?: number;
}

export interface ImportScanResult {
  testId: number;
  /** true: the server deduplicated before answering (async_wait); false/undefined: poll before trusting flags. */
  deduplicationComplete: boolean | undefined;
}

/** DefectDojo API v2, as SecBot uses it. Every method throws RetryableError or TerminalError, never with the token. */
export interface DefectDojoClient {
  /** The test an earlier delivery imported for this run, found by its tag inside the product and engagement. */
  findTest(input: { productName: string; engagementName: string; tag: string }): Promise<DojoTest | undefined>;
  importScan(input: ImportScanInput): Promise<ImportScanResult>;
  /** Every finding of one test, all pages; throws if the count changed while paging. */
  listTestFindings(testId: number): Promise<DojoFinding[]>;
  /** The findings with these ids (originals of duplicates), all pages. */
  getFindings(ids: number[]): Promise<DojoFinding[]>;
  findingUrl(id: number): string;
  testUrl(id: number): string;
}

const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EAI_AGAIN', 'EPIPE', 'ENOTFOUND', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT']);

/** `Retry-After` in seconds or as an HTTP date (RFC 9110 § 10.2.3). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e; depth++) {
    if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') return e.code;
    e = typeof e === 'object' && e !== null && 'cause' in e ? e.cause : undefined;
  }
  return undefined;
}

export function createDefectDojoClient(opts: DefectDojoClientOptions): DefectDojoClient {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const pageSize = opts.pageSize ?? 100;
  const { settings } = opts;

  async function request<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    init: { query?: Record<string, string>; form?: FormData } = {},
  ): Promise<z.infer<S>> {
    const url = new URL(`${base}${path}`);
    for (const [k, v] of Object.entries(init.query ?? {})) url.searchParams.set(k, v);
    const what = `${method} ${url.pathname}`;
    let res: Response;
    try {
      res = await doFetch(url, {
        method,
        headers: { authorization: `Token ${opts.token}`, accept: 'application/json' },
        body: init.form,
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'manual',
      });
    } catch (err) {
      const code = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError') ? 'timeout' : (causeCode(err) ?? 'network error');
      if (code === 'timeout' || RETRYABLE_CODES.has(code) || err instanceof TypeError) {
        throw new RetryableError(`DefectDojo at ${url.host} did not answer ${what} (${code}). Check it is running and reachable from SecBot (${settings.url}).`, { cause: err });
      }
      throw new RetryableError(`DefectDojo request ${what} failed (${code}).`, { cause: err });
    }
    const text = await res.text().catch(() => '');
    const excerpt = text.slice(0, 200).replace(/\s+/g, ' ').trim();
    if (res.status === 429 || res.status >= 500) {
      throw new RetryableError(`DefectDojo answered ${res.status} to ${what}: ${excerpt}`, { retryAfterMs: parseRetryAfter(res.headers.get('retry-after')) });
    }
    if (res.status === 401) throw new TerminalError(`DefectDojo rejected the API token (401) for ${what}. Check ${settings.token} holds a valid API v2 key.`);
    if (res.status === 403) throw new TerminalError(`DefectDojo refused ${what} (403): the user of ${settings.token} lacks permission. Give it import rights on the product type, or auto-create rights.`);
    if (res.status === 404) throw new TerminalError(`DefectDojo has no ${url.pathname} (404). Check ${settings.url} is the DefectDojo root URL, without /api/v2. ${excerpt}`);
    if (res.status >= 300 && res.status < 400) throw new TerminalError(`DefectDojo redirected ${what} (${res.status}) to ${res.headers.get('location') ?? '?'}. Check ${settings.url} (scheme, host, path).`);
    if (res.status >= 400) throw new TerminalError(`DefectDojo refused ${what} (${res.status}): ${excerpt}`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new TerminalError(`DefectDojo answered ${what} with something other than JSON. Check ${settings.url} points at DefectDojo.`);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      throw new TerminalError(`DefectDojo's answer to ${what} has an unexpected shape (${issues}). Is this DefectDojo API v2?`);
    }
    return parsed.data;
  }

  /** Pages through a list. `strict`: the list must not change while reading (a decision depends on all of it). */
  async function all<S extends z.ZodType>(path: string, item: S, query: Record<string, string>, strict = true): Promise<Array<z.infer<S>>> {
    const out: Array<z.infer<S>> = [];
    const schema = page(item);
    let expected: number | undefined;
    for (;;) {
      const p = await request('GET', path, schema, { query: { ...query, limit: String(pageSize), offset: String(out.length) } });
      if (strict && expected !== undefined && p.count !== expected) {
        throw new RetryableError(`The ${path} list changed while SecBot was reading it (${expected} then ${p.count}); reading again.`);
      }
      expected = p.count;
      out.push(...p.results);
      if (out.length >= p.count || p.results.length === 0 || p.next === null) break;
    }
    if (strict && out.length !== expected) {
      throw new RetryableError(`DefectDojo listed ${expected ?? 0} entries of ${path} but returned ${out.length}; not deciding on a partial list.`);
    }
    return out;
  }

  return {
    async findTest({ productName, engagementName, tag }) {
      // Some DefectDojo versions match `name` loosely (icontains): keep exact matches only.
      const product = (await all('/api/v2/products/', DojoNamed, { name: productName }, false)).find((p) => p.name === productName);
      if (!product) return undefined;
      // Engagement names are not unique; DefectDojo's import uses the last one, so do we.
      const engagements = await all('/api/v2/engagements/', DojoNamed, { product: String(product.id), name: engagementName }, false);
      const ids = engagements.filter((e) => e.name === engagementName).map((e) => e.id);
      if (ids.length === 0) return undefined;
      // Newest engagement first: that is the one DefectDojo imports into. One id per query: `engagement` is an exact filter.
      for (const id of [...ids].reverse()) {
        const tests = await all('/api/v2/tests/', DojoTest, { engagement: String(id), tags: tag }, false);
        const found = tests.find((t) => t.tags.includes(tag) && t.engagement === id);
        if (found) return found;
      }
      return undefined;
    },

    async importScan(input) {
      const form = new FormData();
      form.append('scan_type', 'Gitleaks Scan');
      form.append('file', new Blob([input.report], { type: 'application/json' }), 'gitleaks.json');
      form.append('product_type_name', input.productTypeName);
      form.append('product_name', input.productName);
      form.append('engagement_name', input.engagementName);
      form.append('auto_create_context', 'true');
      // Product-wide deduplication: the same secret re-found from another branch or MR is a duplicate.
      form.append('deduplication_on_engagement', 'false');
      form.append('close_old_findings', 'false');
      form.append('test_title', input.testTitle);
      for (const tag of input.tags) form.append('tags', tag);
      form.append('commit_hash', input.commitHash);
      form.append('branch_tag', input.branchTag);
      form.append('build_id', input.buildId);
      form.append('source_code_management_uri', input.sourceCodeManagementUri);
      form.append('minimum_severity', 'Info');
      form.append('deduplication_execution_mode', 'async_wait');
      if (input.lead !== undefined) form.append('lead', String(input.lead));
      // No scan_date: the server's own today can never be "in the future" for it (contracts § 2.2).
      const res = await request('POST', '/api/v2/import-scan/', ImportScanResponse, { form });
      return { testId: res.test_id ?? res.test, deduplicationComplete: res.deduplication_complete };
    },

    async listTestFindings(testId) {
      const findings = await all('/api/v2/findings/', DojoFinding, { test: String(testId) });
      const stray = findings.find((f) => f.test !== testId);
      if (stray) throw new TerminalError(`DefectDojo ignored the test filter (finding ${stray.id} belongs to test ${stray.test}); refusing to decide on it.`);
      return findings;
    },

    async getFindings(ids) {
      const out: DojoFinding[] = [];
      const unique = [...new Set(ids)];
      for (let i = 0; i < unique.length; i += 50) {
        const chunk = unique.slice(i, i + 50);
        const found = await all('/api/v2/findings/', DojoFinding, { id: chunk.join(',') });
        out.push(...found.filter((f) => chunk.includes(f.id)));
      }
      return out;
    },

    findingUrl: (id) => `${base}/finding/${id}`,
    testUrl: (id) => `${base}/test/${id}`,
  };
}
