import { defineEntity, p } from '@mikro-orm/core';
import type { CheckState } from '../../check-status.ts';

export const SecurityCheck = defineEntity({
  name: 'SecurityCheck',
  tableName: 'security_check',
  properties: {
    id: p.string().primary().length(200),
    status: p.string().length(20),
    projectId: p.integer().nullable(),
    projectPath: p.text().nullable(),
    commitSha: p.string().length(64).nullable(),
    eventType: p.string().length(20).nullable(),
    jobName: p.text().nullable(),
    state: p.json<CheckState>(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    lastSeq: p.bigint('number'),
  },
});

export const CheckEvent = defineEntity({
  name: 'CheckEvent',
  tableName: 'check_event',
  properties: {
    checkId: p.string().primary().length(200),
    seq: p.bigint('number').primary(),
    eventId: p.uuid().unique(),
    type: p.string().length(64),
    version: p.integer(),
    source: p.string().length(64),
    occurredAt: p.datetime(),
    summary: p.text(),
  },
  primaryKeys: ['checkId', 'seq'],
});

export const ProjectionCursor = defineEntity({
  name: 'ProjectionCursor',
  tableName: 'projection_cursor',
  properties: {
    name: p.string().primary().length(100),
    lastSeq: p.bigint('number'),
    applied: p.bigint('number'),
    updatedAt: p.datetime(),
  },
});


export const FindingException = defineEntity({
  name: 'FindingException',
  tableName: 'finding_exception',
  properties: {
    id: p.uuid().primary(),
    fingerprint: p.string().length(500),
    scopeKind: p.string().length(20),
    instanceHost: p.string().length(255),
    projectPath: p.text().nullable(),
    owner: p.string().length(200),
    reason: p.text(),
    expiresAt: p.datetime().nullable(),
    createdAt: p.datetime(),
    revokedAt: p.datetime().nullable(),
    revokedBy: p.string().length(200).nullable(),
    seq: p.bigint('number'),
  },
});

export const entities = [SecurityCheck, CheckEvent, ProjectionCursor, FindingException];
