import type { Finding } from '@secbot/contracts';
import type { Mirror, RangeStats } from './adapters/git/mirror.ts';
import { REDACTED, toFinding, type GitleaksReportFinding } from './findings.ts';
import {
  addFindings,
  findingKey,
  findingRefId,
  findingsPrefix,
  inScope,
  recordTip,
  scannedPrefix,
  type ProjectRecord,
  type StoredFinding,
} from './project-record.ts';
import type { ProjectRecords } from './project-records.ts';

/**
 * Finds secrets in the commits that `git log <logOpts>` selects in a mirror (gitleaks in the service, a fast
 * fake in the model-based tests). The raw findings hold the secret: they never leave the scanner process.
 */
export type Detection = { status: 'ok'; findings: GitleaksReportFinding[] } | { status: 'error'; reason: string };

export interface Detector {
  detect(mirrorDir: string, logOpts: string[]): Promise<Detection>;
  /** Finds secrets in text (the whole content of files); line numbers count from 1 over the whole text. */
  detectText?(text: Buffer): Promise<Detection>;
}

export interface EvaluationInput {
  mirror: Mirror;
  records: ProjectRecords;
  host: string;
  project: string;
  webUrl: string;
  component: string;
  /** The scan scope: rules digest + scanner version; a commit is scanned once per scope. */
  scope: string;
  head: string;
  detector: Detector;
  fingerprintKey: string;
  /** Findings new to the project are recorded as baseline (reported, never blocking). */
  baseline?: boolean;
  /** Files larger than this are not read whole (the component's max_target_megabytes); default 10 MiB. */
  maxFileBytes?: number;
  now?: () => Date;
}

export type Evaluation =
  | {
      status: 'ok';
      /** Every finding of the project whose introducing commit is in `head`'s history. */
      carried: StoredFinding[];
      /** Findings first found by this evaluation (a subset of what it found in new commits). */
      found: StoredFinding[];
      /** The commits scanned now: those not under a tip scanned before under this scope. */
      scanned: RangeStats;
      /** The raw findings of this evaluation's detector run, for the last check that no secret leaves. */
      raw: GitleaksReportFinding[];
    }
  | { status: 'error'; reason: string; scanned: RangeStats };

const NO_STATS: RangeStats = { commits: 0, bytes: 0 };
/** Past this many boundary commits, the scan selects by the tips' glob instead of naming them in argv. */
const MAX_BOUNDARY_ARGS = 64;

/**
 * The gate rule, for one commit: scan the commits of `head` no earlier evaluation scanned (under this scope),
 * each merge by its own changes, record what is found with the commit that introduced it, then answer with
 * every finding whose introducing commit `head` carries, whoever pushed what and in which order.
 *
 * Order matters for crash safety: findings are written to the project record before the scanned tip, and the
 * tip is recorded only after both, so a crash at any point costs at most a rescan, never a finding.
 */
