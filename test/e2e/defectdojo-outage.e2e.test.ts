import { randomBytes } from 'node:crypto';
import { fakeDefectDojo, fakeGitLabGit, type FakeDefectDojo, type FakeGitLabGit } from '@secbot/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { detailsOf, pushHook, sendHook, startSystem, statusOf, type System } from './support/system.ts';

const OUTAGE_MS = Number(process.env['SECBOT_E2E_OUTAGE_MS'] ?? 120_000);
const HOOKS = 50;
const fakeKey = () => 'AKIA' + [...randomBytes(16)].map((b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b % 32]).join('');

let gitlab: FakeGitLabGit;
let dojo: FakeDefectDojo;
let system: System;

beforeAll(async () => {
  gitlab = await fakeGitLabGit();
  dojo = await fakeDefectDojo({ token: 'outage-dojo-token' });
  system = await startSystem({
    label: 'outage',
    policy: `
version: "1.0"
components:
  gitleaks: { handler_name: gitleaks }
  defectdojo: { handler_name: defectdojo, env: { url: DEFECTDOJO__URL, secret_key: DEFECTDOJO__TOKEN } }
jobs:
  - { name: dojo, rules: { gitlab: { event_type: push } }, scans: [gitleaks], outputs: [defectdojo] }
`,
    gitlabUrl: gitlab.url,
    gitlabToken: gitlab.token,
    services: ['intake', 'results', 'scanner-gitleaks', 'output-defectdojo'],
    env: { DEFECTDOJO__URL: dojo.url, DEFECTDOJO__TOKEN: dojo.token },
  });
}, 120_000);

afterAll(async () => {
  await system?.stop();
  await dojo?.close();
  await gitlab?.close();
});

it(`ends every check of a burst of ${HOOKS} webhooks in a final state when DefectDojo is down for ${OUTAGE_MS / 1000} s, with no duplicate test`, async () => {
  const path = `team/burst-${randomBytes(3).toString('hex')}`;
  const repo = await gitlab.createProject(path);
  const shas = [await repo.commit('init', { 'README.md': '# burst\n' })];
  await repo.push('main');
  // Each change on a branch of its own from `init`, so a key blocks only the commits that carry it.
  for (let i = 1; i <= HOOKS; i++) {
    await repo.git('checkout', '-q', '-b', `b${i}`, shas[0]!);
    const files = i % 2 ? { [`conf/${i}.env`]: `AWS_ACCESS_KEY_ID=${fakeKey()}\n` } : { [`notes/${i}.md`]: `note ${i}\n` };
    shas.push(await repo.commit(`change ${i}`, files));
  }
  await repo.push(...Array.from({ length: HOOKS }, (_, i) => `b${i + 1}`));

  dojo.down();
  const outageEnds = Date.now() + OUTAGE_MS;
  const ids: string[] = [];
  for (let i = 1; i <= HOOKS; i++) ids.push(await sendHook(system, pushHook(gitlab.url, path, shas[0]!, shas[i]!, `b${i}`)));
  await new Promise((r) => setTimeout(r, Math.max(0, outageEnds - Date.now())));
  expect((await Promise.all(ids.map((id) => statusOf(system, id)))).filter((s) => s === 'in_progress').length, 'checks waiting during the outage').toBeGreaterThan(0);
  dojo.up();

  const deadline = Date.now() + 240_000;
  let statuses: string[] = [];
  while (Date.now() < deadline) {
    statuses = await Promise.all(ids.map((id) => statusOf(system, id)));
    if (statuses.every((s) => ['success', 'fail', 'error'].includes(s))) break;
    await new Promise((r) => setTimeout(r, 1000));
  }

  expect(statuses.filter((s) => s === 'in_progress' || s === 'not_started')).toEqual([]);
  for (const [i, id] of ids.entries()) {
    const status = statuses[i];
    if (status === 'error') expect((await detailsOf(system, id)).reasons.join(' ')).toMatch(/DefectDojo|attempts/);
    else expect(status).toBe((i + 1) % 2 ? 'fail' : 'success');
  }
  const runTags = dojo.tests.flatMap((t) => t.tags.filter((tag) => tag.startsWith('secbot-run:')));
  expect(new Set(runTags).size).toBe(runTags.length);
  expect(dojo.tests.length).toBeLessThanOrEqual(HOOKS);
}, 600_000);
