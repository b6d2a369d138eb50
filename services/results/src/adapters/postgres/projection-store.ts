import { LockMode } from '@mikro-orm/core';
import { evolveCheckState, summarize, type CheckState, type ProjectedEvent } from '../../check-status.ts';
import type { Database } from './database.ts';
import { CheckEvent, ProjectionCursor, SecurityCheck } from './entities.ts';

export interface StoredEvent {
  seq: number;
  event: ProjectedEvent;
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
    const seen = new Set(
      (await em.find(CheckEvent, { eventId: { $in: batch.map((b) => b.event.id) } }, { fields: ['eventId'] })).map((r) => r.eventId),
    );
    const ids = [...new Set(batch.map((b) => b.event.securityCheckId))];
    const rows = new Map((await em.find(SecurityCheck, { id: { $in: ids } })).map((r) => [r.id, r]));
    let applied = 0;
    let duplicates = 0;
    for (const { seq, event } of batch) {
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

export async function cursorOf(db: Database, name: string): Promise<{ lastSeq: number; applied: number } | null> {
  const c = await db.em().findOne(ProjectionCursor, { name });
  return c ? { lastSeq: c.lastSeq, applied: c.applied } : null;
}