export async function evaluateCommit(input: EvaluationInput): Promise<Evaluation> {
  const { mirror, records, host, project, component, scope, head } = input;
  const now = input.now ?? (() => new Date());
  const tipsPrefix = scannedPrefix(component, scope);
  const findingRefs = findingsPrefix(component);

  let record = await records.get(host, project);
  const tips = await restoreRefs(mirror, record, component, scope);

  // One walk: the commits of head's history under no scanned tip, and its boundary. Tips form an antichain
  // (each new tip replaces those it covers), so the tips head covers are among the boundary commits; one
  // missed (after a race between replicas) is a stale cache entry, never a lost finding.
  const walk = await mirror.walk([head, '--not', `--glob=${tipsPrefix}*`]);
  let scanned = NO_STATS;
  let found: StoredFinding[] = [];
  let raw: GitleaksReportFinding[] = [];
  if (walk.commits > 0) {
    // The same commits as the glob, named by the few boundary commits (never thousands of SHAs in argv).
    const selection = walk.boundary.length <= MAX_BOUNDARY_ARGS ? [head, ...(walk.boundary.length ? ['--not', ...walk.boundary] : [])] : [head, '--not', `--glob=${tipsPrefix}*`];
    const [outcome, stats] = await Promise.all([detectAll(input, selection, walk.octopus), mirror.rangeStats(selection)]);
    scanned = stats;
    if (outcome.status === 'error') return { status: 'error', reason: outcome.reason, scanned };
    raw = outcome.findings;
    const at = now().toISOString();
    const known = Object.values(record.components[component]?.findings ?? {});
    // Under new rules (or another scanner version) a finding keeps what it was: one accepted as baseline
    // stays baseline, and one that blocked can never become baseline, whichever rules found it first.
    const place = (f: Pick<StoredFinding, 'fingerprint' | 'commit'>) => `${f.fingerprint}@${f.commit}`;
    const blocked = new Set(known.filter((f) => !f.baseline).map(place));
    const accepted = new Set(known.filter((f) => f.baseline && !blocked.has(place(f))).map(place));
    const secrets = [...new Set(raw.map((f) => f.Secret).filter((x) => x.length > 0))].sort((a, b) => b.length - a.length);
    const normalised = (await Promise.all(raw.map((f) => normalise(f, input, at, { accepted, blocked })))).map((f) => scrub(f, secrets));
    const knownKeys = new Set(known.map(findingKey));
    found = dedupe(normalised).filter((f) => !knownKeys.has(findingKey(f)));
    if (found.length) record = await records.update(host, project, (r) => addFindings(r, component, found));
    const covered = walk.boundary.filter((sha) => tips.has(sha) && sha !== head);
    await mirror.locked(() =>
      mirror.updateRefs([
        ...found.map((f) => ({ ref: `${findingRefs}${findingRefId(findingKey(f))}`, sha: f.commit })),
        { ref: `${tipsPrefix}${head}`, sha: head },
        ...covered.map((sha) => ({ ref: `${tipsPrefix}${sha}`, delete: true as const })),
      ]),
    );
    record = await records.update(host, project, (r) => recordTip(r, component, scope, head, covered));
  }

  const merged = await mirror.refsMergedInto(head, findingRefs);
  let byRef = refsOf(record, component);
  // Another replica may have recorded findings since this one read the record: read it again rather than
  // drop a finding whose ref is there.
  if (merged.some((ref) => !byRef.has(ref))) byRef = refsOf(await records.get(host, project), component);
  const unknown = merged.filter((ref) => !byRef.has(ref));
  if (unknown.length) {
    return { status: 'error', reason: `The mirror has ${unknown.length} finding ref(s) the project record does not know (${unknown[0]}); restore the record, or remove the mirror to rebuild it.`, scanned };
  }
  const carried = merged
    .flatMap((ref) => byRef.get(ref) ?? [])
    .filter((f) => inScope(f, scope))
    .sort(byPlace);
  return { status: 'ok', carried, found, scanned, raw };
}

const refsOf = (record: ProjectRecord, component: string): Map<string, StoredFinding> =>
  new Map(Object.entries(record.components[component]?.findings ?? {}).map(([key, f]) => [`${findingsPrefix(component)}${findingRefId(key)}`, f]));

/**
 * Puts back the refs the record knows and the mirror lacks (a new replica, a rebuilt volume): findings
 * first, then tips, and only for commits the mirror has (the rest come back with the commits, or cost a
 * rescan).
 */
async function restoreRefs(mirror: Mirror, record: ProjectRecord, component: string, scope: string): Promise<Set<string>> {
  const tipsPrefix = scannedPrefix(component, scope);
  const haveTips = await mirror.refs(tipsPrefix);
  const tips = new Set([...haveTips.values()]);
  const c = record.components[component];
  if (!c) return tips;
  const want = new Map<string, string>();
  for (const [key, f] of Object.entries(c.findings)) want.set(`${findingsPrefix(component)}${findingRefId(key)}`, f.commit);
  for (const tip of c.tips[scope] ?? []) want.set(`${tipsPrefix}${tip}`, tip);
  if (want.size === 0) return tips;
  const have = new Map([...(await mirror.refs(findingsPrefix(component))), ...haveTips]);
  const missing = [...want].filter(([ref]) => !have.has(ref));
  if (missing.length === 0) return tips;
  const present = await mirror.present([...new Set(missing.map(([, sha]) => sha))]);
  const updates = missing.filter(([, sha]) => present.has(sha)).map(([ref, sha]) => ({ ref, sha }));
  // Findings before tips: a tip without its findings would hide them.
  updates.sort((a, b) => Number(a.ref.startsWith('refs/secbot/scanned/')) - Number(b.ref.startsWith('refs/secbot/scanned/')));
  if (updates.length) await mirror.locked(() => mirror.updateRefs(updates));
  for (const u of updates) if (u.ref.startsWith(tipsPrefix)) tips.add(u.sha);
  return tips;
}

