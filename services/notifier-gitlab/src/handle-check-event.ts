import { deterministicId, type CheckContext, type Instance, type NotifiedV1, type PlannedComponent } from '@secbot/contracts';
import { checkDetailsLink, RetryableError, TerminalError, type Logger } from '@secbot/service-kit';
import type { GitLabClient } from './adapters/gitlab/client.ts';
import { GitLabNotifierConfig } from './config.ts';
import type { GitLabNotifierMemory, StoredCheck } from './memory.ts';
import { noteMarker, noteWasFailing, renderNote } from './merge-request-note.ts';
import { emptyView, evolveView, statusTarget, verdictOf, type CommitState, type SeenEvent, type Verdict } from './verdict.ts';

export const HANDLER = 'gitlab';

export interface GitLabTarget {
  client: GitLabClient;
}

export interface HandlerDeps {
  /** The client for the instance an event came from (GITLAB_CONFIGS matched by prefix and URL), if configured. */
  gitlabFor(instance: Instance): GitLabTarget | undefined;
  memory: GitLabNotifierMemory;
  publish(event: NotifiedV1): Promise<void>;
  resultsUrl?: string;
  /** Signs the details links (SECBOT_LINK_SIGNING_KEY), so a person can open them without a credential. */
  linkSigning?: { key: string; ttlDays: number };
  now(): Date;
  log: Logger;
}

const RANK: Record<CommitState, number> = { pending: 0, running: 1, success: 2, failed: 2 };
const isFinal = (s: CommitState) => s === 'success' || s === 'failed';

function contextOf(event: SeenEvent): CheckContext | undefined {
  if (event.type === 'event.received') {
    const { job, input: _input, hook: _hook, delivery: _delivery, planError: _planError, ...rest } = event.data;
    return job ? { ...rest, job } : undefined;
  }
  if (event.type === 'check.expired') return undefined;
  return event.data.context;
}

const mergeRequestOf = (context: CheckContext): number | undefined =>
  context.range.kind === 'merge_request' ? context.range.iid : context.mergeRequest?.iid;

/** The decision an event is about, for `notified` (the contract names a scan and an output). */
function aboutOf(event: SeenEvent): { scan: string; output: string; revision: string } {
  if (event.type === 'output.completed') return { scan: event.data.scan, output: event.data.output, revision: String(event.data.revision) };
  if (event.type === 'scan.completed') return { scan: event.data.scan, output: '*', revision: 'scan' };
  return { scan: '*', output: '*', revision: event.type };
}

/**
 * One event of a check → the commit status of the checked commit, and for a merge request SecBot's one note.
 *
 * The state (the events seen and the status last set, per check) lives in the KV memory and is written with
 * compare-and-set after the calls, so a redelivery repeats only idempotent calls: the same status again (GitLab's
 * 400 "Cannot transition status" is a no-op), the note found again by its hidden marker and updated in place.
 * A status never moves backwards (pending after running) except from one verdict to another. 429/5xx/network
 * errors are retried by JetStream (RetryableError); 401/403/404 and other refusals become `notified` with status
 * `error` and a reason, and are not retried. Nothing here changes the check's status.
 */
