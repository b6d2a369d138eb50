import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { createPublisher, type Publisher } from '@secbot/service-kit';
import {
  aCheck,
  aFinding,
  anEventReceived,
  anOutputCompleted,
  aScanCompleted,
  captureLogs,
  eventually,
  fakeGitLabJobs,
  type FakeGitLabJobs,
  fixturePath,
  publishEvents,
  streamEnv,
  TEST_POSTGRES_DSN,
  testNats,
  type TestNats,
} from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchemas } from '../../services/results/src/adapters/postgres/database.ts';
import { startResults, type RunningResults } from '../../services/results/src/service.ts';
import { startIntake, type RunningService } from '../../services/intake/src/service.ts';

const DSN = TEST_POSTGRES_DSN;
const template = parse(readFileSync(new URL('../../deploy/gitlab/secbot-gate.gitlab-ci.yml', import.meta.url), 'utf8')) as Record<
  string,
  { script?: string[]; artifacts?: any; allow_failure?: unknown }
>;
const script = (template['.secbot-gate']?.script ?? []).join('\n');
const ajv = new Ajv({ strict: false });
addFormats.default(ajv);
const validReport = ajv.compile(JSON.parse(readFileSync(fixturePath('gitlab-security-report-schema/secret-detection-report-format.15.2.1.json'), 'utf8')) as object);

const schema = `t_gate_${randomBytes(4).toString('hex')}`;
let nats: TestNats;
let gitlab: FakeGitLabJobs;
let results: RunningResults;
let publisher: Publisher;
let intake: RunningService;

beforeAll(async () => {
  nats = await testNats('gate');
  gitlab = await fakeGitLabJobs();
  results = await startResults({ ...streamEnv(nats.stream), SECBOT_POSTGRES_DSN: DSN, SECBOT_DB_SCHEMA: schema, LOG_LEVEL: 'warn' }, { port: 0, logDestination: captureLogs() });
  publisher = createPublisher({ js: nats.js, stream: nats.stream });
  const dir = mkdtempSync(join(tmpdir(), 'secbot-gate-intake-'));
  writeFileSync(
    join(dir, 'config.yml'),
    'version: "1.0"\ncomponents:\n  gitleaks: { handler_name: gitleaks }\n  builtin: { handler_name: builtin }\njobs:\n  - { name: all, rules: { gitlab: { event_type: "push|tag_push|merge_request" } }, scans: [gitleaks], outputs: [builtin] }\n',
  );
  intake = await startIntake(
    {
      ...streamEnv(nats.stream),
      SECBOT_CONFIG: join(dir, 'config.yml'),
      GITLAB_CONFIGS: JSON.stringify([{ host: gitlab.url, webhook_secret_token: 'gate-hook-secret', auth_token: 'glpat-gate', prefix: 'GIT_LOCAL', insecure: true }]),
      LOG_LEVEL: 'warn',
    },
    { port: 0, logDestination: captureLogs() },
  );
});

afterAll(async () => {
  await intake?.close();
  await results?.close();
  await gitlab?.close();
  await dropSchemas(DSN, [schema]);
  await nats?.cleanup();
});

/** A check of project mike/diaspora on the fake GitLab, whose CI job token is valid while "running". */
function newCheck() {
  const c = aCheck({ host: '127.0.0.1', instanceUrl: gitlab.url });
  const token = `glcbt-${randomBytes(8).toString('hex')}`;
  gitlab.jobs.set(token, { id: Math.floor(Math.random() * 1e6), projectId: c.context.project.id, projectPath: c.context.project.pathWithNamespace, sha: c.sha, status: 'running' });
  return { c, token };
}

/** Runs the template's script as GitLab would: sh, in a fresh build directory, with the CI variables. */
function runGate(c: ReturnType<typeof aCheck>, token: string, extra: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'secbot-gate-'));
  return new Promise<{ code: number | null; out: string; dir: string }>((resolve) => {
    const p = spawn('sh', ['-c', script], {
      cwd: dir,
      env: {
        PATH: process.env['PATH'],
        CI_SERVER_HOST: '127.0.0.1',
        CI_PROJECT_PATH: c.context.project.pathWithNamespace,
        CI_COMMIT_SHA: c.sha,
        CI_JOB_TOKEN: token,
        SECBOT_URL: results.url,
        SECBOT_PREFIX: 'GIT_LOCAL',
        SECBOT_TIMEOUT_SECONDS: '20',
        SECBOT_REPORT_FILE: 'gl-secret-detection-report.json',
        ...extra,
      },
    });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (out += b.toString()));
    p.on('exit', (code) => resolve({ code, out, dir }));
  });
}

