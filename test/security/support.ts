import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventReceivedV1 } from '@secbot/contracts';
import { startIntake, type RunningIntake } from '@secbot/intake';
import { startResults, dropSchemas, type RunningResults } from '@secbot/results';
import { captureLogs, fakeGitLab, readStream, streamEnv, TEST_POSTGRES_DSN, testNats, type FakeGitLab, type FakeGitLabJobs, type TestNats } from '@secbot/testing';

/** The policy of the security tests: one job for every push, tag push and merge request. */
export const POLICY = `
version: "1.0"
components:
  gitleaks: { handler_name: gitleaks }
  builtin: { handler_name: builtin }
  gitlab: { handler_name: gitlab }
jobs:
  - name: everything
    rules: { gitlab: { event_type: "push|tag_push|merge_request" } }
    scans: [gitleaks]
    outputs: [builtin]
    notifications: [gitlab]
`;

/** Secrets of the test instances (GITLAB_CONFIGS): example.com (the fixtures' host), another, the fake GitLab's. */
export const SECRETS = {
  example: 'security-example-webhook-secret',
  other: 'security-other-webhook-secret',
  jobs: 'security-jobs-webhook-secret',
  /** What the example instance's secret was before it was rotated. */
  rotated: 'security-example-webhook-secret-before-rotation',
  /** The project webhook secrets of example.com's mike/diaspora (the fixtures' project) and of another project. */
  diaspora: 'security-project-webhook-secret-of-mike-diaspora',
  anotherProject: 'security-project-webhook-secret-of-group-app',
};

export interface SecbotUnderTest {
  nats: TestNats;
  /** The fake GitLab (REST API, job tokens, git) of the instance with prefix JOBS. */
  gitlab: FakeGitLab;
  jobs: FakeGitLabJobs;
  intake: RunningIntake;
  /** Every event.received on the test's stream. */
  received(): Promise<EventReceivedV1[]>;
  close(): Promise<void>;
}

/**
 * Intake in process (its Fastify app reachable for `inject`) on a stream of its own, with three instances:
 * example.com (http, insecure), gitlab.other.test (https) and a fake GitLab (prefix JOBS, insecure), plus
 * `instances` (GITLAB_CONFIGS entries).
 */
export async function startSecbotIntake(label: string, opts: { env?: Record<string, string>; instances?: object[] } = {}): Promise<SecbotUnderTest> {
  const nats = await testNats(label);
  // mike/diaspora is project 15 and mike/other 16 on the fake; any other numeric id is group/project-<id>.
  const gitlab = await fakeGitLab({ token: 'glpat-jobs', api: { user: { id: 42, username: 'secbot' } } });
  gitlab.api.addProject(15, 'mike/diaspora');
  gitlab.api.addProject(16, 'mike/other');
  const jobs = gitlab.jobs;
  const dir = mkdtempSync(join(tmpdir(), `secbot-${label}-`));
  writeFileSync(join(dir, 'config.yml'), POLICY);
  const intake = await startIntake(
    {
      ...streamEnv(nats.stream),
      SECBOT_CONFIG: join(dir, 'config.yml'),
      LOG_LEVEL: 'warn',
      GITLAB_CONFIGS: JSON.stringify([
        {
          host: 'http://example.com/',
          webhook_secret_token: SECRETS.example,
          auth_token: 'glpat-example',
          prefix: 'GIT_LOCAL',
          insecure: true,
          project_webhook_secrets: { 'mike/diaspora': SECRETS.diaspora, 'group/app': SECRETS.anotherProject },
        },
        { host: 'https://gitlab.other.test/', webhook_secret_token: SECRETS.other, auth_token: 'glpat-other', prefix: 'OTHER' },
        { host: gitlab.url, webhook_secret_token: SECRETS.jobs, auth_token: gitlab.token, prefix: 'JOBS', insecure: true },
        ...(opts.instances ?? []),
      ]),
      ...opts.env,
    },
    { port: 0, logDestination: captureLogs() },
  );
  return {
    nats,
    gitlab,
    jobs,
    intake,
    async received() {
      return (await readStream(nats, nats.stream)).filter((m) => m.subject === EventReceivedV1.subject(nats.stream.prefix)).map((m) => EventReceivedV1.schema.parse(m.json));
    },
    async close() {
      await intake.close();
      await gitlab.close();
      await nats.cleanup();
    },
  };
}

export const API_TOKEN = `security-api-token-${randomBytes(6).toString('hex')}`;
export const REVOKED_API_TOKEN = `security-revoked-token-${randomBytes(6).toString('hex')}`;
export const READ_TOKEN = `security-read-token-${randomBytes(6).toString('hex')}`;
export const LINK_KEY = `security-link-signing-key-${randomBytes(8).toString('hex')}`;

/** Results in process on the same stream, with its own PostgreSQL schema. */
export async function startSecbotResults(nats: TestNats, env: Record<string, string> = {}): Promise<{ results: RunningResults; close(): Promise<void> }> {
  const schema = `t_sec_${randomBytes(4).toString('hex')}`;
  const results = await startResults(
    {
      ...streamEnv(nats.stream),
      SECBOT_POSTGRES_DSN: TEST_POSTGRES_DSN,
      SECBOT_DB_SCHEMA: schema,
      SECBOT_API_TOKENS: JSON.stringify({ security: createHash('sha256').update(API_TOKEN).digest('hex') }),
      SECBOT_READ_TOKEN: READ_TOKEN,
      SECBOT_LINK_SIGNING_KEY: LINK_KEY,
      LOG_LEVEL: 'warn',
      ...env,
    },
    { port: 0, logDestination: captureLogs() },
  );
  return {
    results,
    async close() {
      await results.close();
      await dropSchemas(TEST_POSTGRES_DSN, [schema]);
    },
  };
}

let addresses = 0;
/** A client address of its own (10.x.y.z), so one request's failed authentication does not block the next. */
export const freshAddress = (): string => {
  addresses++;
  return `10.${(addresses >> 16) & 255}.${(addresses >> 8) & 255}.${addresses & 255}`;
};
