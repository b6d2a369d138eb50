import { randomBytes } from 'node:crypto';
import { fakeDefectDojo, fakeGitLab, fakeSlack, gitlabFixture, type FakeDefectDojo, type FakeGitLab, type FakeSlack } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detailsOf, pushHook, sendHook, startSystem, statusOf, waitForStatus, type System } from './support/system.ts';

const fakeKey = () => 'AKIA' + [...randomBytes(16)].map((b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b % 32]).join('');
const until = async <T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
};

let gitlab: FakeGitLab;
let slack: FakeSlack;
let dojo: FakeDefectDojo;
let system: System;

beforeAll(async () => {
  gitlab = await fakeGitLab();
  slack = await fakeSlack({ channels: [{ id: 'C0SECA', name: 'sec-a', member: true }, { id: 'C0SECB', name: 'sec-b', member: true }] });
  dojo = await fakeDefectDojo({ token: 'notify-dojo-token' });
  system = await startSystem({
    label: 'notify',
    policy: `
version: "1.0"
components:
  gitleaks: { handler_name: gitleaks }
  builtin: { handler_name: builtin }
  defectdojo: { handler_name: defectdojo, env: { url: DEFECTDOJO__URL, secret_key: DEFECTDOJO__TOKEN } }
  slack:
    handler_name: slack
    config: { channels: [sec-a, sec-b], render_limit: 5, api_url: "${slack.apiUrl}" }
    env: { token: SLACK_TOKEN }
  slack-burst:
    handler_name: slack
    config: { channels: [sec-a], api_url: "${slack.apiUrl}" }
    env: { token: SLACK_TOKEN }
  gitlab: { handler_name: gitlab }
jobs:
  - name: merge requests
    rules: { gitlab: { event_type: merge_request } }
    scans: [gitleaks]
    outputs: [defectdojo]
    notifications: [slack, gitlab]
  - name: burst
    rules: { gitlab: { event_type: push, project.path_with_namespace: "burst/.*" } }
    scans: [gitleaks]
    outputs: [builtin]
    notifications: [slack-burst]
`,
    gitlabUrl: gitlab.url,
    gitlabToken: gitlab.token,
    services: ['intake', 'results', 'scanner-gitleaks', 'output-builtin', 'output-defectdojo', 'notifier-slack', 'notifier-gitlab'],
    env: { DEFECTDOJO__URL: dojo.url, DEFECTDOJO__TOKEN: dojo.token, SLACK_TOKEN: slack.token, OUTPUT_DEFECTDOJO_REEVALUATE_SECONDS: '3' },
  });
}, 180_000);

afterAll(async () => {
  await system?.stop();
  await Promise.all([dojo?.close(), slack?.close(), gitlab?.close()]);
});

/** A merge request hook (GitLab's documented body) for `iid` of `path`, from `feature` to `main`. */
function mergeRequestHook(path: string, projectId: number, iid: number, lastCommit: string, action: string, oldrev: string | null) {
  const body = gitlabFixture('docs_webhook_merge_request');
  const web = `${gitlab.url}${path}`;
  const project = { ...(body['project'] as object), id: projectId, path_with_namespace: path, web_url: web, git_http_url: `${web}.git`, default_branch: 'main' };
  return {
    ...body,
    project,
    object_attributes: {
      ...(body['object_attributes'] as object),
      iid,
      source_branch: 'feature',
      target_branch: 'main',
      source_project_id: projectId,
      target_project_id: projectId,
      action,
      oldrev,
      state: 'opened',
      url: `${web}/-/merge_requests/${iid}`,
      last_commit: { id: lastCommit, title: 'change', url: `${web}/-/commit/${lastCommit}` },
      source: project,
      target: project,
    },
  };
}

