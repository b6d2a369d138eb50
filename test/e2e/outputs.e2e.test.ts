import { randomBytes } from 'node:crypto';
import { fakeDefectDojo, fakeGitLabGit, readStream, type FakeDefectDojo, type FakeGitLabGit } from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@secbot/service-kit';
import { openDatabase } from '../../services/results/src/adapters/postgres/database.ts';
import { detailsOf, pushHook, sendHook, startSystem, TEST_DSN, waitForStatus, type System } from './support/system.ts';

// A fake AWS access key, made at run time (gitleaks' aws-access-token rule: AKIA + 16 base32 characters).
const fakeKey = () => 'AKIA' + [...randomBytes(16)].map((b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b % 32]).join('');

const POLICY = `
version: "1.0"
components:
  gitleaks: { handler_name: gitleaks }
  builtin: { handler_name: builtin }
  defectdojo:
    handler_name: defectdojo
    env: { url: DEFECTDOJO__URL, secret_key: DEFECTDOJO__TOKEN }
jobs:
  - name: builtin
    rules: { gitlab: { event_type: push, project.path_with_namespace: "builtin/.*" } }
    scans: [gitleaks]
    outputs: [builtin]
  - name: defectdojo
    rules: { gitlab: { event_type: push, project.path_with_namespace: "dojo/.*" } }
    scans: [gitleaks]
    outputs: [defectdojo]
`;

let gitlab: FakeGitLabGit;
let dojo: FakeDefectDojo;
let system: System;
const keys: string[] = [];

beforeAll(async () => {
  gitlab = await fakeGitLabGit();
  dojo = await fakeDefectDojo({ token: 'e2e-dojo-token' });
  system = await startSystem({
    label: 'outputs',
    policy: POLICY,
    gitlabUrl: gitlab.url,
    gitlabToken: gitlab.token,
    services: ['intake', 'results', 'scanner-gitleaks', 'output-builtin', 'output-defectdojo'],
    env: { DEFECTDOJO__URL: dojo.url, DEFECTDOJO__TOKEN: dojo.token, OUTPUT_DEFECTDOJO_REEVALUATE_SECONDS: '5' },
  });
}, 120_000);

afterAll(async () => {
  await system?.stop();
  await dojo?.close();
  await gitlab?.close();
});

/** A project with one clean commit, then a pushed commit that adds a file with a fake key. */
async function leakyPush(path: string, key = fakeKey()) {
  keys.push(key);
  const repo = await gitlab.createProject(path);
  const before = await repo.commit('init', { 'README.md': '# app\n' });
  const after = await repo.commit('add deploy config', { 'config/deploy.env': `AWS_REGION=eu-west-1\nAWS_ACCESS_KEY_ID=${key}\n` });
  await repo.push('main');
  return { repo, before, after, key, id: await sendHook(system, pushHook(gitlab.url, path, before, after)) };
}

describe('built-in output', () => {
  it('fails on a pushed fake key, passes with an exception, and a second push of the same secret does not block', async () => {
    const { repo, after, key, id } = await leakyPush(`builtin/app-${randomBytes(3).toString('hex')}`);

    expect(await waitForStatus(system, id, ['fail', 'success', 'error'])).toBe('fail');
    const details = await detailsOf(system, id);
    const [finding] = details.blocking_findings;
    expect(finding).toMatchObject({ rule: 'aws-access-token', file: 'config/deploy.env', line: 2, commit: after });
    expect(finding.fingerprint).toMatch(/^aws-access-token:/);

    const res = await fetch(`${system.resultsUrl}/v1/security/exceptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${system.apiToken}` },
      body: JSON.stringify({ fingerprint: finding.fingerprint, scope: 'project', instance_host: '127.0.0.1', project_path: details.project.path, reason: 'e2e', expires_at: new Date(Date.now() + 7 * 86_400_000).toISOString() }),
    });
    expect(res.status).toBe(201);
    // The owner is the name of the API token, not something the caller says.
    expect(((await res.json()) as { owner: string }).owner).toBe('e2e');
    expect(await waitForStatus(system, id, ['success'], 5_000)).toBe('success');

    // The same secret again in a later commit (e.g. copied to another file): same fingerprint, covered.
    const again = await repo.commit('copy config', { 'config/copy.env': `AWS_ACCESS_KEY_ID=${key}\n` });
    await repo.push('main');
    const second = await sendHook(system, pushHook(gitlab.url, details.project.path, after, again));
    expect(await waitForStatus(system, second, ['fail', 'success', 'error'])).toBe('success');
  });
});

describe('DefectDojo output', () => {
  it('fails with the finding linked into DefectDojo, turns to success once triaged false positive, and a re-found secret does not block', async () => {
    const path = `dojo/app-${randomBytes(3).toString('hex')}`;
    const { repo, before, key, id } = await leakyPush(path);

    expect(await waitForStatus(system, id, ['fail', 'success', 'error'])).toBe('fail');
    const [finding] = (await detailsOf(system, id)).blocking_findings;
    expect(finding.links.defectdojo).toMatch(new RegExp(`^${dojo.url.replace(/\/$/, '')}/finding/\\d+$`));
    const dojoId = Number(/\/finding\/(\d+)$/.exec(finding.links.defectdojo)?.[1]);

    dojo.triage(dojoId, { false_p: true });
    const started = Date.now();
    expect(await waitForStatus(system, id, ['success'], 60_000)).toBe('success');
    expect(Date.now() - started).toBeLessThan(60_000);

    // The same change rebased onto a new branch: the same secret at the same place, in a new commit.
    await repo.git('checkout', '-q', '-b', 'rework', before);
    const rebased = await repo.commit('add deploy config (rebased)', { 'config/deploy.env': `AWS_REGION=eu-west-1\nAWS_ACCESS_KEY_ID=${key}\n` });
    await repo.push('rework');
    const second = await sendHook(system, pushHook(gitlab.url, path, '0000000000000000000000000000000000000000', rebased, 'rework'));
    expect(await waitForStatus(system, second, ['fail', 'success', 'error'])).toBe('success');
    expect((await detailsOf(system, second)).counts.findings).toBe(1);
  });
});

describe('secrets stay secret', () => {
  it('never puts a key value in the event stream, any service log or the database', async () => {
    const stored = (await readStream(system.nats, system.nats.stream)).map((m) => m.data).join('\n');
    const logs = system.logs();
    const db = await openDatabase({ driver: 'postgresql', dsn: TEST_DSN, schema: system.schema }, createLogger({ service: 't', level: 'silent' }));
    const rows = JSON.stringify(
      await Promise.all(['security_check', 'check_event', 'finding_exception'].map((t) => db.em().getConnection().execute(`select * from "${system.schema}"."${t}"`))),
    );
    await db.close();

    expect(keys.length).toBeGreaterThan(0);
    expect(rows).toContain('aws-access-token');
    for (const key of keys) {
      expect(stored).not.toContain(key);
      expect(logs).not.toContain(key);
      expect(rows).not.toContain(key);
    }
  });
});
