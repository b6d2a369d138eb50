import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { deterministicId, events, securityCheckId, SecurityCheckIdSchema } from './index.ts';

const example = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../examples/${name}.json`, import.meta.url), 'utf8'));

describe('golden examples', () => {
  it.each([
    ['event-received.v1', events.EventReceivedV1],
    ['scan-completed.v1', events.ScanCompletedV1],
    ['output-completed.v1', events.OutputCompletedV1],
    ['notified.v1', events.NotifiedV1],
    ['check-expired.v1', events.CheckExpiredV1],
    ['reevaluation-requested.v1', events.ReevaluationRequestedV1],
    ['exception-created.v1', events.ExceptionCreatedV1],
    ['exception-revoked.v1', events.ExceptionRevokedV1],
    ['project-enrolled.v1', events.ProjectEnrolledV1],
  ] as const)('%s parses with its schema', (name, definition) => {
    const parsed = definition.schema.safeParse(example(name));

    expect(parsed.error?.issues ?? []).toEqual([]);
    expect(parsed.data?.type).toBe(definition.type);
  });

  it('rejects an event whose type does not match its definition', () => {
    const wrong = { ...(example('notified.v1') as object), type: 'scan.completed' };

    expect(events.NotifiedV1.schema.safeParse(wrong).success).toBe(false);
  });

  it('strips unknown keys when consuming, so a newer producer does not break an older consumer', () => {
    const withExtra = example('notified.v1') as { data: Record<string, unknown> };
    withExtra.data['addedLater'] = 'x';

    const parsed = events.NotifiedV1.schema.parse(withExtra);

    expect(parsed.data).not.toHaveProperty('addedLater');
  });
});

describe('global events', () => {
  it('carry no securityCheckId, and per-check events require one', () => {
    const { securityCheckId: _id, ...withoutCheck } = example('check-expired.v1') as Record<string, unknown>;

    expect(events.ExceptionCreatedV1.schema.parse(example('exception-created.v1'))).not.toHaveProperty('securityCheckId');
    expect(events.CheckExpiredV1.schema.safeParse(withoutCheck).success).toBe(false);
  });
});

describe('subjects', () => {
  it('are <prefix>.<type>.v<version>', () => {
    expect(events.EventReceivedV1.subject('secbot')).toBe('secbot.event.received.v1');
    expect(events.ScanCompletedV1.subject('t1')).toBe('t1.scan.completed.v1');
  });
});

describe('securityCheckId', () => {
  it('equals what the seed CI snippet computes with sha256sum', () => {
    const host = 'gitlab.example.com';
    const path = 'mike/diaspora';
    const sha = 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7';
    const shell = execFileSync('sh', ['-c', `echo -n "${host}:${path}_${sha}" | sha256sum | head -c64`], {
      encoding: 'utf8',
    });

    expect(securityCheckId('GIT_LOCAL', host, path, sha)).toBe(`GIT_LOCAL_${shell}`);
  });

  it.each([
    ['GIT_LOCAL_' + 'a'.repeat(64), true],
    ['GIT_LOCAL_' + 'A'.repeat(64), false],
    ['GIT_LOCAL_' + 'a'.repeat(63), false],
    ['a'.repeat(64), false],
    ['GIT LOCAL_' + 'a'.repeat(64), false],
  ])('validates %s as %s', (id, valid) => {
    expect(SecurityCheckIdSchema.safeParse(id).success).toBe(valid);
  });
});

describe('deterministicId', () => {
  it('is a stable UUID for the same parts and differs for others', () => {
    const a = deterministicId('event.received', 'gitlab.example.com', 'delivery-1');

    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(deterministicId('event.received', 'gitlab.example.com', 'delivery-1')).toBe(a);
    expect(deterministicId('event.received', 'gitlab.example.com', 'delivery-2')).not.toBe(a);
    expect(deterministicId('a\u0000b')).not.toBe(deterministicId('a', 'b') + 'x');
  });
});
