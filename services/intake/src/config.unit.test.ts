import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@secbot/service-kit';
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
