import { NotifiedV1, type AnyEvent } from '@secbot/contracts';
import { createPublisher, verifyCheckLink } from '@secbot/service-kit';
import {
  aCheck,
  aCheckExpired,
  aFinding,
  aJobPlan,
  anEventReceived,
  anOutputCompleted,
  aScanCompleted,
  captureLogs,
  eventually,
  fakeGitLabApi,
  publishEvents,
  readStream,
  streamEnv,
  testNats,
  type CheckFixture,
  type FakeGitLabApi,
  type TestNats,
} from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noteMarker } from './merge-request-note.ts';
import { startNotifierGitLab, type RunningService } from './service.ts';

const LINK_KEY = 'notifier-gitlab-test-link-key-0123456789';

/** A details link that opens check `id` without a credential: on results' details route, with a `t` results accepts. */
function expectSignedDetailsLink(link: string | null | undefined, id: string) {
  const url = new URL(link ?? 'http://missing/');
  expect(`${url.origin}${url.pathname}`).toBe(`https://secbot.example.com/v1/security/gitlab/check/${id}/details`);
  expect(verifyCheckLink(LINK_KEY, id, url.searchParams.get('t') ?? '', new Date())).toMatchObject({ ok: true });
  // 30 days by default, at a UTC midnight.
  const expiresAt = Number(url.searchParams.get('t')?.split('.')[0]) * 1000;
  expect(expiresAt - Date.now()).toBeGreaterThan(30 * 86_400_000 - 1000);
  expect(expiresAt - Date.now()).toBeLessThanOrEqual(31 * 86_400_000);
}

