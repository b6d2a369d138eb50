import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { Kvm, type KV } from '@nats-io/kv';
import { ProjectEnrolledV1, type StreamSettings } from '@secbot/contracts';
import { createPublisher, errorMessage, isNotFound, type Nats } from '@secbot/service-kit';
import { ProjectRecord, projectKey, type Enrollment } from '@secbot/scanner-gitleaks';
import type { Io } from './commands.ts';

export const ENROLL_USAGE =
  'usage: secbot enroll --host HOST --project GROUP/PROJECT --accept-history [--branch BRANCH]... [--reason TEXT] [--actor NAME] [--no-wait] [--timeout SECONDS]';

/** The durable consumer through which scanner-gitleaks takes enrollments (services/scanner-gitleaks/src/service.ts). */
export const ENROLLMENT_CONSUMER = 'scanner-gitleaks-enrollments';
const DEFAULT_BUCKET = 'secbot-projects';

export interface EnrollArgs {
  host?: string | undefined;
  project?: string | undefined;
  branch?: string[] | undefined;
  reason?: string | undefined;
  actor?: string | undefined;
  'accept-history'?: boolean | undefined;
  'no-wait'?: boolean | undefined;
  timeout?: string | undefined;
}

export interface EnrollRequest {
  event: ProjectEnrolledV1;
  wait: boolean;
  timeoutSeconds: number;
  /** KV bucket of the scanner's project records (SCANNER_PROJECTS_BUCKET). */
  bucket: string;
}

function defaultActor(env: Record<string, string | undefined>): string | undefined {
  if (env['SECBOT_ACTOR']) return env['SECBOT_ACTOR'];
  try {
    return userInfo().username || undefined;
  } catch {
    // No passwd entry for this uid (some containers).
    return env['USER'] || env['LOGNAME'] || undefined;
  }
}

/**
 * The arguments checked and turned into the event to publish, or the problems (exit 2). Nothing is sent
 * without `--accept-history`: enrolling makes every secret already in the branches' history non-blocking.
 */
