import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { deterministicId, type ChangeRange, type Finding, type ScanCompletedV1 } from '@secbot/contracts';
import { decideBuiltin } from '../../services/output-builtin/src/decide.ts';
import { effectiveStatus, evolveCheckState, type ActiveException, type CheckState, type CheckStatus } from '../../services/results/src/check-status.ts';
import { createMirrors, type Mirrors, type Remote } from '../../services/scanner-gitleaks/src/adapters/git/mirror.ts';
import { asEventFinding, evaluateCommit, type Detector } from '../../services/scanner-gitleaks/src/evaluate.ts';
import { memoryProjectRecords, type ProjectRecords } from '../../services/scanner-gitleaks/src/project-records.ts';
import { fetchPlan, headOf } from '../../services/scanner-gitleaks/src/scan-plan.ts';
import { anEventFor } from '../../services/scanner-gitleaks/src/test-support/events.ts';
import type { Template } from './generator.ts';

export const BASE_URL = 'http://gitlab.model.test/';
export const HOST = 'gitlab.model.test';
export const PROJECT = 'model/gate';
const COMPONENT = 'gitleaks';

/** Names the project's mirror: the same in every world, so a template's mirror is the one the gate uses. */
const REMOTE_KEY = 'model gitlab';

/**
 * A scanner data directory beside the template's repositories whose mirror already holds main (as a
 * scanner that has seen the project before would), so that each world does not pay for creating it.
 */
export async function warmMirror(template: Template): Promise<void> {
  const mirrors = createMirrors({ dataDir: join(template.dir, 'scanner'), gitTimeoutMs: 30_000, lockWaitMs: 30_000 });
  const gitlab = join(template.dir, 'gitlab.git');
  await mirrors.prepare({ url: gitlab, token: 'model-token', key: REMOTE_KEY, project: PROJECT }, fetchPlan({ kind: 'push', ref: 'refs/heads/main', before: null, after: template.root }));
}

export interface CheckRecord {
  commit: string;
  state: CheckState;
  evaluations: number;
}

export interface GateOptions {
  /** One data directory per scanner replica; the replicas share the project records, never a mirror. */
  dataDirs: string[];
  /** The bare repository playing GitLab; its path is the clone URL. */
  gitlab: string;
  detector: Detector;
  fingerprintKey: string;
  scope: string;
  /** Low limits make the mirrors pack their refs and objects after (almost) every fetch and ref update. */
  packing?: { looseRefLimit: number; looseObjectLimit: number };
}

/**
 * The gate, in process, with the production code at each stage: the mirror fetches the event's refs from the
 * local "GitLab", evaluateCommit judges the commit (with the given detector), the builtin output decides,
 * results folds event.received, scan.completed and output.completed into the check's state, and the status
 * is read with the exceptions granted so far. With several replicas, each delivery goes to one of them: each
 * has its own mirror, all share the project records (as the scanner's replicas share the KV bucket).
 */
export class Gate {
  readonly checks = new Map<string, CheckRecord>();
  readonly exceptions: ActiveException[] = [];
  private readonly mirrors: Mirrors[];
  private readonly records: ProjectRecords = memoryProjectRecords();
  private readonly remote: Remote;
  private sequence = 0;

  private readonly opts: GateOptions;

  constructor(opts: GateOptions) {
    this.opts = opts;
    this.mirrors = opts.dataDirs.map((dataDir) => this.mirrorsAt(dataDir));
    this.remote = { url: opts.gitlab, token: 'model-token', key: REMOTE_KEY, project: PROJECT };
  }

  /** A replica restarted without its volume: its mirror (with the scanner's refs in it) is gone. */
  async loseMirror(replica: number): Promise<void> {
    const dataDir = this.opts.dataDirs[replica]!;
    await rm(join(dataDir, 'mirrors'), { recursive: true, force: true });
    this.mirrors[replica] = this.mirrorsAt(dataDir);
  }

