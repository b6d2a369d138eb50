// NATS with authentication, as docker compose and the Helm chart run it: a nats-server of this test's own
// started with the authorization block scripts/nats-auth-config.ts writes (one user per service, passwords
// from the server's environment). Every service runs as its own process under its own user, with only its own
// secrets, through a whole check; then each user tries what it must not do.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExceptionCreatedV1, ScanCompletedV1 } from '@secbot/contracts';
import {
  fakeDefectDojo,
  fakeGitLab,
  fakeSlack,
  freePort,
  spawnService,
  startPrivateNatsServer,
  TEST_POSTGRES_DSN,
  waitForReady,
  type FakeDefectDojo,
  type FakeGitLab,
  type FakeSlack,
  type ServiceProcess,
} from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeNats, connectNats, createLogger, type Nats } from '../../packages/service-kit/src/index.ts';
import { NATS_USERS, natsAuthorizationConfig, natsPasswordVariable, type NatsLayout, type NatsUser } from '../../packages/service-kit/src/nats-auth.ts';
import { dropSchemas } from '../../services/results/src/adapters/postgres/database.ts';

const id = randomBytes(4).toString('hex');
const layout: NatsLayout = { stream: `NATSAUTH_${id.toUpperCase()}`, prefix: `natsauth-${id}`, projectsBucket: `NATSAUTH_${id}_projects`, reportBucket: `NATSAUTH_${id}_reports` };
const passwords = Object.fromEntries(NATS_USERS.map((u) => [u, `p${randomBytes(20).toString('hex')}`])) as Record<NatsUser, string>;
const services = ['results', 'intake', 'scanner-gitleaks', 'output-builtin', 'output-defectdojo', 'notifier-slack', 'notifier-gitlab'] as const;
const portEnv: Record<(typeof services)[number], string> = {
  intake: 'INTAKE_PORT',
  results: 'RESULTS_PORT',
  'scanner-gitleaks': 'SCANNER_PORT',
  'output-builtin': 'OUTPUT_BUILTIN_PORT',
  'output-defectdojo': 'OUTPUT_DEFECTDOJO_PORT',
  'notifier-slack': 'NOTIFIER_SLACK_PORT',
  'notifier-gitlab': 'NOTIFIER_GITLAB_PORT',
};
const fakeKey = () => 'AKIA' + [...randomBytes(16)].map((b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b % 32]).join('');
const silent = createLogger({ service: 'test', level: 'silent' });

let server: Awaited<ReturnType<typeof startPrivateNatsServer>>;
let gitlab: FakeGitLab;
let slack: FakeSlack;
let dojo: FakeDefectDojo;
const procs: Partial<Record<(typeof services)[number], ServiceProcess>> = {};
const urls: Partial<Record<(typeof services)[number], string>> = {};
const schema = `t_natsauth_${id}`;
const webhookSecret = `webhook-${randomBytes(8).toString('hex')}`;
const apiToken = `api-token-${randomBytes(8).toString('hex')}`;
const connections: Nats[] = [];
let opsEnv: Record<string, string> = {};

/** A connection as one of SecBot's users (the services' own code: SECBOT_NATS_USER/PASSWORD, inbox prefix). */
async function as(user: NatsUser): Promise<Nats> {
  const nats = await connectNats(server.url, `test-${user}`, silent, { user, pass: passwords[user] });
  connections.push(nats);
  return nats;
}

/** The permission errors NATS reported to a connection (the server refuses, the connection stays up). */
function violations(nc: Nats['nc']): string[] {
  const seen: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') seen.push((s as { error?: Error }).error?.message ?? JSON.stringify(s));
  })();
  return seen;
}

/** Every subject stored in the event stream, read as ops (which may read it). */
async function storedSubjects(): Promise<string[]> {
  const ops = await as('ops');
  const info = await ops.jsm.streams.info(layout.stream);
  if (info.state.messages === 0) return [];
  const consumer = await ops.js.consumers.get(layout.stream, { filter_subjects: `${layout.prefix}.>` });
  const subjects: string[] = [];
  for await (const m of await consumer.fetch({ max_messages: 10_000, expires: 2000 })) {
    subjects.push(m.subject);
    if (m.info.pending === 0) break;
  }
  return subjects;
}

