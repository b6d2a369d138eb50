import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  fixturePath,
  freePort,
  readStream,
  type ServiceProcess,
  spawnService,
  streamEnv,
  TEST_POSTGRES_DSN,
  testNats,
  type TestNats,
  waitForReady,
} from '@secbot/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchemas } from '../../services/results/src/adapters/postgres/database.ts';

const DSN = TEST_POSTGRES_DSN;
const snippet = new URL('./seed-gate-snippet.sh', import.meta.url).pathname;

let nats: TestNats;
let intake: ServiceProcess;
let results: ServiceProcess;
let intakeUrl: string;
let resultsUrl: string;
const schema = `t_e2e_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  nats = await testNats('e2e');
  const [intakePort, resultsPort] = [await freePort(), await freePort()];
  // Everything else comes from the committed .env.dev and config.yml, as for a new user.
  const env = { ...streamEnv(nats.stream), SECBOT_POSTGRES_DSN: DSN, SECBOT_DB_SCHEMA: schema, INTAKE_PORT: String(intakePort), RESULTS_PORT: String(resultsPort) };
  intakeUrl = `http://127.0.0.1:${intakePort}`;
  resultsUrl = `http://127.0.0.1:${resultsPort}`;
  intake = spawnService('intake', env);
  results = spawnService('results', env);
  await Promise.all([waitForReady(`${intakeUrl}/readyz`, intake), waitForReady(`${resultsUrl}/readyz`, results)]);
});

afterAll(async () => {
  await intake?.stop();
  await results?.stop();
  await dropSchemas(DSN, [schema]);
  await nats?.cleanup();
});

function gate(sha: string): string {
  return execFileSync('sh', [snippet], {
    encoding: 'utf8',
    env: { PATH: process.env['PATH'], SECBOT_GATEWAY_URL: resultsUrl, CI_SERVER_HOST: 'example.com', CI_PROJECT_PATH: 'mike/diaspora', CI_COMMIT_SHA: sha },
  });
}

describe('a GitLab push system hook, end to end', () => {
  it('gives a security_check_id whose status the seed CI snippet reads as in_progress', async () => {
    const body = readFileSync(fixturePath('gitlab/docs_system_hook_push.json'));

    expect(gate('da1560886d4f094c3e6c9ef40349f7d38b5d27d7')).toContain('Status --> not_started');

    const res = await fetch(`${intakeUrl}/v1/gitlab/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-gitlab-token': 'dev-webhook-secret', 'x-gitlab-event': 'System Hook' },
      body,
    });
    const accepted = (await res.json()) as { security_check_id: string };

    expect(res.status).toBe(202);
    const expectedId = `GIT_LOCAL_${execFileSync('sh', ['-c', 'echo -n "example.com:mike/diaspora_da1560886d4f094c3e6c9ef40349f7d38b5d27d7" | sha256sum | head -c64'], { encoding: 'utf8' })}`;
    expect(accepted.security_check_id).toBe(expectedId);
    let out = '';
    for (let i = 0; i < 50 && !out.includes('in_progress'); i++) {
      out = gate('da1560886d4f094c3e6c9ef40349f7d38b5d27d7');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(out).toContain(' Response Code --> 200');
    expect(out).toContain(' Status --> in_progress');
  });

  it('keeps every service’s logs free of the configured tokens', async () => {
    const events = await readStream(nats, nats.stream);

    expect(events.length).toBeGreaterThan(0);
    for (const text of [intake.output(), results.output(), ...events.map((e) => e.data)]) {
      expect(text).not.toContain('dev-webhook-secret');
      expect(text).not.toContain('dev-gitlab-token');
    }
  });
});
