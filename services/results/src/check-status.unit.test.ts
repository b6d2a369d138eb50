import { aCheck, aCheckExpired, aFinding, aJobPlan, aNotified, anEventReceived, anOutputCompleted, aScanCompleted } from '@secbot/testing';
import { describe, expect, it } from 'vitest';
import { awaited, effectiveStatus, errorReasons, evolveCheckState, type ActiveException, type CheckState, type ProjectedEvent } from './check-status.ts';

const project = (events: ProjectedEvent[]): CheckState | null =>
  events.reduce<CheckState | null>((s, e) => evolveCheckState(s, e), null);

describe('check status', () => {
  it('is in_progress from event.received until the outputs report', () => {
    const c = aCheck();

    expect(project([anEventReceived(c)])?.status).toBe('in_progress');
    expect(project([anEventReceived(c), aScanCompleted(c)])?.status).toBe('in_progress');
  });

  it('is success when every output reports nothing blocking', () => {
    const c = aCheck();

    const state = project([anEventReceived(c), aScanCompleted(c), anOutputCompleted(c)]);

    expect(state?.status).toBe('success');
    expect(state?.completedAt).toBe('2026-11-23T10:00:06.000Z');
  });

  it('is fail when any output reports a blocking finding', () => {
    const c = aCheck();

    const state = project([anEventReceived(c), aScanCompleted(c, { findings: [aFinding()] }), anOutputCompleted(c, { blocking: [aFinding()] })]);

    expect(state?.status).toBe('fail');
    expect(state?.outputs['gitleaks/builtin']?.blocking).toHaveLength(1);
  });

  it('waits for every (scan, output) pair of the plan', () => {
    const c = aCheck({
      job: aJobPlan({
        scans: [{ name: 'gitleaks', handler: 'gitleaks', config: {} }, { name: 'gitleaks-deep', handler: 'gitleaks', config: {} }],
        outputs: [{ name: 'builtin', handler: 'builtin', config: {} }, { name: 'defectdojo', handler: 'defectdojo', config: {} }],
      }),
    });
    const pairs = [
      ['gitleaks', 'builtin'],
      ['gitleaks', 'defectdojo'],
      ['gitleaks-deep', 'builtin'],
      ['gitleaks-deep', 'defectdojo'],
    ] as const;
    const events: ProjectedEvent[] = [anEventReceived(c), aScanCompleted(c), aScanCompleted(c, { scan: 'gitleaks-deep' })];

    for (const [i, [scan, output]] of pairs.entries()) {
      expect(project(events)?.status, `after ${i} pairs`).toBe('in_progress');
      events.push(anOutputCompleted(c, { scan, output }));
    }

    expect(project(events)?.status).toBe('success');
  });

  it.each([
    ['a scan error', (c: ReturnType<typeof aCheck>) => [aScanCompleted(c, { status: 'error', reason: 'GitLab refused the token (401)' })], 'scan gitleaks: GitLab refused the token (401)'],
    ['an output error', (c: ReturnType<typeof aCheck>) => [aScanCompleted(c), anOutputCompleted(c, { status: 'error', reason: 'DefectDojo answered 503' })], 'output builtin (scan gitleaks): DefectDojo answered 503'],
  ])('is error after %s, with the reason', (_name, later, reason) => {
    const c = aCheck();

    const state = project([anEventReceived(c), ...later(c)]);

    expect(state?.status).toBe('error');
    expect(errorReasons(state!)).toEqual([reason]);
  });

  it('is error when more than one job matched, naming them', () => {
    const c = aCheck();

    const state = project([anEventReceived(c, { planError: { reason: '2 jobs match this event; exactly one may: a, b', jobs: ['a', 'b'] } })]);

    expect(state?.status).toBe('error');
    expect(errorReasons(state!)[0]).toContain('a, b');
  });

  it('turns fail into success when a later revision of the output no longer blocks (triage)', () => {
    const c = aCheck();
    const failed = [anEventReceived(c), aScanCompleted(c, { findings: [aFinding()] }), anOutputCompleted(c, { blocking: [aFinding()] })];

    const state = project([...failed, anOutputCompleted(c, { blocking: [], revision: 1, findingsTotal: 1 })]);

    expect(state?.status).toBe('success');
  });

  it('ignores an older revision that arrives after a newer one', () => {
    const c = aCheck();

    const state = project([anEventReceived(c), aScanCompleted(c), anOutputCompleted(c, { revision: 2 }), anOutputCompleted(c, { revision: 1, blocking: [aFinding()] })]);

    expect(state?.status).toBe('success');
  });

  it('never lets a notifier change the status', () => {
    const c = aCheck();
    const done = [anEventReceived(c), aScanCompleted(c), anOutputCompleted(c, { blocking: [aFinding()] })];

    const state = project([...done, aNotified(c, { status: 'error' })]);

    expect(state?.status).toBe('fail');
    expect(state?.notifications).toHaveLength(1);
  });

  it('keeps the first plan when the same commit is delivered again (push, then MR)', () => {
    const c = aCheck();
    const other = { ...c, context: { ...c.context, job: aJobPlan({ name: 'other job' }) } };

    const state = project([anEventReceived(c), anEventReceived(other, { delivery: 'second' })]);

    expect(state?.job?.name).toBe('Secrets in every change');
    expect(state?.triggers).toBe(2);
  });

  it('lets a blocking finding win over another scan that failed or is still running (fail > error > in_progress)', () => {
    const c = aCheck({
      job: aJobPlan({ scans: [{ name: 'gitleaks', handler: 'gitleaks', config: {} }, { name: 'other', handler: 'gitleaks', config: {} }] }),
    });
    const blocking = [anEventReceived(c), aScanCompleted(c, { findings: [aFinding()] }), anOutputCompleted(c, { blocking: [aFinding()] })];

    expect(project(blocking)?.status, 'other still running').toBe('fail');
    expect(project([...blocking, aScanCompleted(c, { scan: 'other', status: 'error', reason: 'timeout' })])?.status, 'other failed').toBe('fail');
    expect(project([anEventReceived(c), aScanCompleted(c, { scan: 'other', status: 'error', reason: 'timeout' })])?.status, 'error over in_progress').toBe('error');
  });

  it('keeps a completed evaluation when a later evaluation of the same commit cannot finish', () => {
    const c = aCheck();
    const evaluated = [anEventReceived(c), aScanCompleted(c, { findings: [aFinding()] }), anOutputCompleted(c, { blocking: [aFinding()], revision: 5_000_000 })];
    const later = [anEventReceived(c), aScanCompleted(c, { status: 'error', reason: 'git fetch failed' }), anOutputCompleted(c, { status: 'error', reason: 'DefectDojo 503', revision: 9_000_000 })];

    const state = project([...evaluated, ...later]);

    expect(state?.status).toBe('fail');
    expect(state?.scans['gitleaks']).toMatchObject({ status: 'ok', lastError: 'git fetch failed' });
  });

  it('lets a later evaluation replace an earlier one, and never goes back to in_progress', () => {
    const c = aCheck();
    const first = [anEventReceived(c), aScanCompleted(c), anOutputCompleted(c, { revision: 5_000_000 })];

    expect(project([...first, anEventReceived(c)])?.status).toBe('success');
    expect(project([...first, anEventReceived(c), anOutputCompleted(c, { blocking: [aFinding()], revision: 9_000_000 })])?.status).toBe('fail');
  });

  it('applies exceptions before falling back: an excepted fail beside a failed scan reads error, not success', () => {
    const c = aCheck({
      job: aJobPlan({ scans: [{ name: 'gitleaks', handler: 'gitleaks', config: {} }, { name: 'other', handler: 'gitleaks', config: {} }] }),
    });
    const finding = aFinding();
    const state = project([
      anEventReceived(c),
      aScanCompleted(c, { findings: [finding] }),
      anOutputCompleted(c, { blocking: [finding] }),
      aScanCompleted(c, { scan: 'other', status: 'error', reason: 'timeout' }),
    ]);
    const exception: ActiveException = {
      id: 'e1',
      fingerprint: finding.fingerprint,
      scope: { kind: 'project', instanceHost: c.context.instance.host, projectPath: c.context.project.pathWithNamespace },
      owner: 'sec',
      reason: 'test key',
      expiresAt: null,
    };

    expect(state && effectiveStatus(state, [], new Date())).toBe('fail');
    expect(state && effectiveStatus(state, [exception], new Date())).toBe('error');
  });

  it('builds the check from scan.completed context when event.received is missing', () => {
    const c = aCheck();

    const state = project([aScanCompleted(c), anOutputCompleted(c)]);

    expect(state?.status).toBe('success');
    expect(state?.context?.project.pathWithNamespace).toBe('mike/diaspora');
  });
});