describe('deploy/gitlab/secbot-gate.gitlab-ci.yml', () => {
  it('declares the report GitLab shows in the merge request', () => {
    expect(template['secbot-gate']).toMatchObject({ extends: '.secbot-gate' });
    expect(template['.secbot-gate']?.artifacts).toMatchObject({ when: 'always', reports: { secret_detection: 'gl-secret-detection-report.json' } });
  });

  it('never lets the job fail without failing the pipeline', () => {
    // allow_failure (true, or exit_codes) would turn a blocked commit into a warning.
    for (const [name, job] of Object.entries(template)) expect(job?.allow_failure, name).toBeUndefined();
  });

  it('fails on a blocking finding, prints the summary and writes a valid report', async () => {
    const { c, token } = newCheck();
    const finding = aFinding({ file: 'config/deploy.yml', startLine: 12 });
    await publishEvents(publisher, [anEventReceived(c), aScanCompleted(c, { findings: [finding] }), anOutputCompleted(c, { blocking: [finding] })]);
    await results.caughtUp();

    const { code, out, dir } = await runGate(c, token);

    expect(code).toBe(1);
    expect(out).toContain('Status: fail');
    expect(out).toContain('Rotate it, then triage');
    expect(out).toMatch(/- aws-access-token {2}config\/deploy\.yml:12 {2}commit a{12}/);
    const report = JSON.parse(readFileSync(join(dir, 'gl-secret-detection-report.json'), 'utf8')) as { vulnerabilities: unknown[] };
    expect(validReport(report), JSON.stringify(validReport.errors)).toBe(true);
    expect(report.vulnerabilities).toHaveLength(1);
  });

  it('passes a clean check with exit 0', async () => {
    const { c, token } = newCheck();
    await publishEvents(publisher, [anEventReceived(c), aScanCompleted(c), anOutputCompleted(c)]);
    await results.caughtUp();

    const { code, out, dir } = await runGate(c, token);

    expect(code).toBe(0);
    expect(out).toContain('No blocking findings.');
    expect(existsSync(join(dir, 'gl-secret-detection-report.json'))).toBe(true);
  });

  it('waits while the check is in progress, then passes', async () => {
    const { c, token } = newCheck();
    await publishEvents(publisher, [anEventReceived(c), aScanCompleted(c)]);
    setTimeout(() => void publishEvents(publisher, [anOutputCompleted(c)]), 2500);

    const { code, out } = await runGate(c, token);

    expect(out).toContain('status: in_progress; checking again');
    expect(code).toBe(0);
  });

  it('exits 2 on error, with the reason', async () => {
    const { c, token } = newCheck();
    await publishEvents(publisher, [anEventReceived(c), aScanCompleted(c, { status: 'error', reason: 'GitLab refused the token (401): check auth_token' })]);
    await results.caughtUp();

    const { code, out } = await runGate(c, token);

    expect(code).toBe(2);
    expect(out).toContain('reason: scan gitleaks: GitLab refused the token (401): check auth_token');
    expect(out).toContain('Blocked: SecBot could not decide');
  });

  it('blocks (exit 3) when the check is still in progress at the timeout', async () => {
    const { c, token } = newCheck();
    await publishEvents(publisher, [anEventReceived(c), aScanCompleted(c)]);
    await results.caughtUp();

    const { code, out } = await runGate(c, token, { SECBOT_TIMEOUT_SECONDS: '3' });

    expect(code).toBe(3);
    expect(out).toContain('No verdict from SecBot');
  });

  it('blocks (exit 3) when SecBot does not answer', async () => {
    const { c, token } = newCheck();

    const { code, out } = await runGate(c, token, { SECBOT_URL: 'http://127.0.0.1:9', SECBOT_TIMEOUT_SECONDS: '3' });

    expect(code).toBe(3);
    expect(out).toContain('unreachable');
  });

  it('blocks (exit 2) when SECBOT_URL is not set', async () => {
    const { c, token } = newCheck();

    const { code, out } = await runGate(c, token, { SECBOT_URL: '' });

    expect(code).toBe(2);
    expect(out).toContain('Set SECBOT_URL');
  });

  it('announces a commit no hook named with its job token, then blocks on the verdict', async () => {
    const { c, token } = newCheck();
    const gate = runGate(c, token, { SECBOT_INTAKE_URL: intake.url, CI_MERGE_REQUEST_IID: '12', CI_MERGE_REQUEST_SOURCE_BRANCH_NAME: 'fork/topic', CI_MERGE_REQUEST_TARGET_BRANCH_NAME: 'main' });
    // What the scanner and the output would publish once intake started the check.
    const started = await eventually(async () => ((await fetch(`${results.url}/v1/security/gitlab/check/${c.securityCheckId}`).then((r) => r.json())) as { status: string }).status === 'in_progress' ? true : undefined, 15_000, 'the announced check');
    const finding = aFinding({ file: 'fork.env' });
    await publishEvents(publisher, [aScanCompleted(c, { findings: [finding] }), anOutputCompleted(c, { blocking: [finding] })]);

    const { code, out } = await gate;

    expect(started).toBe(true);
    expect(out).toContain('announced to SecBot (job token verified by GitLab)');
    expect(code).toBe(1);
  });

  it('still blocks when the announcement is refused (a token of another job)', async () => {
    const { c } = newCheck();

    const { code, out } = await runGate(c, 'glcbt-not-a-running-job', { SECBOT_INTAKE_URL: intake.url, SECBOT_TIMEOUT_SECONDS: '3' });

    expect(out).toContain('could not announce the commit to SecBot (HTTP 401)');
    expect(code).toBe(3);
  });

  it('gives up on not_started after the timeout, telling the user what to check', async () => {
    const { c, token } = newCheck();

    const { code, out } = await runGate(c, token, { SECBOT_TIMEOUT_SECONDS: '3' });

    expect(code).toBe(3);
    expect(out).toContain('SecBot never heard of this commit');
    expect(out).toContain('system hook');
    expect(out).toContain('config.yml covers mike/diaspora');
  });
});
