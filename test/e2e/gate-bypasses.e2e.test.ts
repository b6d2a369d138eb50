import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fakeGitLab, type FakeGitLab } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detailsOf, pushHook, sendHook, startSystem, waitForStatus, type System } from './support/system.ts';

// A fake AWS access key, made at run time (gitleaks' aws-access-token rule: AKIA + 16 base32 characters).
const fakeKey = () => 'AKIA' + [...randomBytes(16)].map((b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b % 32]).join('');

// The default config's job, with the options an older config.yml may still carry: they no longer narrow a scan.
const POLICY = `
version: "1.0"
components:
  gitleaks: { handler_name: gitleaks, config: { new_branch_max_commits: 5, modes: { tag_push: tree } } }
  builtin: { handler_name: builtin }
jobs:
  - name: Secrets in every change
    rules: { gitlab: { event_type: "push|tag_push|merge_request" } }
    scans: [gitleaks]
    outputs: [builtin]
`;

let gitlab: FakeGitLab;
let system: System;
const keys: string[] = [];
const key = () => {
  const k = fakeKey();
  keys.push(k);
  return k;
};

beforeAll(async () => {
  gitlab = await fakeGitLab();
  system = await startSystem({
    label: 'bypass',
    policy: POLICY,
    gitlabUrl: gitlab.url,
    gitlabToken: gitlab.token,
    services: ['intake', 'results', 'scanner-gitleaks', 'output-builtin'],
  });
}, 120_000);

afterAll(async () => {
  await system?.stop();
  await gitlab?.close();
});

const projectId = () => 1000 + Math.floor(Math.random() * 1000);
const newProject = async () => {
  const path = `attacker/app-${randomBytes(3).toString('hex')}`;
  return { path, repo: await gitlab.createProject(path) };
};
const final = (id: string) => waitForStatus(system, id, ['success', 'fail', 'error'], 90_000);

function mergeRequestHook(path: string, iid: number, lastCommit: string, source: string, target = 'main') {
  const web = `${gitlab.url}${path}`;
  return {
    object_kind: 'merge_request',
    event_type: 'merge_request',
    user: { id: 7, username: 'developer', name: 'Dev Eloper' },
    project: { id: 42, web_url: web, git_http_url: `${web}.git`, path_with_namespace: path, default_branch: 'main' },
    object_attributes: { iid, target_branch: target, source_branch: source, state: 'opened', action: 'open', last_commit: { id: lastCommit, title: 'change' } },
  };
}

function tagHook(path: string, tag: string, commit: string) {
  return { ...pushHook(gitlab.url, path, '0'.repeat(40), commit), object_kind: 'tag_push', event_name: 'tag_push', ref: `refs/tags/${tag}` };
}

/** Checks that must all end `fail`, whatever the hook claimed. */
async function expectFail(ids: string[]) {
  for (const id of ids) expect(await final(id), `check ${id}`).toBe('fail');
}

