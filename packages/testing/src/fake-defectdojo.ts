import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A local DefectDojo (API v2, as of 3.2.0) for the endpoints SecBot uses. It keeps the real server's
 * habits that bite clients: token auth with DRF's 401 bodies, paths that must end in `/`, multipart-only
 * imports, limit/offset pages of 25, filters that silently ignore unknown parameters, lower-cased tags,
 * and hash_code deduplication across the product exactly as the "Gitleaks Scan" parser feeds it.
 * Provenance: DefectDojo's API v2 and dojo/tools/gitleaks/parser.py, settings.dist.py (hash_code fields).
 */

export interface FakeDojoProductType {
  id: number;
  name: string;
}
export interface FakeDojoProduct {
  id: number;
  name: string;
  prod_type: number;
  description: string;
}
export interface FakeDojoEngagement {
  id: number;
  name: string;
  product: number;
  engagement_type: string;
  status: string;
  target_start: string;
  target_end: string;
  deduplication_on_engagement: boolean;
  source_code_management_uri: string | null;
  tags: string[];
}
export interface FakeDojoTest {
  id: number;
  engagement: number;
  title: string | null;
  scan_type: string;
  test_type: number;
  test_type_name: string;
  tags: string[];
  commit_hash: string | null;
  branch_tag: string | null;
  build_id: string | null;
  target_start: string;
  target_end: string;
  created: string;
}
export interface FakeDojoFinding {
  id: number;
  test: number;
  title: string;
  date: string;
  cwe: number;
  severity: string;
  numerical_severity: string;
  description: string;
  file_path: string;
  line: number | null;
  active: boolean;
  verified: boolean;
  false_p: boolean;
  duplicate: boolean;
  duplicate_finding: number | null;
  out_of_scope: boolean;
  risk_accepted: boolean;
  is_mitigated: boolean;
  mitigated: string | null;
  under_review: boolean;
  static_finding: boolean;
  dynamic_finding: boolean;
  /** null until deduplication ran (the real server computes it while post-processing). */
  hash_code: string | null;
  vuln_id_from_tool: string | null;
  nb_occurences: number;
  tags: string[];
  service: string | null;
  created: string;
}

export interface FakeDojoRequest {
  method: string;
  /** Path without the query string, e.g. `/api/v2/import-scan/`. */
  path: string;
  query: Record<string, string>;
  authorization: string | undefined;
  contentType: string | undefined;
  /** Multipart fields (repeated fields keep every value); the file is in `file`. */
  fields?: Record<string, string[]>;
  file?: { name: string; content: string };
  json?: unknown;
  status: number;
}

export interface FakeDefectDojoOptions {
  /** The API key the fake accepts. */
  token?: string;
  pageSize?: number;
  /**
   * true (default): like 3.2.0, honours `deduplication_execution_mode=async_wait` and answers with
   * `deduplication_complete`. false: like older servers, ignores the field and deduplicates
   * `dedupeDelayMs` after the import, leaving `hash_code` null until then.
   */
  asyncWait?: boolean;
  dedupeDelayMs?: number;
  /** Default 0 (any free port); `make up`-style runs may want a fixed one (e.g. 8930, as in .env.dev). */
  port?: number;
}

export interface FailOptions {
  /** Seconds for the `Retry-After` header. */
  retryAfter?: number;
  body?: unknown;
  /** How many following requests fail this way (default 1). */
  times?: number;
  /** Only requests this accepts fail (default: the next request, whatever it is). */
  match?: (request: FakeDojoRequest) => boolean;
}

export interface FakeDefectDojo {
  url: string;
  token: string;
  readonly requests: FakeDojoRequest[];
  readonly productTypes: FakeDojoProductType[];
  readonly products: FakeDojoProduct[];
  readonly engagements: FakeDojoEngagement[];
  readonly tests: FakeDojoTest[];
  readonly findings: FakeDojoFinding[];
  failNext(status: number, options?: FailOptions): void;
  /** Every connection is reset until up(): what a client sees when the server is unreachable. */
  down(): void;
  up(): void;
  /** Triage as a person would in the UI: the same rules as PATCH /api/v2/findings/{id}/. */
  triage(id: number, patch: Partial<Pick<FakeDojoFinding, 'active' | 'false_p' | 'risk_accepted' | 'is_mitigated' | 'out_of_scope' | 'verified'>>): FakeDojoFinding;
  close(): Promise<void>;
}