/**
 * Every commit's own changes: ordinary commits against their parent, two-parent merges by what the merge did
 * beyond re-merging its parents (`--remerge-diff`: a conflict resolution, an "evil" merge), and octopus
 * merges, which remerge-diff does not cover, against their first parent. Never `--cc` (it shows nothing
 * gitleaks reads) and never the default, which shows merges as empty.
 */
async function detectAll(input: EvaluationInput, selection: string[], hasOctopus: boolean): Promise<Detection> {
  const [first, octopus, content] = await Promise.all([
    input.detector.detect(input.mirror.dir, ['--remerge-diff', ...selection]),
    hasOctopus ? input.detector.detect(input.mirror.dir, ['--diff-merges=first-parent', '--min-parents=3', ...selection]) : undefined,
    contentPass(input, selection),
  ]);
  for (const outcome of [first, octopus, content]) if (outcome?.status === 'error') return outcome;
  const diffs = [...(first.status === 'ok' ? first.findings : []), ...(octopus?.status === 'ok' ? octopus.findings : [])];
  // What the diffs found is attributed to the commit that added it; the content pass adds only what they missed.
  const seen = new Set(diffs.map((f) => f.Secret));
  const extra = content.status === 'ok' ? content.findings.filter((f) => !seen.has(f.Secret)) : [];
  return { status: 'ok', findings: [...diffs, ...extra] };
}

/** Text handed to one detector run at most (files are never split). */
const CONTENT_CHUNK_BYTES = 32 * 1024 * 1024;

/**
 * Per-commit diffs show each commit's added lines only, so a multi-line secret added in pieces (a private key's
 * BEGIN line in one commit, the rest in the next) matches no rule in any single diff. The whole content of each
 * file the new commits touched, as it is at the head, is scanned too (read from the object database: no
 * checkout, no filters; binary and oversized files skipped as gitleaks skips them), and what only this pass finds
 * is attributed to the last new commit that changed the file. Nothing touches the disk: the text goes to the
 * detector through a pipe.
 */
async function contentPass(input: EvaluationInput, selection: string[]): Promise<Detection> {
  const detectText = input.detector.detectText?.bind(input.detector);
  if (!detectText) return { status: 'ok', findings: [] };
  const { mirror, head } = input;
  const maxBytes = input.maxFileBytes ?? 10 * 1024 * 1024;
  const files = await mirror.files(head, await mirror.changedPaths(selection), maxBytes);
  const found: GitleaksReportFinding[] = [];
  const lastChange = new Map<string, Promise<string | null>>();
  for (let i = 0; i < files.length; ) {
    const chunk: typeof files = [];
    let bytes = 0;
    while (i < files.length && (chunk.length === 0 || bytes + (files[i]?.size ?? 0) <= CONTENT_CHUNK_BYTES)) {
      const f = files[i++];
      if (!f) break;
      chunk.push(f);
      bytes += f.size;
    }
    const blobs = await mirror.readBlobs(chunk.map((f) => f.sha));
    const parts: Buffer[] = [];
    const ranges: Array<{ path: string; first: number; last: number }> = [];
    let line = 1;
    chunk.forEach((f, n) => {
      const content = blobs[n];
      if (!content || content.subarray(0, 8192).includes(0)) return;
      const lines = content.toString('utf8').split('\n').length;
      ranges.push({ path: f.path, first: line, last: line + lines - 1 });
      // A blank line between files, so no rule's match runs from one file into the next.
      parts.push(content, Buffer.from(content.at(-1) === 0x0a ? '\n' : '\n\n'));
      line += lines + (content.at(-1) === 0x0a ? 0 : 1);
    });
    if (parts.length === 0) continue;
    const outcome = await detectText(Buffer.concat(parts));
    if (outcome.status === 'error') return outcome;
    for (const f of outcome.findings) {
      const range = ranges.find((r) => f.StartLine >= r.first && f.StartLine <= r.last);
      if (!range) continue;
      let commit = lastChange.get(range.path);
      if (!commit) lastChange.set(range.path, (commit = mirror.lastChange(selection, range.path)));
      const sha = await commit;
      if (!sha) continue;
      found.push({ ...f, File: range.path, Commit: sha, StartLine: f.StartLine - range.first + 1, EndLine: Math.max(f.EndLine - range.first + 1, f.StartLine - range.first + 1) });
    }
  }
  return { status: 'ok', findings: found };
}

