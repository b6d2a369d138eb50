import { deterministicId, ScanCompletedV1 } from '@secbot/contracts';
import { createLogger, RetryableError, TerminalError } from '@secbot/service-kit';
import { describe, expect, it } from 'vitest';
import { handleEventReceived, type HandlerDeps } from './handle-event-received.ts';
import type { ScanOutcome } from './scan-component.ts';
import { anEventFor } from './test-support/events.ts';

const BASE = 'https://gitlab.example.com/';
const log = createLogger({ service: 'test', level: 'silent' });
const event = (over: Partial<Parameters<typeof anEventFor>[0]> = {}) =>
  anEventFor({ baseUrl: BASE, project: 'group/app', range: { kind: 'push', ref: 'refs/heads/main', before: 'a'.repeat(40), after: 'b'.repeat(40) }, ...over });
const ok: ScanOutcome = { status: 'ok', commit: 'b'.repeat(40), findings: [], redactedReport: '[]' };

function deps(scan: HandlerDeps['scan'], over: Partial<HandlerDeps> = {}) {
  const published: ScanCompletedV1[] = [];
  const stored: string[] = [];
  const d: HandlerDeps = {
    instances: [{ host: BASE, webhook_secret_token: 'webhook-secret', auth_token: 'tok', prefix: 'GIT_LOCAL' }],
    scan,
    publish: (e) => {
      published.push(ScanCompletedV1.schema.parse(e));
      return Promise.resolve();
    },
    storeReport: (name) => {
      stored.push(name);
      return Promise.resolve({ bucket: 'b', name });
    },
    inlineReportMaxBytes: 100,
    maxDeliver: 3,
    ...over,
  };
  return { d, published, stored };
}

describe('handleEventReceived', () => {
  it('publishes one scan.completed per gitleaks component, with an id derived from check, component and the event it answers', async () => {
    const e = event({ components: [{ name: 'gitleaks' }, { name: 'gitleaks-strict', config: { timeout_seconds: 10 } }] });
    const { d, published } = deps(() => Promise.resolve(ok));

    await handleEventReceived(e, { deliveryCount: 1, log }, d);

    expect(published.map((p) => [p.id, p.data.scan, p.data.status])).toEqual([
      [deterministicId('scan.completed', e.securityCheckId, 'gitleaks', e.id), 'gitleaks', 'ok'],
      [deterministicId('scan.completed', e.securityCheckId, 'gitleaks-strict', e.id), 'gitleaks-strict', 'ok'],
    ]);
    expect(published[0]?.data.report).toEqual({ storage: 'inline', format: 'gitleaks-json', content: '[]' });
  });

  it('answers a second event for the same commit with a result of its own (never dropped as a duplicate)', async () => {
    const first = event();
    const second = { ...first, id: '00000000-0000-4000-8000-000000000002', correlationId: 'another-delivery' };
    const { d, published } = deps(() => Promise.resolve(ok));

    await handleEventReceived(first, { deliveryCount: 1, log }, d);
    await handleEventReceived(second, { deliveryCount: 1, log }, d);

    expect(new Set(published.map((p) => p.id)).size).toBe(2);
  });

  it('does nothing for an event without a job', async () => {
    const { d, published } = deps(() => Promise.resolve(ok));

    await handleEventReceived(event({ jobNull: true }), { deliveryCount: 1, log }, d);

    expect(published).toEqual([]);
  });

  it('reports an instance missing from the scanner config as an error without scanning', async () => {
    let scanned = false;
    const { d, published } = deps(() => ((scanned = true), Promise.resolve(ok)));

    await handleEventReceived(event({ prefix: 'OTHER' }), { deliveryCount: 1, log }, d);

    expect(scanned).toBe(false);
    expect(published[0]?.data).toMatchObject({ status: 'error', reason: expect.stringMatching(/GITLAB_CONFIGS/) as unknown });
  });

  it('retries a transient failure and reports it as an error on the last delivery', async () => {
    const { d, published } = deps(() => Promise.reject(new RetryableError('git fetch of group/app failed: 503')));

    await expect(handleEventReceived(event(), { deliveryCount: 2, log }, d)).rejects.toBeInstanceOf(RetryableError);
    await handleEventReceived(event(), { deliveryCount: 3, log }, d);

    expect(published).toHaveLength(1);
    expect(published[0]?.data.reason).toBe('git fetch of group/app failed: 503 (gave up after 3 attempts)');
  });

  it('reports a terminal failure at once', async () => {
    const { d, published } = deps(() => Promise.reject(new TerminalError('GitLab rejected the token')));

    await handleEventReceived(event(), { deliveryCount: 1, log }, d);

    expect(published[0]?.data).toMatchObject({ status: 'error', reason: 'GitLab rejected the token' });
  });

  it('puts a report larger than the inline limit in the object store', async () => {
    const e = event();
    const { d, published, stored } = deps(() => Promise.resolve({ ...ok, redactedReport: JSON.stringify([{ RuleID: 'x'.repeat(200) }]) }));

    await handleEventReceived(e, { deliveryCount: 1, log }, d);

    expect(stored).toEqual([`${e.securityCheckId}/gitleaks/${e.id}.json`]);
    expect(published[0]?.data.report).toEqual({ storage: 'object-store', format: 'gitleaks-json', bucket: 'b', name: `${e.securityCheckId}/gitleaks/${e.id}.json` });
  });
});
