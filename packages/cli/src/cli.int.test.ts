import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deterministicId, ExceptionCreatedV1 } from '@secbot/contracts';
import { dropSchemas, openDatabase, startResults, type RunningResults } from '@secbot/results';
import { createLogger, createPublisher, type Publisher } from '@secbot/service-kit';
import {
  aCheck,
  aFinding,
  anEventReceived,
  aNotified,
  anOutputCompleted,
  aScanCompleted,
  captureLogs,
  eventually,
  publishEvents,
  streamEnv,
  TEST_POSTGRES_DSN,
  testNats,
  type TestNats,
} from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const DSN = TEST_POSTGRES_DSN;
const cli = new URL('./main.ts', import.meta.url).pathname;
const base = `t_cli_${randomBytes(4).toString('hex')}`;
const quiet = createLogger({ service: 't', level: 'silent' });

let nats: TestNats;
let publisher: Publisher;
let env: Record<string, string>;
const emptyDir = mkdtempSync(join(tmpdir(), 'secbot-cli-'));

beforeAll(async () => {
  nats = await testNats('cli');
  publisher = createPublisher({ js: nats.js, stream: nats.stream });
  // SECBOT_ENV_DIR points at an empty folder: the CLI sees only this environment, not the repo's .env.dev.
  env = { ...streamEnv(nats.stream), SECBOT_ENV_DIR: emptyDir, SECBOT_POSTGRES_DSN: DSN, SECBOT_DB_SCHEMA: base, RESULTS_POINTER_POLL_SECONDS: '0.3' };
});

afterAll(async () => {
  const db = await openDatabase({ driver: 'postgresql', dsn: DSN, schema: 'public' }, quiet);
  const rows: unknown = await db.em().getConnection().execute(`select nspname from pg_namespace where nspname like '${base}%'`);
  await db.close();
  await dropSchemas(DSN, (rows as { nspname: string }[]).map((r) => r.nspname));
  await nats?.cleanup();
});

function secbot(args: string[], extra: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env['PATH'], ...env, ...extra } });
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

describe('secbot replay', () => {
  it('prints the whole story of a check that failed and was then triaged, read from the stream', async () => {
    const c = aCheck();
    const finding = aFinding({ fingerprint: `aws-access-token:${randomBytes(4).toString('hex')}`, file: 'deploy/key.env', startLine: 4 });
    await publishEvents(publisher, [
      anEventReceived(c),
      aScanCompleted(c, { findings: [finding] }),
      anOutputCompleted(c, { blocking: [finding] }),
      aNotified(c),
      anOutputCompleted(c, { revision: 1, blocking: [], findingsTotal: 1, at: '2026-11-23T10:05:00.000Z' }),
    ]);
    await publisher.publish(ExceptionCreatedV1, {
      id: deterministicId('x', c.sha),
      type: 'exception.created',
      version: 1,
      occurredAt: '2026-11-23T10:04:00.000Z',
      correlationId: 'api:x',
      source: 'results',
      data: { exceptionId: deterministicId('e', c.sha), fingerprint: finding.fingerprint, scope: { kind: 'project', instanceHost: 'example.com', projectPath: 'mike/diaspora' }, owner: 'appsec', reason: 'test key', expiresAt: null },
    });

    const { code, out } = await secbot(['replay', '--check', c.securityCheckId]);

    expect(code).toBe(0);
    const lines = out.split('\n');
    expect(lines[0]).toBe(`${c.securityCheckId}  mike/diaspora @ ${c.sha.slice(0, 12)}`);
    expect(out).toMatch(/event\.received +jsmith pushed branch master of mike\/diaspora .*job "Secrets in every change"/);
    expect(out).toMatch(/scan\.completed +scan gitleaks .* 1 finding\(s\) \[aws-access-token\]/);
    expect(out).toMatch(/output\.completed +output builtin decided: 1 of 1 finding\(s\) block \[aws-access-token deploy\/key\.env:4\]/);
    expect(out).toMatch(/notified +notifier slack sent/);
    expect(out).toMatch(/output\.completed +output builtin triage changed \(revision 1\): 0 of 1 finding\(s\) block/);
    expect(out).toMatch(/exception\.created +appsec accepted aws-access-token:\w+ for project mike\/diaspora on example\.com: test key/);
    const json = JSON.parse((await secbot(['replay', '--check', c.securityCheckId, '--json'])).out) as { stories: { entries: unknown[] }[] };
    expect(json.stories[0]?.entries).toHaveLength(5);
  });

  it('says so, and exits 1, for a check the stream never mentions', async () => {
    const { code, err } = await secbot(['replay', '--check', `GIT_LOCAL_${'f'.repeat(64)}`]);

    expect(code).toBe(1);
    expect(err).toContain('No event mentions');
  });
});

