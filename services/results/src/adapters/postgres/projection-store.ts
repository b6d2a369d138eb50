import { LockMode, type EntityManager } from '@mikro-orm/core';
import type { AnyGlobalEvent } from '@secbot/contracts';
import { evolveCheckState, summarize, type ActiveException, type CheckState, type ProjectedEvent } from '../../check-status.ts';
import type { Database } from './database.ts';
import { CheckEvent, FindingException, ProjectionCursor, SecurityCheck } from './entities.ts';

export interface StoredEvent {
  seq: number;
  event: ProjectedEvent | AnyGlobalEvent;
}

const isCheckEvent = (e: ProjectedEvent | AnyGlobalEvent): e is ProjectedEvent => 'securityCheckId' in e;

/** Exceptions are keyed by their id: creating twice or revoking twice changes nothing. */
async function applyGlobal(em: EntityManager, seq: number, event: AnyGlobalEvent): Promise<boolean> {
  if (event.type === 'exception.created') {
    const d = event.data;
    if (await em.findOne(FindingException, { id: d.exceptionId })) return false;
    em.create(FindingException, {
      id: d.exceptionId,
      fingerprint: d.fingerprint,
      scopeKind: d.scope.kind,
      instanceHost: d.scope.instanceHost,
      projectPath: d.scope.kind === 'project' ? d.scope.projectPath : null,
      owner: d.owner,
      reason: d.reason,
      expiresAt: d.expiresAt ? new Date(d.expiresAt) : null,
      createdAt: new Date(event.occurredAt),
      revokedAt: null,
      revokedBy: null,
      seq,
    });
    return true;
  }
  if (event.type === 'project.enrolled') return false; // the scanner's business; the stream keeps the audit record
  const row = await em.findOne(FindingException, { id: event.data.exceptionId });
  if (!row || row.revokedAt) return false;
  em.assign(row, { revokedAt: new Date(event.occurredAt), revokedBy: event.data.revokedBy });
  return true;
}

export interface ApplyResult {
  applied: number;
  duplicates: number;
}

/**
 * Applies a batch of events in one transaction: evolves each check's state, appends its timeline and moves the
 * cursor. An event whose id is already in the timeline (a redelivery, a replay, a republish) changes nothing,
 * so applying the same batch twice leaves the same rows. `upToSeq` moves the cursor past messages the
 * projection does not use (other subjects), so "caught up" is measurable.
 */