describe('notifier-gitlab on JetStream', () => {
  let nats: TestNats;
  let gitlab: FakeGitLabApi;
  let service: RunningService;
  const notifier = { name: 'gitlab', handler: 'gitlab', config: {} };

  const publish = (events: AnyEvent[]) => publishEvents(createPublisher({ js: nats.js, stream: nats.stream }), events);
  const notifiedOf = async (checkId: string): Promise<NotifiedV1[]> =>
    (await readStream(nats, nats.stream))
      .filter((m) => m.subject === NotifiedV1.subject(nats.stream.prefix))
      .map((m) => NotifiedV1.schema.parse(m.json))
      .filter((e) => e.securityCheckId === checkId);

  const PROJECTS: Record<number, string> = { 15: 'mike/diaspora', 16: 'mike/other' };
  /** A check of a push, or of merge request `iid`, on the fake GitLab's instance; `path` defaults to the id's. */
  function aCheckOn(opts: { mergeRequest?: number; projectId?: number; path?: string; sourceProjectId?: number } = {}): CheckFixture {
    const id = opts.projectId ?? 15;
    const check = aCheck({ job: aJobPlan({ notifiers: [notifier] }), project: opts.path ?? PROJECTS[id] ?? 'mike/diaspora' });
    const context = { ...check.context, instance: { ...check.context.instance, url: gitlab.url }, project: { ...check.context.project, id } };
    if (opts.mergeRequest === undefined) return { ...check, context };
    const iid = opts.mergeRequest;
    return {
      ...check,
      context: {
        ...context,
        eventType: 'merge_request',
        range: { kind: 'merge_request', iid, targetBranch: 'master', sourceBranch: 'feature', sourceGitHttpUrl: null, headRef: `refs/merge-requests/${iid}/head`, lastCommit: check.sha, oldrev: null },
        mergeRequest: { iid, title: 'Add deploy config', sourceBranch: 'feature', targetBranch: 'master', ...(opts.sourceProjectId ? { sourceProjectId: opts.sourceProjectId, targetProjectId: id } : {}) },
      },
    };
  }

  beforeAll(async () => {
    nats = await testNats('gitlabnotifier');
    gitlab = await fakeGitLabApi({ token: 'glpat-notifier-int', projects: { ...PROJECTS, 17: 'fork/diaspora' } });
    service = await startNotifierGitLab(
      {
        ...streamEnv(nats.stream),
        GITLAB_CONFIGS: JSON.stringify([{ host: gitlab.url, webhook_secret_token: 'int-webhook-secret', auth_token: gitlab.token, prefix: 'GIT_LOCAL', insecure: true }]),
        RESULTS_PUBLIC_URL: 'https://secbot.example.com',
        SECBOT_LINK_SIGNING_KEY: LINK_KEY,
      },
      { port: 0, logDestination: captureLogs(), backoffMs: () => 200 },
    );
  });
  afterAll(async () => {
    await service?.close();
    await gitlab?.close();
    await nats?.jsm.streams.delete(`KV_${nats.stream.name}_notifier_gitlab`).catch(() => undefined);
    await nats?.cleanup();
  });

  it('serves /healthz, /readyz and /metrics', async () => {
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${service.url}/metrics`)).status).toBe(200);
  });

  it('moves the commit status pending → running → success for a clean push', async () => {
    const check = aCheckOn();

    await publish([anEventReceived(check)]);
    await eventually(() => gitlab.statusOf(check.sha)?.status === 'pending' || undefined);
    await publish([aScanCompleted(check)]);
    await eventually(() => gitlab.statusOf(check.sha)?.status === 'running' || undefined);
    await publish([anOutputCompleted(check)]);
    const status = await eventually(() => (gitlab.statusOf(check.sha)?.status === 'success' ? gitlab.statusOf(check.sha) : undefined));

    expect(status).toMatchObject({
      history: ['pending', 'running', 'success'],
      name: 'secbot',
      ref: 'master',
      description: 'SecBot: no blocking secrets',
    });
    expectSignedDetailsLink(status?.target_url, check.securityCheckId);
    const notified = await eventually(async () => {
      const list = await notifiedOf(check.securityCheckId);
      return list.length ? list : undefined;
    });
    expect(notified.map((n) => [n.data.target, n.data.status])).toEqual([['commit-status', 'sent']]);
  });

  it('keeps one merge request note: created when a push blocks, updated in place on the next push, resolved after triage', async () => {
    const first = aCheckOn({ mergeRequest: 7 });
    const second = aCheckOn({ mergeRequest: 7 });
    const secret = aFinding({ fingerprint: 'fp-mr', links: { defectdojo: 'https://dojo.example.com/finding/1' } });
    gitlab.seedNote(15, 7, 'LGTM, but see the pipeline');

    await publish([anEventReceived(first), aScanCompleted(first, { findings: [secret] }), anOutputCompleted(first, { blocking: [secret] })]);
    await eventually(() => gitlab.statusOf(first.sha)?.status === 'failed' || undefined);
    const created = await eventually(() => gitlab.notesOn(15, 7).find((n) => n.body.startsWith(noteMarker('gitlab'))));
    expect(created.body).toContain('SecBot: 1 blocking secret');
    expectSignedDetailsLink(/\[details\]\((\S+?)\)/.exec(created.body)?.[1], first.securityCheckId);

    await publish([anEventReceived(second), aScanCompleted(second, { findings: [secret] }), anOutputCompleted(second, { blocking: [secret] })]);
    await eventually(() => gitlab.statusOf(second.sha)?.status === 'failed' || undefined);
    await eventually(() => (created.body.includes(second.sha.slice(0, 8)) ? true : undefined));
    await publish([anOutputCompleted(second, { blocking: [], revision: 1 })]);
    await eventually(() => gitlab.statusOf(second.sha)?.status === 'success' || undefined);
    await eventually(() => (created.body.includes('everything is resolved') ? true : undefined));

    expect(gitlab.notesOn(15, 7).filter((n) => n.body.startsWith(noteMarker('gitlab')))).toHaveLength(1);
    expect(created.edits).toBe(2);
    expect(gitlab.statusOf(first.sha)?.history).toEqual(['pending', 'running', 'failed']);
    expect(gitlab.statusOf(second.sha)?.description).toBe('SecBot: no blocking secrets');
  });

  it('writes the note when the same commit was pushed and opened as a merge request (one check, two events)', async () => {
    const mr = aCheckOn({ mergeRequest: 9, projectId: 16 });
    const push: CheckFixture = { ...mr, context: { ...aCheckOn({ projectId: 16 }).context, commit: mr.context.commit } };
    const secret = aFinding({ fingerprint: 'fp-push-and-mr' });

    await publish([anEventReceived(push), anEventReceived(mr, { delivery: 'mr-delivery' })]);
    await publish([aScanCompleted(push, { findings: [secret] }), anOutputCompleted(push, { blocking: [secret] })]);

    const note = await eventually(() => gitlab.notesOn(16, 9).find((n) => n.body.startsWith(noteMarker('gitlab'))));
    expect(note.body).toContain('SecBot: 1 blocking secret');
    expect(gitlab.statusOf(mr.sha)?.status).toBe('failed');
  });

  it('retries after a 429 and sets the status once GitLab answers', async () => {
    const check = aCheckOn();
    gitlab.failNext(429, { retryAfter: 1, times: 2, match: (r) => r.path.endsWith(`/statuses/${check.sha}`) });

    await publish([anEventReceived(check), aScanCompleted(check), anOutputCompleted(check, { blocking: [aFinding()] })]);

    await eventually(() => gitlab.statusOf(check.sha)?.status === 'failed' || undefined, 20_000);
    expect(gitlab.requests.filter((r) => r.path.endsWith(`/statuses/${check.sha}`) && r.status === 429)).toHaveLength(2);
  });

  it('fails the status when the check passed its deadline without a result', async () => {
    const check = aCheckOn();

    await publish([anEventReceived(check)]);
    await eventually(() => gitlab.statusOf(check.sha)?.status === 'pending' || undefined);
    await publish([aCheckExpired(check, ['scan gitleaks'])]);

    const status = await eventually(() => (gitlab.statusOf(check.sha)?.status === 'failed' ? gitlab.statusOf(check.sha) : undefined));
    expect(status?.description).toBe('SecBot could not check this change: no result in time; waited for scan gitleaks');
  });

  it('publishes notified error with a reason when GitLab refuses the token, without retrying', async () => {
    const check = aCheckOn({ projectId: 16 });
    gitlab.failNext(401, { times: 1, match: (r) => r.path.endsWith(`/statuses/${check.sha}`) && r.body?.['state'] === 'failed' });

    await publish([anEventReceived(check), aScanCompleted(check), anOutputCompleted(check, { blocking: [aFinding()] })]);
    const [notified] = await eventually(async () => {
      const list = (await notifiedOf(check.securityCheckId)).filter((n) => n.data.status === 'error');
      return list.length ? list : undefined;
    });
    await new Promise((r) => setTimeout(r, 800));

    expect(notified?.data).toMatchObject({ target: 'commit-status', status: 'error' });
    expect(notified?.data.reason).toContain('GITLAB_CONFIGS (prefix GIT_LOCAL).auth_token');
    expect(JSON.stringify(notified)).not.toContain(gitlab.token);
    expect(gitlab.requests.filter((r) => r.path.endsWith(`/statuses/${check.sha}`) && r.status === 401)).toHaveLength(1);
  });

  describe('what a hook body claims about the project', () => {
    const errorsOf = async (checkId: string) =>
      eventually(async () => {
        const list = (await notifiedOf(checkId)).filter((n) => n.data.status === 'error');
        return list.length ? list : undefined;
      });

    it('posts nothing when the event pairs a path with another project’s id (forged project.id), and says why', async () => {
      // mike/diaspora is project 15; the body claims 16 (mike/other), where the status and note would land.
      const forged = aCheckOn({ mergeRequest: 21, projectId: 16, path: 'mike/diaspora' });
      const before = gitlab.requests.filter((r) => r.method !== 'GET').length;

      await publish([anEventReceived(forged), aScanCompleted(forged), anOutputCompleted(forged, { blocking: [aFinding()] })]);
      const [error] = await errorsOf(forged.securityCheckId);
      await new Promise((r) => setTimeout(r, 500));

      expect(error?.data).toMatchObject({ target: 'project', status: 'error' });
      expect(error?.data.reason).toMatch(/names project id 16 for mike\/diaspora, which GitLab knows as project 15/);
      expect(gitlab.statusOf(forged.sha)).toBeUndefined();
      expect(gitlab.notesOn(16, 21)).toHaveLength(0);
      expect(gitlab.notesOn(15, 21)).toHaveLength(0);
      expect(gitlab.requests.filter((r) => r.method !== 'GET').length).toBe(before);
    });

    it('posts nothing for a path GitLab does not have', async () => {
      const unknown = aCheckOn({ projectId: 15, path: 'nobody/nothing' });

      await publish([anEventReceived(unknown), aScanCompleted(unknown), anOutputCompleted(unknown, { blocking: [aFinding()] })]);
      const [error] = await errorsOf(unknown.securityCheckId);

      expect(error?.data.reason).toMatch(/GitLab has no project nobody\/nothing/);
      expect(gitlab.statusOf(unknown.sha)).toBeUndefined();
    });

    it('posts nothing when a merge request claims a source project GitLab does not give it (forged fork)', async () => {
      const forged = aCheckOn({ mergeRequest: 22, projectId: 15, sourceProjectId: 16 });

      await publish([anEventReceived(forged), aScanCompleted(forged), anOutputCompleted(forged, { blocking: [aFinding()] })]);
      const [error] = await errorsOf(forged.securityCheckId);

      expect(error?.data.reason).toMatch(/names project 16 as the source of !22 in mike\/diaspora, GitLab says project 15/);
      expect(gitlab.statusOf(forged.sha)).toBeUndefined();
      expect(gitlab.notesOn(15, 22)).toHaveLength(0);
    });

    it('sets the status of a real fork merge request in the source project GitLab names', async () => {
      gitlab.addMergeRequest(15, 23, { sourceProjectId: 17 });
      const fork = aCheckOn({ mergeRequest: 23, projectId: 15, sourceProjectId: 17 });

      await publish([anEventReceived(fork), aScanCompleted(fork), anOutputCompleted(fork, { blocking: [aFinding()] })]);

      const status = await eventually(() => (gitlab.statusOf(fork.sha)?.status === 'failed' ? gitlab.statusOf(fork.sha) : undefined));
      expect(status?.projectId).toBe(17);
    });

    it('finds its own note by its author, not by the marker someone else posted first', async () => {
      const check = aCheckOn({ mergeRequest: 24 });
      const decoy = gitlab.seedNote(15, 24, `${noteMarker('gitlab')}\n### SecBot: everything is resolved (posted by a developer)`, { author: { id: 7, username: 'developer' } });

      await publish([anEventReceived(check), aScanCompleted(check), anOutputCompleted(check, { blocking: [aFinding()] })]);

      const own = await eventually(() => gitlab.notesOn(15, 24).find((n) => n.id !== decoy.id && n.body.startsWith(noteMarker('gitlab'))));
      expect(own.author.id).toBe(42);
      expect(own.body).toContain('SecBot: 1 blocking secret');
      expect(decoy.edits).toBe(0);
      expect(gitlab.requests.filter((r) => r.path === '/api/v4/user')).toHaveLength(1);
    });
  });
});
