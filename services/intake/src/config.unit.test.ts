import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, GitLabConfigs } from '@secbot/service-kit';
import { expect, it } from 'vitest';
import { readIntakeConfig } from './service.ts';

it('stops start-up listing the environment and the policy problems together, without secret values', () => {
  const dir = mkdtempSync(join(tmpdir(), 'secbot-cfg-'));
  writeFileSync(join(dir, 'config.yml'), 'version: "1.0"\ncomponents:\n  s: { handler_name: slack, env: { token: SLACK_TOKEN } }\njobs:\n  - { name: a, rules: { gitlab: {} }, scans: [s], outputs: [s] }\n');

  let error: unknown;
  try {
    readIntakeConfig({
      SECBOT_CONFIG: join(dir, 'config.yml'),
      INTAKE_PORT: '99999',
      GITLAB_CONFIGS: '[{"host":"ftp://x","webhook_secret_token":"short","auth_token":"very-secret-auth","prefix":"bad prefix"}]',
    });
  } catch (err) {
    error = err;
  }

  expect(error).toBeInstanceOf(ConfigError);
  const problems = (error as ConfigError).problems.join('\n');
  expect(problems).toMatch(/SECBOT_NATS_URL: is required/);
  expect(problems).toMatch(/INTAKE_PORT/);
  expect(problems).toMatch(/GITLAB_CONFIGS\.0\.host/);
  expect(problems).toMatch(/GITLAB_CONFIGS\.0\.webhook_secret_token: must be at least 8 characters/);
  expect(problems).toMatch(/GITLAB_CONFIGS\.0\.prefix/);
  expect(problems).toMatch(/jobs\.0\.scans\.0: component "s" is a notifier, not a scan/);
  expect(problems).not.toContain('very-secret-auth');
});

it('refuses an http GitLab instance unless it is marked insecure (tokens would cross the network in clear)', () => {
  const configs = (entry: Record<string, unknown>) => JSON.stringify([{ webhook_secret_token: 'webhook-secret', auth_token: 'glpat-x', prefix: 'GIT', ...entry }]);
  const parse = (entry: Record<string, unknown>) => GitLabConfigs.safeParse(configs(entry));

  expect(parse({ host: 'https://gitlab.example.com/' }).success).toBe(true);
  expect(parse({ host: 'http://gitlab.example.com/', insecure: true }).success).toBe(true);
  const refused = parse({ host: 'http://gitlab.example.com/' });
  expect(refused.success).toBe(false);
  expect(refused.error?.issues[0]).toMatchObject({ path: [0, 'host'], message: expect.stringMatching(/"insecure": true/) as unknown });
  for (const host of ['javascript://gitlab.example.com/', 'file:///etc/passwd', 'ftp://gitlab.example.com/']) {
    expect(parse({ host, insecure: true }).success, host).toBe(false);
  }
});
