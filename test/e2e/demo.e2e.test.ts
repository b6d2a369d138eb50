import { spawn } from 'node:child_process';
import { freePort } from '@secbot/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSystem, type System } from './support/system.ts';

const demo = new URL('../../services/scanner-gitleaks/src/demo.ts', import.meta.url).pathname;
let system: System;
let gitUrl: string;

beforeAll(async () => {
  gitUrl = `http://127.0.0.1:${await freePort()}/`;
  system = await startSystem({
    label: 'demo',
    policy: `
version: "1.0"
components:
  gitleaks: { handler_name: gitleaks }
  builtin: { handler_name: builtin }
jobs:
  - { name: Secrets in every change, rules: { gitlab: { event_type: "push|tag_push|merge_request" } }, scans: [gitleaks], outputs: [builtin] }
`,
    gitlabUrl: gitUrl,
    gitlabToken: 'demo-e2e-git-token',
    services: ['intake', 'results', 'scanner-gitleaks', 'output-builtin'],
  });
}, 120_000);

afterAll(async () => {
  await system?.stop();
});

it('make demo: a planted fake key in a local repository, served over smart HTTP and pushed, ends in fail', async () => {
  const gitlabConfigs = JSON.stringify([{ host: gitUrl, webhook_secret_token: system.webhookSecret, auth_token: 'demo-e2e-git-token', prefix: 'GIT_LOCAL', insecure: true }]);
  const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const p = spawn(process.execPath, [demo], {
      env: { PATH: process.env['PATH'], GITLAB_CONFIGS: gitlabConfigs, SECBOT_DEMO_GIT_URL: gitUrl, SECBOT_DEMO_INTAKE_URL: system.intakeUrl, SECBOT_DEMO_RESULTS_URL: system.resultsUrl },
    });
    let text = '';
    p.stdout.on('data', (b: Buffer) => (text += b.toString()));
    p.stderr.on('data', (b: Buffer) => (text += b.toString()));
    p.on('exit', (c) => resolve({ code: c, out: text }));
  });

  expect(code, out).toBe(0);
  expect(out).toMatch(/\[demo\] serving http:\/\/127\.0\.0\.1:\d+\/demo\/leaky-app-\w+\.git with a fake AWS key planted/);
  expect(out).toMatch(/\[demo\] intake accepted the push hook: security_check_id GIT_LOCAL_[0-9a-f]{64}/);
  expect(out).toContain('[demo] status: fail');
}, 180_000);