const GITLEAKS = 'Gitleaks Scan';
const GITLEAKS_TEST_TYPE = 1;
const ALLOWED_EXTENSIONS = ['.xml', '.csv', '.nessus', '.json', '.jsonl', '.html', '.js', '.zip', '.xlsx', '.txt', '.sarif', '.fpr', '.md', '.log', '.fvdl'];
const NUMERICAL: Record<string, string> = { Critical: 'S0', High: 'S1', Medium: 'S2', Low: 'S3', Info: 'S4' };

class HttpProblem extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

const today = (): string => new Date().toISOString().slice(0, 10);
const plusDays = (date: string, days: number): string => new Date(Date.parse(date) + days * 86_400_000).toISOString().slice(0, 10);

/** A finding as the "Gitleaks Scan" parser builds it, before it is saved. */
interface ParsedFinding {
  title: string;
  description: string;
  severity: string;
  file_path: string;
  line: number | null;
  tags: string[];
  vuln_id_from_tool: string | null;
  nb_occurences: number;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : v === undefined || v === null ? '' : JSON.stringify(v));

/** Behaves like dojo/tools/gitleaks/parser.py: v7 items have `rule`, v8 items need a truthy `Description`. */
export function parseGitleaksForDojo(content: string): ParsedFinding[] {
  let issues: unknown;
  try {
    issues = JSON.parse(content);
  } catch {
    throw new HttpProblem(400, { detail: 'Invalid JSON in the uploaded file' });
  }
  if (issues === null) return [];
  if (!Array.isArray(issues)) throw new HttpProblem(400, { detail: 'Format is not recognized for Gitleaks' });
  const byKey = new Map<string, ParsedFinding>();
  for (const raw of issues as unknown[]) {
    const issue = (raw ?? {}) as Record<string, unknown>;
    if (issue['rule']) {
      const rule = str(issue['rule']);
      const file = str(issue['file']);
      let line: number | null = null;
      let description = `**Commit:** ${str(issue['commitMessage']).replace(/\n+$/, '')}\n`;
      description += `**Commit Hash:** ${str(issue['commit'])}\n**Commit Date:** ${str(issue['date'])}\n`;
      description += `**Author:** ${str(issue['author'])} <${str(issue['email'])}>\n**Reason:** ${rule}\n**Path:** ${file}\n`;
      if ('lineNumber' in issue) {
        description += `**Line:** ${str(issue['lineNumber'])}\n`;
        line = Number(issue['lineNumber']);
      }
      if ('leakURL' in issue) description += `**Leak URL:** [${str(issue['leakURL'])}](${str(issue['leakURL'])})\n`;
      description += `\n**String Found:**\n\n\`\`\`\n${str(issue['line']).split(str(issue['offender'])).join('REDACTED')}\n\`\`\``;
      const severity = /Github|AWS|Heroku/.test(rule) ? 'Critical' : 'High';
      const key = createHash('sha256').update(str(issue['offender']) + file + String(line)).digest('hex');
      if (!byKey.has(key)) {
        byKey.set(key, { title: `Hard Coded ${rule}`, description, severity, file_path: file, line, tags: str(issue['tags']).split(', '), vuln_id_from_tool: rule, nb_occurences: 1 });
      }
    } else if (issue['Description']) {
      const reason = str(issue['Description']);
      const line = issue['StartLine'] ? Number(issue['StartLine']) : 0;
      const file = str(issue['File']);
      const secret = issue['Secret'];
      if (typeof secret !== 'string') throw new HttpProblem(400, { detail: 'Secret must be a string' });
      const title = `Hard coded ${reason} found in ${file}`;
      const ruleId = 'RuleID' in issue ? str(issue['RuleID']) : 'SECRET_SCANNING';
      let description = '';
      if (secret) description += `**Secret:** ${secret}\n`;
      if (issue['Match']) description += `**Match:** ${str(issue['Match'])}\n`;
      const message = str(issue['Message']);
      if (message) {
        description += message.includes('\n')
          ? `**Commit message:**\n\`\`\`\n${message.split('```').join('\\`\\`\\`')}\n\`\`\`\n`
          : `**Commit message:** ${message}\n`;
      }
      if (issue['Commit']) description += `**Commit hash:** ${str(issue['Commit'])}\n`;
      if (issue['Date']) description += `**Commit date:** ${str(issue['Date'])}\n`;
      if (ruleId) description += `**Rule Id:** ${ruleId}`;
      if (description.endsWith('\n')) description = description.slice(0, -1);
      const key = createHash('md5').update(title + secret + String(line)).digest('hex');
      const seen = byKey.get(key);
      if (seen) {
        seen.description += `\n\n***\n\n${description}`;
        seen.nb_occurences += 1;
      } else {
        const tags = Array.isArray(issue['Tags']) ? issue['Tags'].map(str) : [];
        byKey.set(key, { title, description, severity: 'High', file_path: file, line, tags, vuln_id_from_tool: ruleId, nb_occurences: 1 });
      }
    } else {
      // The real server answers 400 and imports nothing (contracts § 2.5).
      throw new HttpProblem(400, { detail: 'Format is not recognized for Gitleaks' });
    }
  }
  return [...byKey.values()];
}