/** A project on the fake GitLab whose branch `feature` adds a fake key, published as merge request !1. */
async function leakyMergeRequest(name: string, idBase: number) {
  const projectId = idBase + Math.floor(Math.random() * 1000);
  const path = `group/${name}-${projectId}`;
  const repo = await gitlab.createProject(path, { id: projectId });
  await repo.commit('init', { 'README.md': '# app\n' });
  await repo.push('main');
  await repo.git('checkout', '-q', '-b', 'feature');
  const leak = await repo.commit('add deploy config', { 'config/deploy.env': `AWS_ACCESS_KEY_ID=${fakeKey()}\n` });
  await repo.push('feature', 'feature:refs/merge-requests/1/head');
  return { projectId, path, repo, leak };
}

describe('a merge request that adds a fake key', () => {
  it('gets one Slack message per channel, a failed status and one note; a later push re-finding it posts nothing and updates the note; triage resolves both', async () => {
    const { projectId, path, repo, leak } = await leakyMergeRequest('project', 4000);

    const first = await sendHook(system, mergeRequestHook(path, projectId, 1, leak, 'open', null), 'Merge Request Hook');

    expect(await waitForStatus(system, first, ['fail', 'success', 'error'], 90_000)).toBe('fail');
    await until('two Slack messages', () => (slack.messages.length >= 2 ? true : undefined));
    expect(slack.messagesIn('C0SECA')).toHaveLength(1);
    expect(slack.messagesIn('C0SECB')).toHaveLength(1);
    expect(JSON.stringify(slack.messagesIn('C0SECA')[0]?.blocks)).toContain('config/deploy.env');
    await until('a failed commit status', () => (gitlab.api.statusOf(leak)?.status === 'failed' ? true : undefined));
    const [note] = await until('one MR note', () => (gitlab.api.notesOn(projectId, 1).length ? gitlab.api.notesOn(projectId, 1) : undefined));
    expect(note?.body).toContain('config/deploy.env');

    // A second push to the MR: the same secret is found again in the MR's range.
    const next = await repo.commit('docs', { 'README.md': '# app\nmore\n' });
    await repo.push('feature', 'feature:refs/merge-requests/1/head');
    const second = await sendHook(system, mergeRequestHook(path, projectId, 1, next, 'update', leak), 'Merge Request Hook');
    expect(await waitForStatus(system, second, ['fail', 'success', 'error'], 90_000)).toBe('fail');
    await until('the note updated for the second push', () => (gitlab.api.notesOn(projectId, 1)[0]?.body.includes(next.slice(0, 8)) ? true : undefined));
    expect(gitlab.api.notesOn(projectId, 1)).toHaveLength(1);
    expect(slack.messages).toHaveLength(2);

    // Marked false positive in DefectDojo: no rescan, the latest check passes and the note says so.
    const dojoFinding = (await detailsOf(system, second)).blocking_findings[0];
    dojo.triage(Number(/\/finding\/(\d+)$/.exec(dojoFinding.links.defectdojo)?.[1]), { false_p: true });
    expect(await waitForStatus(system, second, ['success'], 60_000)).toBe('success');
    await until('the note saying resolved', () => (/resolved/i.test(gitlab.api.notesOn(projectId, 1)[0]?.body ?? '') ? true : undefined));
    await until('a success commit status', () => (gitlab.api.statusOf(next)?.status === 'success' ? true : undefined));
    expect(gitlab.api.notesOn(projectId, 1)).toHaveLength(1);
    expect(slack.messages).toHaveLength(2);
  });
});

