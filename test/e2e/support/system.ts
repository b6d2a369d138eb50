import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  type ServiceProcess,
  spawnService,
  streamEnv,
  TEST_POSTGRES_DSN,
  testNats,
  type TestNats,
  waitForReady,
} from '@secbot/testing';
import { dropSchemas } from '../../../services/results/src/adapters/postgres/database.ts';

export const TEST_DSN = TEST_POSTGRES_DSN;

export interface System {
  nats: TestNats;
  intakeUrl: string;
  resultsUrl: string;
  schema: string;
  webhookSecret: string;
  /** The exception API token named `e2e` in SECBOT_API_TOKENS. */
  apiToken: string;
  /** SECBOT_READ_TOKEN: reads details and reports. */
  readToken: string;
  /** SECBOT_LINK_SIGNING_KEY of results and the notifiers. */
  linkSigningKey: string;
  processes: ServiceProcess[];
  /** Everything every service logged so far. */
  logs(): string;
  stop(): Promise<void>;
}

/**
 * The whole of SecBot as separate processes, as `make up` runs it, on its own stream, schema and ports,
 * with the given policy and GitLab instance (a fake), plus whatever extra environment the test needs.
 */
export async function startSystem(opts: {
  label: string;
  policy: string;
  gitlabUrl: string;
  gitlabToken: string;
  services: string[];
  env?: Record<string, string>;
}): Promise<System> {
  const nats = await testNats(opts.label);
  const schema = `t_${opts.label}_${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `secbot-${opts.label}-`));
  writeFileSync(join(dir, 'config.yml'), opts.policy);
  const webhookSecret = `e2e-webhook-${randomBytes(8).toString('hex')}`;
  const apiToken = `e2e-api-token-${randomBytes(8).toString('hex')}`;
  const readToken = `e2e-read-token-${randomBytes(8).toString('hex')}`;
  const linkSigningKey = `e2e-link-signing-key-${randomBytes(16).toString('hex')}`;
  const ports: Record<string, number> = {};
  for (const s of ['intake', 'results', 'scanner-gitleaks', 'output-builtin', 'output-defectdojo', 'notifier-slack', 'notifier-gitlab']) ports[s] = await freePort();
  const env: Record<string, string> = {
    ...streamEnv(nats.stream),
    // An empty folder: the services see this environment only, not the repository's .env files.
    SECBOT_ENV_DIR: dir,
    SECBOT_CONFIG: join(dir, 'config.yml'),
    SECBOT_POSTGRES_DSN: TEST_DSN,
    SECBOT_DB_SCHEMA: schema,
    SECBOT_API_TOKENS: JSON.stringify({ e2e: createHash('sha256').update(apiToken).digest('hex') }),
    SECBOT_READ_TOKEN: readToken,
    SECBOT_LINK_SIGNING_KEY: linkSigningKey,
    RESULTS_PUBLIC_URL: `http://127.0.0.1:${ports['results']}`,
    GITLAB_CONFIGS: JSON.stringify([{ host: opts.gitlabUrl, webhook_secret_token: webhookSecret, auth_token: opts.gitlabToken, prefix: 'GIT_LOCAL', insecure: true }]),
    SCANNER_FINGERPRINT_KEY: `e2e-fingerprint-key-${randomBytes(8).toString('hex')}`,
    SCANNER_DATA_DIR: join(dir, 'scanner'),
    SCANNER_REPORT_BUCKET: `${nats.stream.name}_reports`,
    LOG_LEVEL: 'info',
    INTAKE_PORT: String(ports['intake']),
    RESULTS_PORT: String(ports['results']),
    SCANNER_PORT: String(ports['scanner-gitleaks']),
    OUTPUT_BUILTIN_PORT: String(ports['output-builtin']),
    OUTPUT_DEFECTDOJO_PORT: String(ports['output-defectdojo']),
    NOTIFIER_SLACK_PORT: String(ports['notifier-slack']),
    NOTIFIER_GITLAB_PORT: String(ports['notifier-gitlab']),
    ...opts.env,
  };
  const processes = opts.services.map((s) => spawnService(s, env));
  const system: System = {
    nats,
    intakeUrl: `http://127.0.0.1:${ports['intake']}`,
    resultsUrl: `http://127.0.0.1:${ports['results']}`,
    schema,
    webhookSecret,
    apiToken,
    readToken,
    linkSigningKey,
    processes,
    logs: () => processes.map((p) => p.output()).join('\n'),
    async stop() {
      await Promise.all(processes.map((p) => p.stop()));
      await dropSchemas(TEST_DSN, [schema]);
      for (const s of await nats.jsm.streams.names().next()) if (s.includes(nats.stream.name)) await nats.jsm.streams.delete(s).catch(() => undefined);
      await nats.cleanup();
    },
  };
  try {
    await Promise.all(opts.services.map((s, i) => waitForReady(`http://127.0.0.1:${ports[s]}/readyz`, processes[i]!, 60_000)));
  } catch (err) {
    await system.stop();
    throw err;
  }
  return system;
}

/** A GitLab push hook body for a push of `before..after` to `branch` of a project on `gitlabUrl`. */
export function pushHook(gitlabUrl: string, path: string, before: string, after: string, branch = 'main') {
  const web = `${gitlabUrl}${path}`;
  return {
    object_kind: 'push',
    event_name: 'push',
    before,
    after,
    ref: `refs/heads/${branch}`,
    checkout_sha: after,
    user_id: 7,
    user_name: 'Dev Eloper',
    user_username: 'developer',
    project_id: 42,
    project: { id: 42, name: path.split('/').at(-1), web_url: web, git_http_url: `${web}.git`, path_with_namespace: path, default_branch: 'main' },
    commits: [{ id: after, title: 'change', url: `${web}/-/commit/${after}` }],
    total_commits_count: 1,
  };
}

export async function sendHook(system: System, body: unknown, event = 'Push Hook'): Promise<string> {
  const res = await fetch(`${system.intakeUrl}/v1/gitlab/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-gitlab-token': system.webhookSecret, 'x-gitlab-event': event, 'idempotency-key': randomUUID() },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { security_check_id?: string };
  if (res.status !== 202 || !json.security_check_id) throw new Error(`intake answered ${res.status}: ${JSON.stringify(json)}`);
  return json.security_check_id;
}

export async function statusOf(system: System, id: string): Promise<string> {
  const res = await fetch(`${system.resultsUrl}/v1/security/gitlab/check/${id}`);
  return ((await res.json()) as { status: string }).status;
}

/** The check's details, read with the system's read token (details need a credential). */
export async function detailsOf(system: System, id: string): Promise<any> {
  return (await fetch(`${system.resultsUrl}/v1/security/gitlab/check/${id}/details`, { headers: { authorization: `Bearer ${system.readToken}` } })).json();
}

/** Polls until the status is one of `wanted`, failing after `timeoutMs` with the last status and details. */
export async function waitForStatus(system: System, id: string, wanted: string[], timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = await statusOf(system, id);
    if (wanted.includes(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`status of ${id} stayed ${last}, not ${wanted.join('|')}: ${JSON.stringify(await detailsOf(system, id)).slice(0, 3000)}`);
}