beforeAll(async () => {
  server = await startPrivateNatsServer({
    config: natsAuthorizationConfig(layout),
    env: Object.fromEntries(NATS_USERS.map((u) => [natsPasswordVariable(u), passwords[u]])),
  });
  gitlab = await fakeGitLab();
  slack = await fakeSlack({ channels: [{ id: 'C0SEC', name: 'sec', member: true }] });
  dojo = await fakeDefectDojo({ token: `dojo-${randomBytes(6).toString('hex')}` });
  const dir = mkdtempSync(join(tmpdir(), 'secbot-natsauth-'));
  mkdirSync(join(dir, 'scanner'));
  writeFileSync(
    join(dir, 'config.yml'),
    `version: "1.0"
components:
  gitleaks: { handler_name: gitleaks }
  builtin: { handler_name: builtin }
  defectdojo: { handler_name: defectdojo, env: { url: DEFECTDOJO__URL, secret_key: DEFECTDOJO__TOKEN } }
  slack: { handler_name: slack, config: { channels: [sec], api_url: "${slack.apiUrl}" }, env: { token: SLACK_TOKEN } }
  gitlab: { handler_name: gitlab }
jobs:
  - name: every push
    rules: { gitlab: { event_type: push } }
    scans: [gitleaks]
    outputs: [builtin, defectdojo]
    notifications: [slack, gitlab]
`,
  );
  opsEnv = {
    SECBOT_ENV_DIR: dir,
    SECBOT_NATS_URL: server.url,
    SECBOT_NATS_USER: 'ops',
    SECBOT_NATS_PASSWORD: passwords.ops,
    SECBOT_STREAM: layout.stream,
    SECBOT_SUBJECT_PREFIX: layout.prefix,
    SECBOT_STREAM_RETENTION_DAYS: '1',
    SECBOT_STREAM_DUPLICATE_WINDOW_SECONDS: '120',
    SCANNER_PROJECTS_BUCKET: layout.projectsBucket,
  };
  const gitlabConfigs = JSON.stringify([{ host: gitlab.url, webhook_secret_token: webhookSecret, auth_token: gitlab.token, prefix: 'GIT_LOCAL', insecure: true }]);
  // Each service gets only its own secrets, as the Helm chart's Secret per service gives them.
  const secrets: Record<(typeof services)[number], Record<string, string>> = {
    intake: { GITLAB_CONFIGS: gitlabConfigs },
    results: { SECBOT_API_TOKEN: apiToken, SECBOT_POSTGRES_DSN: TEST_POSTGRES_DSN },
    'scanner-gitleaks': { GITLAB_CONFIGS: gitlabConfigs, SCANNER_FINGERPRINT_KEY: `fingerprint-${randomBytes(12).toString('hex')}` },
    'output-builtin': {},
    'output-defectdojo': { DEFECTDOJO__TOKEN: dojo.token },
    'notifier-slack': { SLACK_TOKEN: slack.token },
    'notifier-gitlab': { GITLAB_CONFIGS: gitlabConfigs },
  };
  // results first: it creates the stream (the others may not; started together, they wait for it).
  for (const s of services) {
    if (s === 'intake') await waitForReady(`${urls.results}/readyz`, procs.results!, 60_000);
    const port = await freePort();
    urls[s] = `http://127.0.0.1:${port}`;
    procs[s] = spawnService(s, {
      SECBOT_ENV: 'production',
      SECBOT_ENV_DIR: dir, // no .env files there
      SECBOT_NATS_URL: server.url,
      SECBOT_NATS_USER: s,
      SECBOT_NATS_PASSWORD: passwords[s],
      SECBOT_STREAM: layout.stream,
      SECBOT_SUBJECT_PREFIX: layout.prefix,
      SECBOT_STREAM_RETENTION_DAYS: '1',
      SECBOT_STREAM_DUPLICATE_WINDOW_SECONDS: '120',
      SECBOT_CONFIG: join(dir, 'config.yml'),
      LOG_LEVEL: 'warn',
      SECBOT_DB_SCHEMA: schema,
      SCANNER_DATA_DIR: join(dir, 'scanner'),
      SCANNER_PROJECTS_BUCKET: layout.projectsBucket,
      SCANNER_REPORT_BUCKET: layout.reportBucket,
      // Every report through the object store, so that output-defectdojo reads the scanner's bucket.
      SCANNER_INLINE_REPORT_MAX_BYTES: '0',
      DEFECTDOJO__URL: dojo.url,
      DEFECTDOJO__USER: 'secbot',
      DEFECTDOJO__USER_ID: '1',
      OUTPUT_DEFECTDOJO_REEVALUATE_SECONDS: '2',
      [portEnv[s]]: String(port),
      ...secrets[s],
    });
  }
  await Promise.all(services.map((s) => waitForReady(`${urls[s]}/readyz`, procs[s]!, 60_000)));
}, 180_000);