  private mirrorsAt(dataDir: string): Mirrors {
    return createMirrors({ dataDir, gitTimeoutMs: 30_000, lockWaitMs: 30_000, ...this.opts.packing });
  }

  /** One GitLab delivery through the whole pipeline, on one replica; returns the check it was about. */
  async deliver(range: ChangeRange, replica = 0): Promise<{ checkId: string; record: CheckRecord; findings: Finding[]; reason?: string }> {
    const received = anEventFor({ baseUrl: BASE_URL, project: PROJECT, range, defaultBranch: 'main', components: [{ name: COMPONENT }] });
    const head = headOf(range);
    const n = ++this.sequence;
    let outcome: { status: 'ok'; findings: Finding[]; scanned: { description: string; commits: number; bytes: number } } | { status: 'error'; reason: string };
    try {
      const mirror = await this.mirrors[replica]!.prepare(this.remote, fetchPlan(range));
      const evaluation = await evaluateCommit({
        mirror,
        records: this.records,
        host: HOST,
        project: PROJECT,
        webUrl: `${BASE_URL}${PROJECT}`,
        component: COMPONENT,
        scope: this.opts.scope,
        head,
        detector: this.opts.detector,
        fingerprintKey: this.opts.fingerprintKey,
      });
      outcome =
        evaluation.status === 'ok'
          ? { status: 'ok', findings: evaluation.carried.map(asEventFinding), scanned: { description: `history of ${head.slice(0, 7)}`, ...evaluation.scanned } }
          : { status: 'error', reason: evaluation.reason };
    } catch (err) {
      outcome = { status: 'error', reason: `threw: ${err instanceof Error ? err.message : String(err)}` };
    }
    const now = new Date();
    const job = received.data.job!;
    const scan: ScanCompletedV1 = {
      id: deterministicId('scan.completed', received.securityCheckId, COMPONENT, received.id, String(n)),
      type: 'scan.completed',
      version: 1,
      occurredAt: now.toISOString(),
      correlationId: received.correlationId,
      securityCheckId: received.securityCheckId,
      source: 'scanner-gitleaks',
      data: {
        context: {
          instance: received.data.instance,
          eventType: received.data.eventType,
          project: received.data.project,
          commit: received.data.commit,
          range: received.data.range,
          ...(received.data.mergeRequest ? { mergeRequest: received.data.mergeRequest } : {}),
          user: received.data.user,
          job,
        },
        scan: COMPONENT,
        handler: 'gitleaks',
        commit: head,
        durationMs: 1,
        tool: { name: 'gitleaks', version: 'model' },
        ...(outcome.status === 'ok'
          ? { status: 'ok' as const, findings: outcome.findings, scanned: outcome.scanned }
          : { status: 'error' as const, reason: outcome.reason, findings: [] }),
      },
    };
    const outputs = decideBuiltin(scan, now, n);
    const previous = this.checks.get(received.securityCheckId);
    let state = evolveCheckState(previous?.state ?? null, received);
    state = evolveCheckState(state, scan);
    for (const o of outputs) state = evolveCheckState(state, o);
    const record = { commit: head, state, evaluations: (previous?.evaluations ?? 0) + 1 };
    this.checks.set(received.securityCheckId, record);
    return { checkId: received.securityCheckId, record, findings: outcome.status === 'ok' ? outcome.findings : [], ...(outcome.status === 'error' ? { reason: outcome.reason } : {}) };
  }

  /** Triage: an exception for the fingerprint, in this project or (a control that must not count) another one. */
  except(fingerprint: string, projectPath = PROJECT): void {
    this.exceptions.push({
      id: `exception-${this.exceptions.length + 1}`,
      fingerprint,
      scope: { kind: 'project', instanceHost: HOST, projectPath },
      owner: 'model',
      reason: 'accepted by the model test',
      expiresAt: null,
    });
  }

  status(record: CheckRecord, now: Date): Exclude<CheckStatus, 'not_started'> {
    return effectiveStatus(record.state, this.exceptions, now);
  }
}