/** The legacy hash (Gitleaks is not in HASHCODE_FIELDS_PER_SCANNER): title + cwe + line + file_path + description (+ service). */
export function dojoHashCode(f: Pick<FakeDojoFinding, 'title' | 'cwe' | 'line' | 'file_path' | 'description' | 'service'>): string {
  const fields = f.title + String(f.cwe) + (f.line === null ? 'None' : String(f.line)) + f.file_path + f.description + (f.service ?? '');
  return createHash('sha256').update(fields.toLowerCase().trim()).digest('hex');
}

function parseBool(v: string | undefined): boolean | undefined {
  if (v === undefined || v === '') return undefined;
  if (/^(true|1|on)$/i.test(v)) return true;
  if (/^(false|0|off)$/i.test(v)) return false;
  return undefined;
}

function splitTags(values: string[]): string[] {
  const tags = values.flatMap((v) => v.split(',')).map((t) => t.trim()).filter(Boolean);
  for (const t of tags) {
    if (/[ '"]/.test(t)) throw new HttpProblem(400, { tags: [`Invalid tag "${t}": tags may not contain spaces, commas or quotes`] });
  }
  // tagulous is configured with force_lowercase in DefectDojo.
  return [...new Set(tags.map((t) => t.toLowerCase()))];
}

export async function fakeDefectDojo(options: FakeDefectDojoOptions = {}): Promise<FakeDefectDojo> {
  const token = options.token ?? 'fake-defectdojo-token';
  const pageSize = options.pageSize ?? 25;
  const asyncWait = options.asyncWait ?? true;
  const dedupeDelayMs = options.dedupeDelayMs ?? 100;
  const requests: FakeDojoRequest[] = [];
  const productTypes: FakeDojoProductType[] = [];
  const products: FakeDojoProduct[] = [];
  const engagements: FakeDojoEngagement[] = [];
  const tests: FakeDojoTest[] = [];
  const findings: FakeDojoFinding[] = [];
  const failures: Array<{ status: number; options: FailOptions }> = [];
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  let isDown = false;
  let nextId = 1;
  const newId = () => nextId++;

  const productOf = (t: FakeDojoTest) => engagements.find((e) => e.id === t.engagement)?.product;

  function dedupe(finding: FakeDojoFinding): void {
    const test = tests.find((t) => t.id === finding.test);
    const engagement = engagements.find((e) => e.id === test?.engagement);
    if (!test || !engagement) return;
    finding.hash_code = dojoHashCode(finding);
    const inScope = (f: FakeDojoFinding) => {
      const ft = tests.find((t) => t.id === f.test);
      const fe = engagements.find((e) => e.id === ft?.engagement);
      if (!fe || fe.product !== engagement.product) return false;
      if (fe.id === engagement.id) return true;
      return !engagement.deduplication_on_engagement && !fe.deduplication_on_engagement;
    };
    const candidate = findings
      .filter((f) => f.id < finding.id && f.hash_code === finding.hash_code && !f.duplicate && inScope(f))
      .sort((a, b) => a.id - b.id)[0];
    if (!candidate) return;
    const mitigated = (f: FakeDojoFinding) => !f.active && (f.is_mitigated || f.mitigated !== null);
    // A mitigated original that no person closed is a regression: the new finding starts a new chain.
    if (mitigated(candidate) && !candidate.out_of_scope && !candidate.false_p && !mitigated(finding)) return;
    finding.duplicate = true;
    finding.active = false;
    finding.verified = false;
    finding.duplicate_finding = candidate.id;
  }

  const stats = (list: FakeDojoFinding[]) => {
    const bucket = (sev: string | undefined) => {
      const fs = sev ? list.filter((f) => f.severity === sev) : list;
      const count = (p: (f: FakeDojoFinding) => boolean) => fs.filter(p).length;
      return {
        active: count((f) => f.active),
        verified: count((f) => f.verified),
        duplicate: count((f) => f.duplicate),
        false_p: count((f) => f.false_p),
        out_of_scope: count((f) => f.out_of_scope),
        is_mitigated: count((f) => f.is_mitigated),
        risk_accepted: count((f) => f.risk_accepted),
        total: fs.length,
      };
    };
    return { critical: bucket('Critical'), high: bucket('High'), medium: bucket('Medium'), low: bucket('Low'), info: bucket('Info'), total: bucket(undefined) };
  };

  function resolveContext(f: Record<string, string[]>, create: boolean): { engagement: FakeDojoEngagement; productType: FakeDojoProductType; product: FakeDojoProduct } {
    const one = (k: string) => f[k]?.[0];
    const engagementId = one('engagement');
    if (engagementId) {
      const engagement = engagements.find((e) => e.id === Number(engagementId));
      if (!engagement) throw new HttpProblem(400, { engagement: [`Invalid pk "${engagementId}" - object does not exist.`] });
      const product = products.find((p) => p.id === engagement.product);
      const productType = productTypes.find((t) => t.id === product?.prod_type);
      if (!product || !productType) throw new HttpProblem(500, 'Server Error (500)');
      return { engagement, product, productType };
    }
    const productName = one('product_name');
    const engagementName = one('engagement_name');
    const productTypeName = one('product_type_name');
    if (!productName || !engagementName) {
      throw new HttpProblem(400, { non_field_errors: ['engagement or product_name + engagement_name must be given'] });
    }
    const autoCreate = parseBool(one('auto_create_context')) ?? false;
    let product = products.find((p) => p.name === productName);
    let productType = productTypes.find((t) => t.name === productTypeName);
    if (product && productTypeName && product.prod_type !== productType?.id) {
      throw new HttpProblem(400, { non_field_errors: [`The fetched product has a conflict with the supplied product type name: existing product type name - ${productTypes.find((t) => t.id === product?.prod_type)?.name} vs supplied product type name - ${productTypeName}`] });
    }
    if (!product) {
      if (!autoCreate || !create) throw new HttpProblem(400, { non_field_errors: [`Product "${productName}" does not exist`] });
      if (!productTypeName) throw new HttpProblem(400, { non_field_errors: ['Product Type must be provided to create a product'] });
      if (!productType) {
        productType = { id: newId(), name: productTypeName };
        productTypes.push(productType);
      }
      product = { id: newId(), name: productName, prod_type: productType.id, description: 'Auto-created by import' };
      products.push(product);
    }
    productType = productTypes.find((t) => t.id === product?.prod_type);
    if (!productType) throw new HttpProblem(500, 'Server Error (500)');
    // Names are not unique: the last engagement with the name wins (contracts § 2.3 TRAP).
    let engagement = engagements.filter((e) => e.product === product.id && e.name === engagementName).at(-1);
    if (!engagement) {
      if (!autoCreate || !create) throw new HttpProblem(400, { non_field_errors: [`Engagement "${engagementName}" does not exist`] });
      const start = today();
      engagement = {
        id: newId(),
        name: engagementName,
        product: product.id,
        engagement_type: 'CI/CD',
        status: 'In Progress',
        target_start: start,
        target_end: one('engagement_end_date') ?? plusDays(start, 365),
        deduplication_on_engagement: parseBool(one('deduplication_on_engagement')) ?? false,
        source_code_management_uri: one('source_code_management_uri') ?? null,
        tags: [],
      };
      engagements.push(engagement);
    }
    return { engagement, product, productType };
  }

  function checkImportFields(f: Record<string, string[]>, file: { name: string; content: string } | undefined): { file: { name: string; content: string }; scanDate: string } {
    const scanType = f['scan_type']?.[0];
    if (!scanType) throw new HttpProblem(400, { scan_type: ['This field is required.'] });
    if (scanType !== GITLEAKS) throw new HttpProblem(400, { scan_type: [`"${scanType}" is not a valid choice.`] });
    if (!file) throw new HttpProblem(400, { file: ['No file was submitted.'] });
    const ext = file.name.includes('.') ? file.name.slice(file.name.lastIndexOf('.')).toLowerCase() : '';
    if (!ALLOWED_EXTENSIONS.includes(ext)) throw new HttpProblem(400, { file: [`File extension "${ext}" is not allowed.`] });
    const scanDate = f['scan_date']?.[0] ?? today();
    if (scanDate > today()) throw new HttpProblem(400, { scan_date: ['The date cannot be in the future!'] });
    const mode = f['deduplication_execution_mode']?.[0];
    if (asyncWait && mode && !['async', 'async_wait', 'sync'].includes(mode)) {
      throw new HttpProblem(400, { deduplication_execution_mode: [`"${mode}" is not a valid choice.`] });
    }
    return { file, scanDate };
  }

  function saveFindings(test: FakeDojoTest, parsed: ParsedFinding[], f: Record<string, string[]>, scanDate: string): FakeDojoFinding[] {
    const active = parseBool(f['active']?.[0]);
    const verified = parseBool(f['verified']?.[0]);
    const created: FakeDojoFinding[] = parsed.map((p) => ({
      id: newId(),
      test: test.id,
      title: p.title,
      date: scanDate,
      cwe: 798,
      severity: p.severity,
      numerical_severity: NUMERICAL[p.severity] ?? 'S1',
      description: p.description,
      file_path: p.file_path,
      line: p.line,
      active: active ?? true,
      verified: verified ?? false,
      false_p: false,
      duplicate: false,
      duplicate_finding: null,
      out_of_scope: false,
      risk_accepted: false,
      is_mitigated: false,
      mitigated: null,
      under_review: false,
      static_finding: true,
      dynamic_finding: false,
      hash_code: null,
      vuln_id_from_tool: p.vuln_id_from_tool,
      nb_occurences: p.nb_occurences,
      tags: (parseBool(f['apply_tags_to_findings']?.[0]) ? [...test.tags] : []).concat(p.tags.map((t) => t.toLowerCase())),
      service: f['service']?.[0] ?? null,
      created: new Date().toISOString(),
    }));
    findings.push(...created);
    return created;
  }

  function runDedupe(list: FakeDojoFinding[], mode: string | undefined): boolean {
    if (asyncWait && (mode === 'async_wait' || mode === 'sync')) {
      for (const f of list) dedupe(f);
      return true;
    }
    const timer = setTimeout(() => {
      timers.delete(timer);
      for (const f of list) dedupe(f);
    }, dedupeDelayMs);
    timers.add(timer);
    return false;
  }

  function importScan(f: Record<string, string[]>, file: { name: string; content: string } | undefined) {
    const checked = checkImportFields(f, file);
    const parsed = parseGitleaksForDojo(checked.file.content);
    const { engagement, product, productType } = resolveContext(f, true);
    const test: FakeDojoTest = {
      id: newId(),
      engagement: engagement.id,
      title: f['test_title']?.[0] ?? null,
      scan_type: GITLEAKS,
      test_type: GITLEAKS_TEST_TYPE,
      test_type_name: GITLEAKS,
      tags: splitTags(f['tags'] ?? []),
      commit_hash: f['commit_hash']?.[0] ?? null,
      branch_tag: f['branch_tag']?.[0] ?? null,
      build_id: f['build_id']?.[0] ?? null,
      target_start: checked.scanDate,
      target_end: checked.scanDate,
      created: new Date().toISOString(),
    };
    tests.push(test);
    const created = saveFindings(test, parsed, f, checked.scanDate);
    const complete = runDedupe(created, f['deduplication_execution_mode']?.[0]);
    return importResponse(f, test, engagement, product, productType, complete, {});
  }

  function importResponse(
    f: Record<string, string[]>,
    test: FakeDojoTest,
    engagement: FakeDojoEngagement,
    product: FakeDojoProduct,
    productType: FakeDojoProductType,
    complete: boolean,
    extraStats: Record<string, unknown>,
  ) {
    const echo: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(f)) echo[k] = k === 'tags' ? test.tags : v[0];
    const body: Record<string, unknown> = {
      ...echo,
      scan_type: GITLEAKS,
      test: test.id,
      test_id: test.id,
      engagement_id: engagement.id,
      product_id: product.id,
      product_type_id: productType.id,
      statistics: { ...extraStats, after: stats(findings.filter((x) => x.test === test.id)) },
      pro: [],
    };
    if (asyncWait) body['deduplication_complete'] = complete;
    return body;
  }

  function reimportScan(f: Record<string, string[]>, file: { name: string; content: string } | undefined) {
    const checked = checkImportFields(f, file);
    let test: FakeDojoTest | undefined;
    const testId = f['test']?.[0];
    if (testId) {
      test = tests.find((t) => t.id === Number(testId));
      if (!test) throw new HttpProblem(400, { test: [`Invalid pk "${testId}" - object does not exist.`] });
    } else {
      let context: ReturnType<typeof resolveContext> | undefined;
      try {
        context = resolveContext(f, false);
      } catch (err) {
        if (!(err instanceof HttpProblem) || !(parseBool(f['auto_create_context']?.[0]) ?? false)) throw new HttpProblem(404, { message: 'A test could not be found!' });
      }
      if (context) {
        const inEngagement = tests.filter((t) => t.engagement === context.engagement.id && t.scan_type === GITLEAKS);
        const title = f['test_title']?.[0];
        test = (title ? inEngagement.filter((t) => t.title === title) : []).at(-1) ?? inEngagement.at(-1);
      }
      if (!test) {
        if (parseBool(f['auto_create_context']?.[0]) ?? false) return importScan({ ...f, close_old_findings: ['false'] }, checked.file);
        throw new HttpProblem(404, { message: 'A test could not be found!' });
      }
    }
    const engagement = engagements.find((e) => e.id === test.engagement);
    const product = products.find((p) => p.id === engagement?.product);
    const productType = productTypes.find((t) => t.id === product?.prod_type);
    if (!engagement || !product || !productType) throw new HttpProblem(500, 'Server Error (500)');
    const before = stats(findings.filter((x) => x.test === test.id));
    const parsed = parseGitleaksForDojo(checked.file.content);
    const existing = findings.filter((x) => x.test === test.id);
    const matched = new Set<number>();
    const fresh: ParsedFinding[] = [];
    for (const p of parsed) {
      const hash = dojoHashCode({ ...p, cwe: 798, service: f['service']?.[0] ?? null });
      const same = existing.find((x) => (x.hash_code ?? dojoHashCode(x)) === hash);
      if (!same) {
        fresh.push(p);
        continue;
      }
      matched.add(same.id);
      if (same.is_mitigated && !same.false_p && !same.risk_accepted && !(parseBool(f['do_not_reactivate']?.[0]) ?? false)) {
        same.is_mitigated = false;
        same.mitigated = null;
        same.active = true;
      }
    }
    const closed: FakeDojoFinding[] = [];
    if (parseBool(f['close_old_findings']?.[0]) ?? true) {
      for (const x of existing) {
        if (matched.has(x.id) || x.is_mitigated) continue;
        x.is_mitigated = true;
        x.mitigated = new Date().toISOString();
        x.active = false;
        closed.push(x);
      }
    }
    if (f['tags']) test.tags = splitTags(f['tags']);
    if (f['commit_hash']?.[0]) test.commit_hash = f['commit_hash'][0];
    if (f['branch_tag']?.[0]) test.branch_tag = f['branch_tag'][0];
    const created = saveFindings(test, fresh, f, checked.scanDate);
    const complete = runDedupe(created, f['deduplication_execution_mode']?.[0]);
    return importResponse(f, test, engagement, product, productType, complete, {
      before,
      delta: { created: stats(created), closed: stats(closed), reactivated: stats([]), untouched: stats(existing.filter((x) => matched.has(x.id))) },
    });
  }

  function page<T>(req: IncomingMessage, url: URL, items: T[]) {
    const limit = Math.max(1, Number(url.searchParams.get('limit') ?? pageSize) || pageSize);
    const offset = Math.max(0, Number(url.searchParams.get('offset') ?? 0) || 0);
    const link = (o: number) => {
      const u = new URL(`http://${req.headers.host ?? '127.0.0.1'}${url.pathname}${url.search}`);
      u.searchParams.set('limit', String(limit));
      if (o <= 0) u.searchParams.delete('offset');
      else u.searchParams.set('offset', String(o));
      return u.toString();
    };
    return {
      count: items.length,
      next: offset + limit < items.length ? link(offset + limit) : null,
      previous: offset > 0 ? link(Math.max(0, offset - limit)) : null,
      results: items.slice(offset, offset + limit),
    };
  }

  const ids = (v: string | null) => (v === null ? undefined : v.split(',').map(Number));
  /** A model filter (`test`, `engagement`, `product`) takes one id; django-filter rejects anything else. */
  const oneId = (q: URLSearchParams, key: string): number[] | undefined => {
    const v = q.get(key);
    if (v === null || v === '') return undefined;
    if (!/^\d+$/.test(v)) throw new HttpProblem(400, { [key]: ['Select a valid choice. That choice is not one of the available choices.'] });
    return [Number(v)];
  };

  function filterFindings(q: URLSearchParams): FakeDojoFinding[] {
    let list = [...findings];
    const eq = (key: string, get: (f: FakeDojoFinding) => number | undefined) => {
      const want = ids(q.get(key));
      if (want) list = list.filter((f) => want.includes(get(f) ?? -1));
    };
    eq('id', (f) => f.id);
    const test = oneId(q, 'test');
    if (test) list = list.filter((f) => test.includes(f.test));
    eq('test__engagement', (f) => tests.find((t) => t.id === f.test)?.engagement);
    eq('test__engagement__product', (f) => {
      const t = tests.find((x) => x.id === f.test);
      return t ? productOf(t) : undefined;
    });
    for (const key of ['active', 'duplicate', 'verified', 'false_p', 'is_mitigated', 'out_of_scope', 'risk_accepted', 'static_finding'] as const) {
      const want = parseBool(q.get(key) ?? undefined);
      if (want !== undefined) list = list.filter((f) => f[key] === want);
    }
    const hash = q.get('hash_code');
    if (hash) list = list.filter((f) => (f.hash_code ?? '').toLowerCase().includes(hash.toLowerCase()));
    const tags = q.get('tags');
    if (tags) {
      const want = tags.split(',');
      list = list.filter((f) => f.tags.some((t) => want.includes(t)));
    }
    const testTags = q.get('test__tags');
    if (testTags) {
      const want = testTags.split(',');
      list = list.filter((f) => tests.find((t) => t.id === f.test)?.tags.some((t) => want.includes(t)) ?? false);
    }
    return list.sort((a, b) => a.id - b.id);
  }

  function filterTests(q: URLSearchParams): FakeDojoTest[] {
    let list = [...tests];
    const engagement = oneId(q, 'engagement');
    if (engagement) list = list.filter((t) => engagement.includes(t.engagement));
    const title = q.get('title');
    if (title !== null) list = list.filter((t) => t.title === title);
    const tags = q.get('tags');
    if (tags) {
      const want = tags.split(',');
      list = list.filter((t) => t.tags.some((x) => want.includes(x)));
    }
    const commit = q.get('commit_hash');
    if (commit !== null) list = list.filter((t) => t.commit_hash === commit);
    return list.sort((a, b) => a.id - b.id);
  }

  function patchFinding(id: number, patch: Record<string, unknown>): FakeDojoFinding {
    const f = findings.find((x) => x.id === id);
    if (!f) throw new HttpProblem(404, { detail: 'No Finding matches the given query.' });
    const next = { ...f };
    for (const key of ['active', 'verified', 'false_p', 'risk_accepted', 'is_mitigated', 'out_of_scope', 'under_review'] as const) {
      const v = patch[key];
      if (v === undefined) continue;
      if (typeof v !== 'boolean') throw new HttpProblem(400, { [key]: ['Must be a valid boolean.'] });
      next[key] = v;
    }
    if (patch['active'] === true && (next.false_p || next.is_mitigated || next.risk_accepted)) {
      throw new HttpProblem(400, { non_field_errors: ['Active findings cannot be false positives, mitigated or risk accepted.'] });
    }
    // What the UI does when a person closes a finding: it is no longer active.
    if (patch['false_p'] === true || patch['risk_accepted'] === true || patch['is_mitigated'] === true || patch['out_of_scope'] === true) next.active = false;
    if (patch['is_mitigated'] === true) next.mitigated ??= new Date().toISOString();
    if (patch['is_mitigated'] === false) next.mitigated = null;
    Object.assign(f, next);
    return f;
  }

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/html; charset=utf-8' : 'application/json', ...headers });
    res.end(text);
  };

  async function route(req: IncomingMessage, url: URL, raw: Buffer, record: FakeDojoRequest): Promise<{ status: number; body: unknown; headers?: Record<string, string> }> {
    const auth = req.headers.authorization;
    if (!auth) return { status: 401, body: { detail: 'Authentication credentials were not provided.' }, headers: { 'www-authenticate': 'Token' } };
    const m = /^Token (.+)$/.exec(auth);
    if (!m || m[1] !== token) return { status: 401, body: { detail: 'Invalid token.' }, headers: { 'www-authenticate': 'Token' } };

    const path = url.pathname;
    // DRF's DefaultRouter: no trailing slash, no route (POSTs are not redirected).
    if (!path.endsWith('/')) return { status: 404, body: '<h1>Not Found</h1>' };
    const method = req.method ?? 'GET';
    const q = url.searchParams;

    if (method === 'POST' && (path === '/api/v2/import-scan/' || path === '/api/v2/reimport-scan/')) {
      const contentType = req.headers['content-type'] ?? '';
      if (!contentType.startsWith('multipart/form-data')) {
        return { status: 415, body: { detail: `Unsupported media type "${contentType}" in request.` } };
      }
      const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': contentType } }).formData();
      const fields: Record<string, string[]> = {};
      let file: { name: string; content: string } | undefined;
      for (const [key, value] of form.entries()) {
        if (typeof value === 'string') (fields[key] ??= []).push(value);
        else if (key === 'file') file = { name: value.name, content: await value.text() };
      }
      record.fields = fields;
      record.file = file;
      const body = path === '/api/v2/import-scan/' ? importScan(fields, file) : reimportScan(fields, file);
      return { status: 201, body };
    }

    const collection = /^\/api\/v2\/(product_types|products|engagements|tests|findings)\/(?:(\d+)\/)?$/.exec(path);
    if (!collection) return { status: 404, body: '<h1>Not Found</h1>' };
    const [, kind, idText] = collection;
    const id = idText === undefined ? undefined : Number(idText);

    if (kind === 'findings' && id !== undefined && (method === 'PATCH' || method === 'PUT')) {
      let patch: unknown;
      try {
        patch = JSON.parse(raw.toString('utf8'));
      } catch {
        return { status: 400, body: { detail: 'JSON parse error' } };
      }
      record.json = patch;
      return { status: 200, body: patchFinding(id, (patch ?? {}) as Record<string, unknown>) };
    }
    if (method !== 'GET') return { status: 405, body: { detail: `Method "${method}" not allowed.` } };

    const byName = <T extends { name: string }>(list: T[]) => {
      const name = q.get('name');
      return name === null ? list : list.filter((x) => x.name === name);
    };
    let list: Array<{ id: number }>;
    switch (kind) {
      case 'product_types':
        list = byName(productTypes);
        break;
      case 'products': {
        const pt = ids(q.get('prod_type'));
        list = byName(products).filter((p) => !pt || pt.includes(p.prod_type));
        break;
      }
      case 'engagements': {
        const product = oneId(q, 'product');
        list = byName(engagements).filter((e) => !product || product.includes(e.product));
        break;
      }
      case 'tests':
        list = filterTests(q);
        break;
      default:
        list = filterFindings(q);
    }
    if (id !== undefined) {
      const all = kind === 'findings' ? findings : kind === 'tests' ? tests : kind === 'engagements' ? engagements : kind === 'products' ? products : productTypes;
      const one = (all as Array<{ id: number }>).find((x) => x.id === id);
      return one ? { status: 200, body: one } : { status: 404, body: { detail: 'Not found.' } };
    }
    return { status: 200, body: page(req, url, list) };
  }

  const server = createServer((req, res) => {
    if (isDown) {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const record: FakeDojoRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        status: 0,
      };
      requests.push(record);
      const index = failures.findIndex((f) => f.options.match?.(record) ?? true);
      const failure = failures[index];
      if (failure) {
        const left = (failure.options.times ?? 1) - 1;
        if (left <= 0) failures.splice(index, 1);
        else failure.options.times = left;
        record.status = failure.status;
        const headers: Record<string, string> = failure.options.retryAfter === undefined ? {} : { 'retry-after': String(failure.options.retryAfter) };
        const body =
          failure.options.body ??
          (failure.status === 429
            ? { detail: `Request was throttled. Expected available in ${failure.options.retryAfter ?? 1} seconds.` }
            : failure.status >= 500
              ? `<h1>Server Error (${failure.status})</h1>`
              : { detail: `Injected ${failure.status}` });
        json(res, failure.status, body, headers);
        return;
      }
      route(req, url, Buffer.concat(chunks), record)
        .then(({ status, body, headers }) => {
          record.status = status;
          json(res, status, body, headers);
        })
        .catch((err: unknown) => {
          if (err instanceof HttpProblem) {
            record.status = err.status;
            json(res, err.status, err.body);
          } else {
            record.status = 500;
            json(res, 500, '<h1>Server Error (500)</h1>');
          }
        });
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    token,
    requests,
    productTypes,
    products,
    engagements,
    tests,
    findings,
    failNext(status, failOptions = {}) {
      failures.push({ status, options: { ...failOptions } });
    },
    down() {
      isDown = true;
      for (const s of sockets) s.destroy();
    },
    up() {
      isDown = false;
    },
    triage(id, patch) {
      return patchFinding(id, patch);
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