export async function applyBatch(db: Database, cursorName: string, batch: StoredEvent[], upToSeq = 0): Promise<ApplyResult> {
  return db.em().transactional(async (em) => {
    const cursor = await em.findOne(ProjectionCursor, { name: cursorName }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    const checkEvents = batch.filter((b): b is { seq: number; event: ProjectedEvent } => isCheckEvent(b.event));
    const seen = new Set(
      (await em.find(CheckEvent, { eventId: { $in: checkEvents.map((b) => b.event.id) } }, { fields: ['eventId'] })).map((r) => r.eventId),
    );
    const ids = [...new Set(checkEvents.map((b) => b.event.securityCheckId))];
    const rows = new Map((await em.find(SecurityCheck, { id: { $in: ids } })).map((r) => [r.id, r]));
    let applied = 0;
    let duplicates = 0;
    for (const { seq, event } of batch) {
      if (!isCheckEvent(event)) {
        if (await applyGlobal(em, seq, event)) applied++;
        else duplicates++;
        continue;
      }
      if (seen.has(event.id)) {
        duplicates++;
        continue;
      }
      seen.add(event.id);
      applied++;
      const row = rows.get(event.securityCheckId);
      const state: CheckState = evolveCheckState(row?.state ?? null, event);
      const columns = {
        status: state.status,
        projectId: state.context?.project.id ?? null,
        projectPath: state.context?.project.pathWithNamespace ?? null,
        commitSha: state.context?.commit.sha ?? null,
        eventType: state.context?.eventType ?? null,
        jobName: state.job?.name ?? null,
        state,
        updatedAt: new Date(state.updatedAt),
        lastSeq: seq,
      };
      if (row) em.assign(row, columns);
      else rows.set(event.securityCheckId, em.create(SecurityCheck, { id: event.securityCheckId, createdAt: new Date(event.occurredAt), ...columns }));
      em.create(CheckEvent, {
        checkId: event.securityCheckId,
        seq,
        eventId: event.id,
        type: event.type,
        version: event.version,
        source: event.source,
        occurredAt: new Date(event.occurredAt),
        summary: summarize(event),
      });
    }
    const lastSeq = Math.max(upToSeq, ...batch.map((b) => b.seq), cursor?.lastSeq ?? 0);
    if (cursor) em.assign(cursor, { lastSeq, applied: cursor.applied + applied, updatedAt: new Date() });
    else em.create(ProjectionCursor, { name: cursorName, lastSeq, applied, updatedAt: new Date() });
    return { applied, duplicates };
  });
}

export interface CheckView {
  row: { id: string; status: string; state: CheckState; createdAt: Date; updatedAt: Date; lastSeq: number };
  timeline: Array<{ seq: number; type: string; version: number; source: string; occurredAt: Date; summary: string }>;
}

/**
 * The CI gate's hot path: one indexed row, one column. A parameterized statement on MikroORM's connection
 * serves about four times the reads of `findOne` here (entity hydration dominates a query this small).
 */
export async function findStatus(db: Database, id: string): Promise<string | null> {
  const rows: unknown = await db.em().getConnection().execute(`select "status" from ${db.table('security_check')} where "id" = ?`, [id]);
  const first: unknown = Array.isArray(rows) ? rows[0] : undefined;
  const status = first && typeof first === 'object' && 'status' in first ? first.status : undefined;
  return typeof status === 'string' ? status : null;
}

export async function findCheck(db: Database, id: string): Promise<CheckView | null> {
  const em = db.em();
  const row = await em.findOne(SecurityCheck, { id });
  if (!row) return null;
  const timeline = await em.find(CheckEvent, { checkId: id }, { orderBy: { seq: 'asc' } });
  return { row, timeline };
}

export async function findState(db: Database, id: string): Promise<CheckState | null> {
  const row = await db.em().findOne(SecurityCheck, { id }, { fields: ['state'] });
  return row?.state ?? null;
}

export async function cursorOf(db: Database, name: string): Promise<{ lastSeq: number; applied: number } | null> {
  const c = await db.em().findOne(ProjectionCursor, { name });
  return c ? { lastSeq: c.lastSeq, applied: c.applied } : null;
}

function toActive(r: { id: string; fingerprint: string; scopeKind: string; instanceHost: string; projectPath?: string | null; owner: string; reason: string; expiresAt?: Date | null }): ActiveException {
  return {
    id: r.id,
    fingerprint: r.fingerprint,
    scope: r.scopeKind === 'project' && r.projectPath ? { kind: 'project', instanceHost: r.instanceHost, projectPath: r.projectPath } : { kind: 'instance', instanceHost: r.instanceHost },
    owner: r.owner,
    reason: r.reason,
    expiresAt: r.expiresAt ? r.expiresAt.toISOString() : null,
  };
}

/** Unrevoked, unexpired exceptions that could cover these fingerprints on this instance. */
export async function activeExceptions(db: Database, instanceHost: string, fingerprints: string[], now: Date): Promise<ActiveException[]> {
  if (fingerprints.length === 0) return [];
  const rows = await db.em().find(FindingException, {
    instanceHost,
    fingerprint: { $in: fingerprints },
    revokedAt: null,
    $or: [{ expiresAt: null }, { expiresAt: { $gt: now } }],
  });
  return rows.map(toActive);
}

export interface ExceptionFilter {
  instanceHost?: string;
  projectPath?: string;
  includeInactive?: boolean;
}

export async function listExceptions(db: Database, filter: ExceptionFilter, now: Date) {
  const rows = await db.em().find(
    FindingException,
    {
      ...(filter.instanceHost ? { instanceHost: filter.instanceHost } : {}),
      ...(filter.projectPath ? { $or: [{ projectPath: filter.projectPath }, { scopeKind: 'instance' }] } : {}),
      ...(filter.includeInactive ? {} : { revokedAt: null, $and: [{ $or: [{ expiresAt: null }, { expiresAt: { $gt: now } }] }] }),
    },
    { orderBy: { createdAt: 'desc' }, limit: 1000 },
  );
  return rows.map((r) => ({ ...toActive(r), createdAt: r.createdAt.toISOString(), revokedAt: r.revokedAt?.toISOString() ?? null, revokedBy: r.revokedBy }));
}

export async function findException(db: Database, id: string) {
  return db.em().findOne(FindingException, { id });
}

/** Checks still in progress whose first event is older than `before`: candidates for check.expired. */
export async function stuckChecks(db: Database, before: Date, limit = 500): Promise<CheckState[]> {
  const rows = await db.em().find(SecurityCheck, { status: 'in_progress', createdAt: { $lt: before } }, { limit, orderBy: { createdAt: 'asc' } });
  return rows.filter((r) => !r.state.expired).map((r) => r.state);
}