describe('the gate against a hostile developer (default job, real git over smart HTTP, real gitleaks)', () => {
  it('an empty commit on top of a secret, its merge request, and a fast-forward of main all fail', async () => {
    const { path, repo } = await newProject();
    const base = await repo.commit('init', { 'README.md': '# app\n' });
    await repo.push('main');
    await repo.git('checkout', '-q', '-b', 'feature');
    const secret = await repo.commit('add key', { 'deploy.env': `AWS_ACCESS_KEY_ID=${key()}\n` });
    await repo.push('feature');
    expect(await final(await sendHook(system, pushHook(gitlab.url, path, base, secret, 'feature')))).toBe('fail');

    const empty = await repo.commit('nothing to see', {});
    await repo.push('feature', 'feature:refs/merge-requests/1/head');
    const onTop = await sendHook(system, pushHook(gitlab.url, path, secret, empty, 'feature'));
    const mr = await sendHook(system, mergeRequestHook(path, 1, empty, 'feature'), 'Merge Request Hook');
    await repo.git('checkout', '-q', 'main');
    await repo.git('merge', '-q', '--ff-only', 'feature');
    await repo.push('main');
    const ff = await sendHook(system, pushHook(gitlab.url, path, base, empty, 'main'));

    expect(mr).toBe(onTop);
    await expectFail([onTop, mr, ff]);
    const details = await detailsOf(system, onTop);
    expect(JSON.stringify(details)).toContain(secret);
  });

  it('a new branch that buries the key under more commits than new_branch_max_commits fails', async () => {
    const { path, repo } = await newProject();
    await repo.commit('init', { 'README.md': '# app\n' });
    await repo.push('main');
    await repo.git('checkout', '-q', '-b', 'deep');
    await repo.commit('key', { 'k.env': `AWS=${key()}\n` });
    let head = '';
    for (let i = 0; i < 8; i++) head = await repo.commit(`filler ${i}`, { [`f${i}.txt`]: `${i}\n` });
    await repo.push('deep');

    await expectFail([await sendHook(system, pushHook(gitlab.url, path, '0'.repeat(40), head, 'deep'))]);
  });

  it('a forged push with before == after fails, and so does the real hook for that commit afterwards', async () => {
    const { path, repo } = await newProject();
    await repo.commit('key', { 'k.env': `AWS=${key()}\n` });
    const head = await repo.commit('on top', { 'a.txt': 'a\n' });
    await repo.push('main');

    const forged = await sendHook(system, pushHook(gitlab.url, path, head, head, 'main'));
    expect(await final(forged)).toBe('fail');
    const real = await sendHook(system, pushHook(gitlab.url, path, '0'.repeat(40), head, 'main'));
    await expectFail([real]);
  });

  it('a tag whose .gitattributes re-encodes or hides the key, or a .gitleaksignore directory, still fails (never error)', async () => {
    const { path, repo } = await newProject();
    await repo.commit('keys', { 'enc/k.env': `AWS=${key()}\n`, 'bin/k.env': `AWS=${key()}\n`, '.gitleaksignore/x': 'k.env:aws-access-token:1\n' });
    await writeFile(join(repo.dir, '.gitattributes'), 'enc/* working-tree-encoding=UTF-16LE\nbin/* binary -diff export-ignore\n');
    await repo.git('add', '.gitattributes');
    await repo.git('commit', '-q', '-m', 'attributes');
    const commit = await repo.sha();
    await repo.git('tag', 'v1.0.0');
    await repo.push('main', 'refs/tags/v1.0.0');

    const id = await sendHook(system, tagHook(path, 'v1.0.0', commit), 'Tag Push Hook');

    await expectFail([id]);
    const files = ((await detailsOf(system, id)) as { blocking_findings: Array<{ file: string }> }).blocking_findings.map((f) => f.file).sort();
    expect(files).toEqual(['bin/k.env', 'enc/k.env']);
  });

  it("a key added in a merge's conflict resolution fails the merge and what comes after it", async () => {
    const { path, repo } = await newProject();
    const base = await repo.commit('base', { 'app.env': 'MODE=base\n' });
    await repo.push('main');
    await repo.git('checkout', '-q', '-b', 'side');
    await repo.commit('side', { 'app.env': 'MODE=side\n' });
    await repo.git('checkout', '-q', 'main');
    await repo.commit('main', { 'app.env': 'MODE=main\n' });
    await repo.git('merge', '-q', 'side').catch(() => undefined);
    const merge = await repo.commit('merge', { 'app.env': `MODE=merged\nAWS=${key()}\n` });
    const after = await repo.commit('later', { 'app.env': 'MODE=merged\n' });
    await repo.push('main', 'side');

    await expectFail([await sendHook(system, pushHook(gitlab.url, path, base, after, 'main'))]);
    expect(merge).not.toBe(after);
  });

  it('a fork merge request no hook names is judged when its pipeline announces it with the job token', async () => {
    const { path, repo } = await newProject();
    await repo.commit('init', { 'README.md': '# app\n' });
    await repo.push('main');
    await repo.git('checkout', '-q', '-b', 'fork-topic');
    const head = await repo.commit('from a fork', { 'k.env': `AWS=${key()}\n` });
    // GitLab publishes a fork MR's head in the target project only under refs/merge-requests/<iid>/head.
    await repo.push('fork-topic:refs/merge-requests/5/head');
    gitlab.jobs.jobs.set('glcbt-fork-mr', { id: 501, projectId: projectId(), projectPath: path, sha: head, status: 'running' });

    const res = await fetch(`${system.intakeUrl}/v1/gitlab/ci/checks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'job-token': 'glcbt-fork-mr' },
      body: JSON.stringify({ host: '127.0.0.1', project: path, sha: head, merge_request: { iid: 5, source_branch: 'fork-topic', target_branch: 'main' } }),
    });
    expect(res.status).toBe(202);

    await expectFail([((await res.json()) as { security_check_id: string }).security_check_id]);
  });

  it('never writes a key to the logs', () => {
    const logs = system.logs();
    expect(keys.length).toBeGreaterThan(5);
    for (const k of keys) expect(logs).not.toContain(k);
  });
});