describe('deadline', () => {
  it('makes a stuck check error, naming what it waited for', () => {
    const c = aCheck();

    const state = project([anEventReceived(c), aScanCompleted(c), aCheckExpired(c, ['output builtin for scan gitleaks'])]);

    expect(state?.status).toBe('error');
    expect(errorReasons(state!)).toEqual(['no result within 1800 s; still waiting for output builtin for scan gitleaks']);
  });

  it('lists what is awaited', () => {
    const c = aCheck();

    expect(awaited(project([anEventReceived(c)])!)).toEqual(['scan gitleaks', 'output builtin for scan gitleaks']);
    expect(awaited(project([anEventReceived(c), aScanCompleted(c)])!)).toEqual(['output builtin for scan gitleaks']);
  });

  it('lets results that arrive after the deadline decide', () => {
    const c = aCheck();

    const state = project([anEventReceived(c), aScanCompleted(c), aCheckExpired(c, ['x']), anOutputCompleted(c)]);

    expect(state?.status).toBe('success');
  });
});

describe('exceptions (built-in output)', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  const finding = aFinding({ fingerprint: 'aws-access-token:abc' });
  const failed = (c = aCheck()) => project([anEventReceived(c), aScanCompleted(c, { findings: [finding] }), anOutputCompleted(c, { blocking: [finding] })])!;
  const exception = (overrides: Partial<ActiveException> = {}): ActiveException => ({
    id: 'e1',
    fingerprint: 'aws-access-token:abc',
    scope: { kind: 'project', instanceHost: 'example.com', projectPath: 'mike/diaspora' },
    owner: 'security',
    reason: 'test key',
    expiresAt: null,
    ...overrides,
  });

  it.each([
    ['a project exception for this project', exception(), 'success'],
    ['an instance exception for this instance', exception({ scope: { kind: 'instance', instanceHost: 'example.com' } }), 'success'],
    ['an exception for another project', exception({ scope: { kind: 'project', instanceHost: 'example.com', projectPath: 'other/repo' } }), 'fail'],
    ['an exception for another instance', exception({ scope: { kind: 'instance', instanceHost: 'gitlab.other.test' } }), 'fail'],
    ['an exception for another fingerprint', exception({ fingerprint: 'generic-api-key:zzz' }), 'fail'],
    ['an expired exception', exception({ expiresAt: '2026-11-23T11:59:59Z' }), 'fail'],
    ['an exception expiring later', exception({ expiresAt: '2026-12-01T00:00:00Z' }), 'success'],
  ])('with %s the check is %s', (_name, e, expected) => {
    expect(effectiveStatus(failed(), [e], now)).toBe(expected);
  });

  it('does not apply to findings another output (DefectDojo) blocks on', () => {
    const c = aCheck({ job: aJobPlan({ outputs: [{ name: 'dojo', handler: 'defectdojo', config: {} }] }) });
    const state = project([anEventReceived(c), aScanCompleted(c, { findings: [finding] }), { ...anOutputCompleted(c, { output: 'dojo', blocking: [finding] }), data: { ...anOutputCompleted(c, { output: 'dojo', blocking: [finding] }).data, handler: 'defectdojo' } }])!;

    expect(effectiveStatus(state, [exception()], now)).toBe('fail');
  });
});