export async function handleCheckEvent(event: SeenEvent, deps: HandlerDeps): Promise<void> {
  const stored = await deps.memory.check(event.securityCheckId);
  const view = evolveView(stored?.value.view ?? emptyView(), event);
  const context = contextOf(event) ?? stored?.value.context;
  // No plan (intake could not pick one job), or a check.expired of a check this notifier never had to report on.
  if (!context) return;
  const eventMergeRequest = mergeRequestOf(context);
  const mergeRequests = [...new Set([...(stored?.value.mergeRequests ?? []), ...(eventMergeRequest === undefined ? [] : [eventMergeRequest])])].sort((a, b) => a - b);
  const next: StoredCheck = { view, context: stored?.value.context ?? context, mergeRequests, posted: { ...(stored?.value.posted ?? {}) } };
  const notifiers = context.job.notifiers.filter((n) => n.handler === HANDLER);
  if (notifiers.length === 0) return;

  const verdict = verdictOf(view);
  const about = aboutOf(event);
  const detailsUrl = deps.resultsUrl
    ? checkDetailsLink(deps.resultsUrl, event.securityCheckId, { key: deps.linkSigning?.key, ttlDays: deps.linkSigning?.ttlDays ?? 30 }, deps.now())
    : undefined;
  const notified = async (notifier: PlannedComponent, target: string, status: NotifiedV1['data']['status'], reason?: string) =>
    deps.publish({
      id: deterministicId('notified', event.securityCheckId, about.scan, about.output, notifier.name, target, about.revision, status),
      type: 'notified',
      version: 1,
      occurredAt: deps.now().toISOString(),
      correlationId: event.correlationId,
      securityCheckId: event.securityCheckId,
      source: 'notifier-gitlab',
      data: { notifier: notifier.name, handler: HANDLER, scan: about.scan, output: about.output, status, target, findingsAnnounced: verdict.blockingCount, ...(reason ? { reason } : {}) },
    });

  const gitlab = deps.gitlabFor(context.instance);
  // Where to post, as GitLab says, never as the event says: the hook body pairs a path with an id, and anyone
  // holding the webhook secret writes it. Resolved once per event (the client caches), only when needed.
  let where: Where | undefined;
  const resolveWhere = async (client: GitLabClient) => (where ??= await whereToPost(client, next.context ?? context));
  for (const notifier of notifiers) {
    const parsed = GitLabNotifierConfig.safeParse(notifier.config);
    if (!parsed.success) {
      await notified(notifier, '(config)', 'error', `The config of component "${notifier.name}" in config.yml is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      continue;
    }
    const config = parsed.data;
    if (!gitlab) {
      if (isFinal(verdict.state)) {
        await notified(notifier, 'commit-status', 'error', `No GITLAB_CONFIGS entry of notifier-gitlab matches the instance ${context.instance.url} (prefix ${context.instance.prefix}); give it the same GITLAB_CONFIGS as intake.`);
      }
      continue;
    }
    if (config.commit_status || (config.merge_request_note && mergeRequests.length > 0)) {
      const resolved = await resolveWhere(gitlab.client);
      if (!resolved.ok) {
        deps.log.warn({ project: context.project.pathWithNamespace, projectId: context.project.id, reason: resolved.reason }, 'Nothing posted: the project is not the one GitLab knows');
        if (isFinal(verdict.state)) await notified(notifier, 'project', 'error', resolved.reason);
        continue;
      }
    }
    if (config.commit_status) {
      const resolved = await resolveWhere(gitlab.client);
      if (!resolved.ok) continue;
      // The first context seen: a push and an MR of the same commit must not set two statuses on two refs.
      const outcome = await setStatus(gitlab.client, resolved.statusProjectId, next.context ?? context, verdict, config.status_name, next.posted[notifier.name], detailsUrl, deps.log);
      if (outcome.posted) next.posted[notifier.name] = outcome.posted;
      if (outcome.error) await notified(notifier, 'commit-status', 'error', outcome.error);
      else if (outcome.posted && isFinal(verdict.state)) await notified(notifier, 'commit-status', 'sent');
    }
    for (const iid of config.merge_request_note ? mergeRequests : []) {
      const resolved = await resolveWhere(gitlab.client);
      if (!resolved.ok) break;
      const ownsPointer = event.type === 'event.received' && iid === eventMergeRequest;
      const error = await upsertNote(gitlab.client, deps, event.securityCheckId, ownsPointer, resolved.projectId, context, iid, notifier, verdict, detailsUrl);
      if (error) await notified(notifier, `merge-request-note !${iid}`, 'error', error);
      else if (error === undefined && isFinal(verdict.state)) await notified(notifier, `merge-request-note !${iid}`, 'sent');
    }
  }
  if (!(await deps.memory.saveCheck(event.securityCheckId, next, stored?.revision))) {
    throw new RetryableError('Check state changed concurrently; handling again.', { retryAfterMs: 200 });
  }
}

type Where = { ok: true; projectId: number; statusProjectId: number } | { ok: false; reason: string };

/**
 * The project to post to, resolved through GitLab: the project at the event's path (`GET /projects/:path`),
 * whose id must be the event's; for a merge request from a fork, the merge request's source project as
 * GitLab has it. Anything else is refused with a reason: a forged id never gets a status or a note in
 * another project. GitLab refusing the lookups (401/403) is a reason too; its outages are retried.
 */
async function whereToPost(client: GitLabClient, context: CheckContext): Promise<Where> {
  const path = context.project.pathWithNamespace;
  try {
    const project = await client.projectByPath(path);
    if (!project) return { ok: false, reason: `GitLab has no project ${path} that SecBot's token can see; nothing is posted.` };
    if (project.id !== context.project.id) {
      return {
        ok: false,
        reason: `The event names project id ${context.project.id} for ${path}, which GitLab knows as project ${project.id}; nothing is posted (a hook body with a forged project id?).`,
      };
    }
    const target = statusTarget(context);
    if (target.projectId === project.id || context.range.kind !== 'merge_request') return { ok: true, projectId: project.id, statusProjectId: project.id };
    // A fork merge request: its pipeline (and status) is in the source project, which the event only claims.
    const mr = await client.mergeRequestSource(project.id, context.range.iid);
    if (!mr) return { ok: false, reason: `GitLab has no merge request !${context.range.iid} in ${path}; nothing is posted.` };
    if (mr.sourceProjectId !== target.projectId) {
      return {
        ok: false,
        reason: `The event names project ${target.projectId} as the source of !${context.range.iid} in ${path}, GitLab says project ${mr.sourceProjectId}; nothing is posted.`,
      };
    }
    return { ok: true, projectId: project.id, statusProjectId: mr.sourceProjectId };
  } catch (err) {
    if (err instanceof TerminalError) return { ok: false, reason: err.message };
    throw err;
  }
}

async function setStatus(
  client: GitLabClient,
  /** The project GitLab says the commit's pipeline is in (whereToPost). */
  projectId: number,
  context: CheckContext,
  verdict: Verdict,
  name: string,
  last: StoredCheck['posted'][string] | undefined,
  targetUrl: string | undefined,
  log: Logger,
): Promise<{ posted?: StoredCheck['posted'][string]; error?: string }> {
  if (last && last.state === verdict.state && last.description === verdict.description) return {};
  // A late or redelivered earlier event must not take a verdict back to pending or running.
  if (last && last.state !== 'error' && RANK[verdict.state] < RANK[last.state]) return {};
  const target = statusTarget(context);
  try {
    const result = await client.setCommitStatus({
      projectId,
      sha: target.sha,
      state: verdict.state,
      name,
      ...(target.ref ? { ref: target.ref } : {}),
      ...(targetUrl ? { targetUrl } : {}),
      description: verdict.description,
    });
    log.info({ state: verdict.state, unchanged: result === 'unchanged' }, 'Commit status set');
    return { posted: { state: verdict.state, description: verdict.description } };
  } catch (err) {
    if (err instanceof TerminalError) {
      log.warn({ err: err.message }, 'GitLab refused the commit status');
      return { posted: { state: 'error', description: verdict.description }, error: err.message };
    }
    throw err;
  }
}

/**
 * Creates or updates SecBot's note on the merge request once the verdict is final. The note is found among all
 * pages of notes by its author, the user of SecBot's token (`GET /user`), and its hidden marker (one per
 * notifier component): anyone can post the marker first, nobody else can author as SecBot. So there is one per
 * merge request whatever happened before; only the newest push of the merge request (its latest
 * event.received) writes it. Returns the refusal reason, or null when nothing was written, or undefined when
 * the note is up to date.
 */
async function upsertNote(
  client: GitLabClient,
  deps: HandlerDeps,
  securityCheckId: string,
  /** This event is the merge request's event.received: its check becomes the MR's newest. */
  ownsPointer: boolean,
  /** The merge request's project, as GitLab knows it (whereToPost). */
  projectId: number,
  context: CheckContext,
  iid: number,
  notifier: PlannedComponent,
  verdict: Verdict,
  detailsUrl: string | undefined,
): Promise<string | null | undefined> {
  const key = `${context.instance.host}/${projectId}/${iid}/${notifier.name}`;
  const latest = await deps.memory.mergeRequest(key);
  if (ownsPointer && latest?.value.securityCheckId !== securityCheckId) {
    if (!(await deps.memory.saveMergeRequest(key, { securityCheckId }, latest?.revision))) {
      throw new RetryableError('Merge request state changed concurrently; handling again.', { retryAfterMs: 200 });
    }
  } else if (latest && latest.value.securityCheckId !== securityCheckId) {
    return null; // a newer push of this merge request owns the note
  }
  if (!isFinal(verdict.state)) return null;
  try {
    const marker = noteMarker(notifier.name);
    const me = await client.currentUserId();
    const existing = (await client.listNotes(projectId, iid)).find((n) => !n.system && n.authorId === me && n.body.startsWith(marker));
    if (!existing && verdict.state === 'success') return null; // nothing was ever reported: stay quiet
    const body = renderNote({ notifier: notifier.name, context, verdict, ...(detailsUrl ? { detailsUrl } : {}), wasFailing: existing ? noteWasFailing(existing.body) : false });
    if (existing?.body === body) return undefined;
    if (existing && (await client.updateNote(projectId, iid, existing.id, body))) {
      deps.log.info({ mergeRequestIid: iid, noteId: existing.id }, 'Merge request note updated');
      return undefined;
    }
    const created = await client.createNote(projectId, iid, body);
    deps.log.info({ mergeRequestIid: iid, noteId: created.id }, 'Merge request note created');
    return undefined;
  } catch (err) {
    if (err instanceof TerminalError) {
      deps.log.warn({ err: err.message, mergeRequestIid: iid }, 'GitLab refused the merge request note');
      return err.message;
    }
    throw err;
  }
}