afterAll(async () => {
  await Promise.all(Object.values(procs).map((p) => p?.stop()));
  for (const c of connections) await closeNats(c).catch(() => undefined);
  await Promise.all([gitlab?.close(), slack?.close(), dojo?.close()]);
  await server?.stop();
  await dropSchemas(TEST_POSTGRES_DSN, [schema]).catch(() => undefined);
});

describe('every service under its own NATS user', () => {
  it('runs a whole check: a pushed key fails it (scanner, both outputs, both notifiers), an exception from results clears it; no permission is missing', async () => {
    const path = `group/natsauth-${id}`;
    const repo = await gitlab.createProject(path, { id: 77 });
    await repo.commit('init', { 'README.md': '# app\n' });
    const leak = await repo.commit('add deploy config', { 'config/deploy.env': `AWS_ACCESS_KEY_ID=${fakeKey()}\n` });
    await repo.push('main');
    const web = `${gitlab.url}${path}`;
    const hook = {
      object_kind: 'push',
      event_name: 'push',
      before: '0000000000000000000000000000000000000000',
      after: leak,
      ref: 'refs/heads/main',
      checkout_sha: leak,
      user_id: 7,
      user_name: 'Dev Eloper',
      user_username: 'developer',
      project_id: 77,
      project: { id: 77, name: 'app', web_url: web, git_http_url: `${web}.git`, path_with_namespace: path, default_branch: 'main' },
      commits: [{ id: leak, title: 'add deploy config', url: `${web}/-/commit/${leak}` }],
      total_commits_count: 1,
    };
    const res = await fetch(`${urls.intake}/v1/gitlab/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-gitlab-token': webhookSecret, 'x-gitlab-event': 'Push Hook' },
      body: JSON.stringify(hook),
    });
    expect(res.status, await res.clone().text()).toBe(202);
    const checkId = ((await res.json()) as { security_check_id: string }).security_check_id;

    const status = async () => ((await (await fetch(`${urls.results}/v1/security/gitlab/check/${checkId}`)).json()) as { status: string }).status;
    const until = async (what: string, ok: () => Promise<boolean> | boolean, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!(await ok())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${server.log().slice(-3000)}\n${Object.values(procs).map((p) => p?.output().slice(-1500)).join('\n')}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    await until('the check to fail', async () => (await status()) === 'fail', 90_000);
    await until('a Slack message', () => slack.messages.length > 0);
    await until('a failed commit status', () => gitlab.api.statusOf(leak)?.status === 'failed');
    await until('the finding in DefectDojo', () => dojo.findings.length > 0);

    // The fingerprint, from the stream as ops reads it; then results publishes exception.created.
    const ops = await as('ops');
    const consumer = await ops.js.consumers.get(layout.stream, { filter_subjects: ScanCompletedV1.subject(layout.prefix) });
    const scan = ScanCompletedV1.schema.parse((await consumer.next({ expires: 5000 }))!.json());
    const fingerprint = scan.data.findings[0]?.fingerprint ?? '';
    expect(scan.data.report?.storage).toBe('object-store');
    expect(fingerprint).not.toBe('');
    const created = await fetch(`${urls.results}/v1/security/exceptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiToken}` },
      body: JSON.stringify({
        fingerprint,
        scope: 'project',
        instance_host: new URL(gitlab.url).hostname,
        project_path: path,
        reason: 'test key, rotated',
        expires_at: new Date(Date.now() + 7 * 86_400_000).toISOString(),
      }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    // The builtin output's finding is now excepted; DefectDojo's is triaged there.
    dojo.triage(dojo.findings[0]!.id, { false_p: true });
    await until('the check to pass', async () => (await status()) === 'success', 60_000);

    // The secbot CLI as ops: the check's timeline from the stream, and an enrollment the scanner records.
    const cli = (...args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const proc = spawn(process.execPath, ['packages/cli/src/main.ts', ...args], {
          cwd: new URL('../../', import.meta.url).pathname,
          env: { ...process.env, ...opsEnv },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
        proc.stderr.on('data', (b: Buffer) => (out += b.toString()));
        proc.once('exit', (code) => resolve({ code, out }));
      });
    const replay = await cli('replay', '--check', checkId);
    expect(replay.code, replay.out).toBe(0);
    expect(replay.out).toContain('exception');
    const clean = await gitlab.createProject(`group/enrolled-${id}`);
    await clean.commit('init', { 'README.md': '# clean\n' });
    await clean.push('main');
    const enroll = await cli('enroll', '--host', new URL(gitlab.url).hostname, '--project', `group/enrolled-${id}`, '--accept-history', '--actor', 'test', '--timeout', '60');
    expect(enroll.code, enroll.out).toBe(0);

    expect(server.log().match(/.*Violation.*/g) ?? [], 'permission violations in the NATS server log').toEqual([]);
  }, 240_000);
});

describe('what a NATS user may not do', () => {
  const forged = (type: string) => JSON.stringify({ id: randomBytes(8).toString('hex'), type, version: 1, forged: true });

  it('refuses a connection without a user, or with a wrong password', async () => {
    await expect(connectNats(server.url, 'anonymous', silent)).rejects.toThrow(/Authorization/i);
    await expect(connectNats(server.url, 'wrong-password', silent, { user: 'intake', pass: 'pwrong-password-0123456789' })).rejects.toThrow(/Authorization/i);
  });

  it('intake publishes event.received, but publishing exception.created or output.completed is refused and lands nowhere', async () => {
    const intake = await as('intake');
    const errors = violations(intake.nc);
    const before = await storedSubjects();

    // Its own subject: stored.
    const ack = await intake.js.publish(`${layout.prefix}.event.received.v1`, forged('event.received'));
    expect(ack.stream).toBe(layout.stream);

    // Another service's: a core publish is refused by the server (a permissions violation) ...
    intake.nc.publish(ExceptionCreatedV1.subject(layout.prefix), forged('exception.created'));
    intake.nc.publish(`${layout.prefix}.output.completed.v1`, forged('output.completed'));
    await intake.nc.flush();
    // ... and a JetStream publish (which waits for the stream's ack) fails instead of being stored.
    await expect(intake.js.publish(ExceptionCreatedV1.subject(layout.prefix), forged('exception.created'), { timeout: 2000 })).rejects.toThrow(/permission|timeout|no responders/i);
    await expect(intake.js.publish(`${layout.prefix}.output.completed.v1`, forged('output.completed'), { timeout: 2000 })).rejects.toThrow(/permission|timeout|no responders/i);

    await new Promise((r) => setTimeout(r, 300));
    expect(errors.join('\n')).toMatch(/Permissions Violation for Publish to "natsauth-[0-9a-f]+\.exception\.created\.v1"/);
    expect(errors.join('\n')).toMatch(/Permissions Violation for Publish to "natsauth-[0-9a-f]+\.output\.completed\.v1"/);
    const after = await storedSubjects();
    const added = after.slice(before.length);
    expect(added).toEqual([`${layout.prefix}.event.received.v1`]);
  });

  it('no service but results may publish exception.created, and no service but the outputs output.completed', async () => {
    for (const user of NATS_USERS) {
      const nats = await as(user);
      const errors = violations(nats.nc);
      for (const [type, owners] of [
        ['exception.created', ['results']],
        ['exception.revoked', ['results']],
        ['output.completed', ['output-builtin', 'output-defectdojo']],
        ['scan.completed', ['scanner-gitleaks']],
      ] as const) {
        nats.nc.publish(`${layout.prefix}.${type}.v1`, forged(type));
        await nats.nc.flush();
        await new Promise((r) => setTimeout(r, 50));
        const refused = errors.some((e) => e.includes(`Publish to "${layout.prefix}.${type}.v1"`));
        expect(refused, `${user} publishing ${type}`).toBe(!(owners as readonly string[]).includes(user));
      }
    }
  });

  it('cannot change the stream (subject transforms, sources), purge it, delete its messages, or redirect a consumer into it', async () => {
    const scanner = await as('scanner-gitleaks');
    const before = await storedSubjects();
    const info = await (await as('results')).jsm.streams.info(layout.stream);
    // A subject transform would turn an allowed subject into a forged one: only results and ops manage the stream.
    await expect(scanner.jsm.streams.update(layout.stream, { ...info.config, subjects: [...info.config.subjects, 'evil.>'] })).rejects.toThrow();
    await expect(scanner.jsm.streams.purge(layout.stream)).rejects.toThrow();
    await expect(scanner.jsm.streams.deleteMessage(layout.stream, 1)).rejects.toThrow();
    await expect(scanner.jsm.streams.delete(layout.stream)).rejects.toThrow();
    // A push consumer delivering the stream's own messages to a subject the stream stores.
    await expect(
      scanner.jsm.consumers.add(layout.stream, {
        name: 'forger',
        ack_policy: 'none',
        deliver_policy: 'all',
        deliver_subject: ExceptionCreatedV1.subject(layout.prefix),
      }),
    ).rejects.toThrow();
    // The durable consumers of other services are not its to read, although it reads the stream.
    await expect(scanner.jsm.consumers.delete(layout.stream, 'notifier-slack')).rejects.toThrow(/permissions violation/i);
    const errors = violations(scanner.nc);
    scanner.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${layout.stream}.notifier-slack`, '{"batch":1}', { reply: '_INBOX_scanner-gitleaks.x' });
    await scanner.nc.flush();
    await new Promise((r) => setTimeout(r, 300));
    expect(errors.join('\n')).toMatch(/Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.MSG\.NEXT\.NATSAUTH_[0-9A-F]+\.notifier-slack"/);
    expect(await storedSubjects()).toEqual(before);
  });

  it('cannot smuggle its own data into the event stream or another bucket through a push consumer', async () => {
    const scanner = await as('scanner-gitleaks');
    const before = await storedSubjects();
    // Crafted content in the bucket it owns, pushed by a consumer to the subject of another service's event.
    const own = `KV_${layout.projectsBucket}`;
    await scanner.js.publish(`$KV.${layout.projectsBucket}.forged`, forged('exception.created'));
    await scanner.jsm.consumers.add(own, {
      name: 'smuggler',
      ack_policy: 'none',
      deliver_policy: 'all',
      filter_subject: `$KV.${layout.projectsBucket}.forged`,
      deliver_subject: ExceptionCreatedV1.subject(layout.prefix),
    });
    // The event stream's messages pushed into notifier-slack's memory.
    await scanner.jsm.consumers.add(layout.stream, { name: 'smuggler', ack_policy: 'none', deliver_policy: 'all', deliver_subject: `$KV.${layout.stream}_notifier_slack.forged` });
    await new Promise((r) => setTimeout(r, 1500));
    // Nobody may subscribe to those subjects, so the consumers have no interest to deliver to: nothing moves.
    expect((await scanner.jsm.consumers.info(own, 'smuggler')).delivered.consumer_seq).toBe(0);
    expect((await scanner.jsm.consumers.info(layout.stream, 'smuggler')).delivered.consumer_seq).toBe(0);
    expect(await storedSubjects()).toEqual(before);
    const slack = await as('notifier-slack');
    await expect(slack.jsm.streams.getMessage(`KV_${layout.stream}_notifier_slack`, { last_by_subj: `$KV.${layout.stream}_notifier_slack.forged` })).resolves.toBeNull();
  });

  it("cannot read another user's replies nor listen to the stream's subjects", async () => {
    const scanner = await as('scanner-gitleaks');
    const errors = violations(scanner.nc);
    scanner.nc.subscribe('_INBOX_results.>');
    scanner.nc.subscribe(`${layout.prefix}.>`);
    scanner.nc.subscribe('_INBOX.>');
    await scanner.nc.flush();
    await new Promise((r) => setTimeout(r, 300));
    expect(errors.join('\n')).toMatch(/Permissions Violation for Subscription to "_INBOX_results\.>"/);
    expect(errors.join('\n')).toMatch(new RegExp(`Permissions Violation for Subscription to "${layout.prefix}\\.>"`));
    expect(errors.join('\n')).toMatch(/Permissions Violation for Subscription to "_INBOX\.>"/);
  });
});