describe('secbot projection rebuild', () => {
  let results: RunningResults;

  afterAll(async () => {
    await results?.close();
  });

  it('rebuilds into a fresh schema with the same rows and switches a live results without a failed read', async () => {
    results = await startResults({ ...env, LOG_LEVEL: 'warn' }, { port: 0, logDestination: captureLogs() });
    const checks = Array.from({ length: 40 }, () => aCheck());
    await publishEvents(publisher, checks.flatMap((c, i) => [anEventReceived(c), aScanCompleted(c), anOutputCompleted(c, { blocking: i % 2 ? [aFinding()] : [] })]));
    await results.caughtUp();
    const probe = checks[1]!;
    const reads: number[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const res = await fetch(`${results.url}/v1/security/gitlab/check/${probe.securityCheckId}`);
        reads.push(res.status === 200 && ((await res.json()) as { status: string }).status === 'fail' ? 1 : 0);
      }
    })();

    const { code, out, err } = await secbot(['projection', 'rebuild']);

    expect(code, err).toBe(0);
    const schema = /into schema (\S+) in/.exec(out)?.[1] ?? '';
    expect(out).toMatch(/rebuilt \d+ events into schema t_cli_\w+_r\d{14} in [\d.]+ s \(\d+ events\/s\)/);
    // Results follows the pointer; events published afterwards land in the new schema.
    const later = aCheck();
    const rebuilt = await openDatabase({ driver: 'postgresql', dsn: DSN, schema }, quiet);
    await eventually(async () => {
      await publishEvents(publisher, [anEventReceived(later, { delivery: randomBytes(4).toString('hex') })]);
      const row: unknown = await rebuilt.em().getConnection().execute(`select 1 from "${schema}".security_check where id = ?`, [later.securityCheckId]);
      return Array.isArray(row) && row.length ? true : undefined;
    }, 10_000, 'new events in the rebuilt schema');
    await rebuilt.close();
    polling = false;
    await poller;
    expect(reads.length).toBeGreaterThan(10);
    expect(reads.every((r) => r === 1)).toBe(true);
    const a = await openDatabase({ driver: 'postgresql', dsn: DSN, schema: base }, quiet);
    const b = await openDatabase({ driver: 'postgresql', dsn: DSN, schema }, quiet);
    const cols = '"id", "status", "state", "created_at", "updated_at"';
    const q = (s: string) => `select ${cols} from "${s}".security_check where id <> '${later.securityCheckId}' order by id`;
    const rowsA = await a.em().getConnection().execute(q(base));
    const rowsB = await b.em().getConnection().execute(q(schema));
    expect(rowsB).toEqual(rowsA);
    await a.close();
    await b.close();
  });
});

describe('secbot config validate and check-id', () => {
  it('lists every problem and exits 1', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'secbot-cfg-')), 'config.yml');
    writeFileSync(file, 'version: "1.0"\ncomponents:\n  s: { handler_name: slack, env: { token: NOPE_TOKEN } }\njobs:\n  - { name: a, rules: { gitlab: { event_type: "(" } }, scans: [s], outputs: [zzz] }\n');

    const { code, err } = await secbot(['config', 'validate', file], { GITLAB_CONFIGS: '[]' });

    expect(code).toBe(1);
    expect(err).toMatch(/GITLAB_CONFIGS: must list at least one GitLab instance/);
    expect(err).toMatch(/jobs\.0\.rules\.gitlab\.event_type: is not a valid regular expression/);
    expect(err).toMatch(/jobs\.0\.scans\.0: component "s" is a notifier, not a scan/);
    expect(err).toMatch(/jobs\.0\.outputs\.0: unknown component "zzz"/);
  });

  it('computes the id the CI snippet computes, from a host given with scheme and port', async () => {
    const { out } = await secbot(['check-id', '--host', 'https://example.com:8443/', '--project', 'mike/diaspora', '--sha', 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7']);

    expect(out.trim()).toBe('GIT_LOCAL_e168797e1b215fb2ea417f0aded5d4d70b72514bddb7112a6592c39264d10c38');
  });
});