describe('who can read a check’s details, from the outside', () => {
  it('refuses them without a credential and to another project’s job token; opens them through the merge request note’s link and the commit status', async () => {
    const { projectId, path, repo, leak } = await leakyMergeRequest('details', 6000);
    const id = await sendHook(system, mergeRequestHook(path, projectId, 1, leak, 'open', null), 'Merge Request Hook');
    expect(await waitForStatus(system, id, ['fail', 'success', 'error'], 90_000)).toBe('fail');
    const [note] = await until('the MR note', () => (gitlab.api.notesOn(projectId, 1).length ? gitlab.api.notesOn(projectId, 1) : undefined));
    const details = `${system.resultsUrl}/v1/security/gitlab/check/${id}/details`;

    // Without a credential: refused, and nothing about the findings in the answer.
    const anonymous = await fetch(details);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).not.toContain('deploy.env');

    // The link a person clicks in the merge request note works, and so does the commit status's.
    const link = /\[details\]\((\S+?)\)/.exec(note?.body ?? '')?.[1];
    expect(link?.startsWith(`${details}?t=`)).toBe(true);
    const opened = await fetch(link ?? details);
    expect(opened.status).toBe(200);
    expect(((await opened.json()) as { blocking_findings: { file: string }[] }).blocking_findings.map((f) => f.file)).toEqual(['config/deploy.env']);
    const status = await until('the failed commit status', () => (gitlab.api.statusOf(leak)?.status === 'failed' ? gitlab.api.statusOf(leak) : undefined));
    expect((await fetch(status.target_url ?? details)).status).toBe(200);
    // A link does not open another check's details (another commit of the same project).
    const next = await repo.commit('docs', { 'README.md': '# app\nmore\n' });
    await repo.push('feature', 'feature:refs/merge-requests/2/head');
    const other = await sendHook(system, mergeRequestHook(path, projectId, 2, next, 'open', null), 'Merge Request Hook');
    await until('the other check known', async () => ((await statusOf(system, other)) !== 'not_started' ? true : undefined));
    expect((await fetch(`${system.resultsUrl}/v1/security/gitlab/check/${other}/details${new URL(link ?? details).search}`)).status).toBe(401);

    // A running job of another project is refused, even one whose id the hook claimed; a job of this project reads them.
    gitlab.jobs.jobs.set('glcbt-e2e-other-project', { id: 71, projectId, projectPath: 'group/another', sha: leak, status: 'running' });
    gitlab.jobs.jobs.set('glcbt-e2e-this-project', { id: 72, projectId, projectPath: path, sha: leak, status: 'running' });
    expect((await fetch(details, { headers: { 'job-token': 'glcbt-e2e-other-project' } })).status).toBe(403);
    expect((await fetch(details, { headers: { 'job-token': 'glcbt-e2e-this-project' } })).status).toBe(200);
  });
});

describe('Slack rate limiting', () => {
  it('delivers every message exactly once after 30 s of 429 during a burst of 50 webhooks, and no check status changes', async () => {
    const before = slack.messages.length;
    const ids: string[] = [];
    slack.rateLimit({ retryAfterSeconds: 3, forMs: 30_000 });
    for (let i = 0; i < 50; i++) {
      const path = `burst/app-${i}-${randomBytes(2).toString('hex')}`;
      const repo = await gitlab.createProject(path);
      const base = await repo.commit('init', { 'README.md': '# app\n' });
      const leak = await repo.commit('leak', { 'app.env': `AWS_ACCESS_KEY_ID=${fakeKey()}\n` });
      await repo.push('main');
      ids.push(await sendHook(system, pushHook(gitlab.url, path, base, leak)));
    }

    const statuses = await until('every check final', async () => {
      const s = await Promise.all(ids.map((id) => statusOf(system, id)));
      return s.every((x) => x === 'fail') ? s : undefined;
    }, 120_000);
    const delivered = await until('50 messages', () => (slack.messages.length - before >= 50 ? slack.messages.slice(before) : undefined), 180_000);
    await new Promise((r) => setTimeout(r, 3000));

    expect(statuses.every((s) => s === 'fail')).toBe(true);
    expect(slack.messages.length - before).toBe(50);
    expect(new Set(delivered.map((m) => JSON.stringify(m.blocks))).size).toBe(50);
    expect(slack.requests.filter((r) => r.status === 429).length).toBeGreaterThan(0);
  });
});