/**
 * The raw finding as SecBot's finding. In a remerge diff, a conflicted file's header carries a `remerge
 * CONFLICT` line that gitleaks' diff parser does not know, and the file comes out as `b/<path>`: the path is
 * taken as the one whose blob at the commit holds the secret on that line (both are tried; the secret is
 * only compared in memory).
 */
async function normalise(
  raw: GitleaksReportFinding,
  input: EvaluationInput,
  at: string,
  known: { accepted: ReadonlySet<string>; blocked: ReadonlySet<string> },
): Promise<StoredFinding> {
  let file = raw.File;
  if (file.startsWith('b/') && raw.Commit) {
    const stripped = file.slice(2);
    const holds = async (path: string) => {
      const blob = await input.mirror.readFile(raw.Commit, path);
      return blob !== null && (blob.toString('utf8').split('\n')[raw.StartLine - 1] ?? '').includes(raw.Secret);
    };
    if (!(await holds(file)) && (await holds(stripped))) file = stripped;
  }
  const finding = toFinding({ ...raw, File: file }, { fingerprintKey: input.fingerprintKey, webUrl: input.webUrl });
  const place = `${finding.fingerprint}@${finding.commit}`;
  const baseline = !known.blocked.has(place) && (input.baseline === true || known.accepted.has(place));
  return { ...finding, foundAt: at, scope: input.scope, ...(baseline ? { baseline: true } : {}) };
}

/**
 * A finding is recorded (and kept for ever) only without any secret of the run in it: a key can be a file
 * name, an author name or part of a rule's description. Such a field says REDACTED, and a link that would
 * quote it is dropped.
 */
function scrub(f: StoredFinding, secrets: readonly string[]): StoredFinding {
  const clean = (text: string) => secrets.reduce((t, secret) => t.split(secret).join(REDACTED), text);
  const leaks = (text: string | undefined) => text !== undefined && clean(text) !== text;
  if (![f.file, f.description, f.author, f.email, f.date, ...f.tags, ...Object.values(f.links)].some(leaks)) return f;
  const links = Object.fromEntries(Object.entries(f.links).filter(([, url]) => !leaks(decodeURIComponent(url)) && !leaks(url)));
  return {
    ...f,
    file: clean(f.file),
    description: clean(f.description),
    ...(f.author !== undefined ? { author: clean(f.author) } : {}),
    ...(f.email !== undefined ? { email: clean(f.email) } : {}),
    ...(f.date !== undefined ? { date: clean(f.date) } : {}),
    tags: f.tags.map(clean),
    links,
  };
}

const dedupe = (findings: StoredFinding[]): StoredFinding[] => {
  const seen = new Map<string, StoredFinding>();
  for (const f of findings) {
    const key = findingKey(f);
    const prev = seen.get(key);
    // The same secret twice in one commit: keep the first place (by file, then line) so the record is stable.
    if (!prev || byPlace(f, prev) < 0) seen.set(key, f);
  }
  return [...seen.values()];
};

const byPlace = (a: Finding, b: Finding): number => a.file.localeCompare(b.file) || a.startLine - b.startLine || a.fingerprint.localeCompare(b.fingerprint) || a.commit.localeCompare(b.commit);

/** A finding as events carry it: no bookkeeping fields. */
export function asEventFinding(f: StoredFinding): Finding {
  const { foundAt: _foundAt, scope: _scope, ...finding } = f;
  return finding;
}