export function enrollRequest(args: EnrollArgs, env: Record<string, string | undefined>, now = new Date()): { ok: true; request: EnrollRequest } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  // CI_SERVER_HOST style: no scheme, no port, no path (the scanner matches GITLAB_CONFIGS by host name).
  const host = args.host?.trim().replace(/^[a-z]+:\/\//i, '').replace(/[:/].*$/, '').toLowerCase();
  const project = args.project?.trim().replace(/^\/+|\/+$/g, '');
  if (!host) problems.push('--host is required (the GitLab host name, as in GITLAB_CONFIGS, e.g. gitlab.example.com)');
  if (!project) problems.push('--project is required (the project path, e.g. group/app)');
  if (!args['accept-history']) {
    problems.push(
      '--accept-history is required: it is the explicit acknowledgement that every secret already in the history of the ' +
        "enrolled branches becomes baseline — reported, but it will never block. (Secrets SecBot already found stay blocking.)",
    );
  }
  const timeoutSeconds = args.timeout === undefined ? 600 : Number(args.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) problems.push('--timeout: a number of seconds greater than 0');
  const bucket = env['SCANNER_PROJECTS_BUCKET'] || DEFAULT_BUCKET;
  if (!/^[A-Za-z0-9_-]+$/.test(bucket)) problems.push('SCANNER_PROJECTS_BUCKET: letters, digits, _ and - only');
  const actor = args.actor ?? defaultActor(env);
  if (!actor) problems.push('--actor is required here: neither SECBOT_ACTOR nor the OS user name is available');
  if (problems.length) return { ok: false, problems };

  const id = randomUUID();
  const event: ProjectEnrolledV1 = {
    id,
    type: 'project.enrolled',
    version: 1,
    occurredAt: now.toISOString(),
    correlationId: `cli:enroll:${id}`,
    source: 'cli',
    data: {
      instanceHost: host!,
      projectPath: project!,
      acceptHistory: true,
      branches: [...new Set((args.branch ?? []).map((b) => b.trim().replace(/^refs\/heads\//, '')))],
      actor: actor!,
      ...(args.reason !== undefined ? { reason: args.reason } : {}),
    },
  };
  const parsed = ProjectEnrolledV1.schema.safeParse(event);
  if (!parsed.success) {
    const name: Record<string, string> = { instanceHost: '--host', projectPath: '--project', branches: '--branch', actor: '--actor', reason: '--reason' };
    return { ok: false, problems: parsed.error.issues.map((i) => `${name[String(i.path[1])] ?? i.path.join('.')}: ${i.message}`) };
  }
  return { ok: true, request: { event: parsed.data, wait: !args['no-wait'], timeoutSeconds, bucket } };
}

/** What a NATS server says when a consumer terminates a message (or gives up after max_deliver). */
interface TerminationAdvisory {
  stream_seq?: number;
  deliveries?: number;
  /** NATS ≥ 2.10, terminations only. */
  reason?: string;
}

/**
 * Publishes `project.enrolled` and, unless told not to wait, waits until the scanner's project record carries
 * the enrollment (scanned and recorded), or until the scanner gives up on the event, or the timeout.
 * Exit codes: 0 enrolled (or published, with --no-wait), 1 failed or timed out.
 */
export async function enrollCommand(nats: Nats, stream: StreamSettings, request: EnrollRequest, io: Io): Promise<number> {
  const { event } = request;
  const { instanceHost: host, projectPath: project } = event.data;
  const what = `${project} on ${host}`;

  // Listen for the scanner giving up before publishing, so a fast failure is not missed. Best effort: an
  // account without access to advisories only loses the early failure report, not the result.
  const failures: TerminationAdvisory[] = [];
  const advisories = request.wait
    ? ['MSG_TERMINATED', 'MAX_DELIVERIES'].map((kind) =>
        nats.nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.${kind}.${stream.name}.${ENROLLMENT_CONSUMER}`, {
          callback: (err, msg) => {
            if (err) return;
            try {
              failures.push(msg.json<TerminationAdvisory>());
            } catch {
              // Not an advisory we can read.
            }
          },
        }),
      )
    : [];
  try {
    if (advisories.length) await nats.nc.flush();
    const { seq } = await createPublisher({ js: nats.js, stream }).publish(ProjectEnrolledV1, event);
    if (!request.wait) {
      io.out(`Published enrollment ${event.id} of ${what} (stream ${stream.name}, sequence ${seq}); scanner-gitleaks records it in KV bucket ${request.bucket} once the history is scanned.`);
      return 0;
    }
    const branches = event.data.branches.length ? event.data.branches.join(', ') : "the project's default branch";
    io.err(`Enrollment ${event.id} of ${what} published; waiting up to ${request.timeoutSeconds} s for scanner-gitleaks to scan ${branches}…`);

    const deadline = Date.now() + request.timeoutSeconds * 1000;
    let kv: KV | undefined;
    let lastError: string | undefined;
    let delay = 250;
    let settledSince: number | undefined;
    for (;;) {
      try {
        kv ??= await new Kvm(nats.js).open(request.bucket);
        const entry = await kv.get(projectKey(host, project));
        if (entry && entry.operation === 'PUT') {
          const parsed = ProjectRecord.safeParse(entry.json());
          if (!parsed.success) {
            io.err(`The project record of ${what} in KV bucket ${request.bucket} cannot be read (it does not match the schema); the enrollment cannot be confirmed.`);
            return 1;
          }
          const enrollment = parsed.data.enrollments.find((e) => e.eventId === event.id);
          if (enrollment) {
            printEnrollment(parsed.data, enrollment, io);
            return 0;
          }
        }
        lastError = undefined;
      } catch (err) {
        // No bucket yet (no scanner ever ran against this NATS), or a hiccup: keep waiting.
        lastError = isNotFound(err) ? `KV bucket ${request.bucket} does not exist yet` : errorMessage(err);
      }
      // The scanner gave up: NATS ≥ 2.10 says so (with the reason) in an advisory; older servers only show
      // the event settled (acknowledged or terminated) without the enrollment in the record. The record is
      // written before the acknowledgement, so it is read again for a moment before that counts as failure.
      const failure = failures.find((f) => f.stream_seq === seq);
      if (!failure && (await settledByScanner(nats, stream, seq))) settledSince ??= Date.now();
      if (failure || (settledSince !== undefined && Date.now() - settledSince >= 2000)) {
        const why = failure?.reason?.trim();
        const tries = failure?.deliveries ? ` after ${failure.deliveries} attempt(s)` : '';
        io.err(
          `scanner-gitleaks gave up on enrollment ${event.id} of ${what}${tries} without recording it${why ? `: ${why}` : ''}.` +
            (why ? '' : ' (e.g. a host not in its GITLAB_CONFIGS, a branch the project does not have, a history it could not scan.)'),
        );
        io.err(`  Its log says why: look for enrollment ${event.id}. Fix the cause and run secbot enroll again.`);
        return 1;
      }
      if (Date.now() >= deadline) {
        io.err(`Timed out after ${request.timeoutSeconds} s: the project record of ${what} does not hold enrollment ${event.id} yet.`);
        io.err(`  ${await consumerState(nats, stream, seq)}`);
        if (lastError) io.err(`  last error reading KV bucket ${request.bucket}: ${lastError}`);
        io.err('  The enrollment is not cancelled: the event stays in the stream, and scanner-gitleaks records it once it has scanned the history.');
        return 1;
      }
      await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
      delay = Math.min(2000, delay * 2);
    }
  } finally {
    for (const s of advisories) s.unsubscribe();
  }
}

/** Whether the scanner is done with the event at `seq` (acknowledged or terminated). */
async function settledByScanner(nats: Nats, stream: StreamSettings, seq: number): Promise<boolean> {
  try {
    const info = await nats.jsm.consumers.info(stream.name, ENROLLMENT_CONSUMER);
    return info.ack_floor.stream_seq >= seq || (info.num_ack_pending === 0 && info.delivered.stream_seq >= seq);
  } catch {
    return false;
  }
}

/** Where the event stands with the scanner, to make a timeout actionable. */
async function consumerState(nats: Nats, stream: StreamSettings, seq: number): Promise<string> {
  try {
    const info = await nats.jsm.consumers.info(stream.name, ENROLLMENT_CONSUMER);
    if (info.delivered.stream_seq < seq) {
      return `scanner-gitleaks has not picked the event up (sequence ${seq}; ${info.num_pending} enrollment(s) waiting): is it running against stream ${stream.name}?`;
    }
    return `scanner-gitleaks picked the event up (sequence ${seq}) and is still scanning the history, or failed: see its log.`;
  } catch (err) {
    if (isNotFound(err)) return `No scanner-gitleaks has ever taken enrollments from stream ${stream.name} (consumer ${ENROLLMENT_CONSUMER} missing): is a scanner with enrollment support running?`;
    return `The state of consumer ${ENROLLMENT_CONSUMER} could not be read: ${errorMessage(err)}`;
  }
}

function printEnrollment(record: ProjectRecord, enrollment: Enrollment, io: Io): void {
  io.out(`Enrolled ${record.project} on ${record.host}; the baseline is the history of these branch heads:`);
  const width = Math.max(...enrollment.branches.map((b) => b.length));
  for (const b of enrollment.branches) io.out(`  ${b.padEnd(width)}  ${enrollment.heads[b] ?? '(head not recorded)'}`);
  // The same secret in the same commit counts once, whatever the component or rules version that found it.
  const distinct = (baseline: boolean) =>
    new Set(
      Object.values(record.components).flatMap((c) => Object.values(c.findings).filter((f) => (f.baseline === true) === baseline).map((f) => `${f.fingerprint}@${f.commit}`)),
    ).size;
  io.out(`Baseline findings in the project record: ${distinct(true)} (reported, never blocking).`);
  io.out(`Other recorded findings: ${distinct(false)} (they still block every commit that carries them).`);
  io.out(`Enrollment ${enrollment.eventId} by ${enrollment.actor} at ${enrollment.at}.`);
}
