import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DEV_SECRET_VALUES, devSecretSettings, isSecretSettingName, refuseDevSecrets } from './dev-secrets.ts';
import { loadEnvironment, parseEnvFile } from './env-files.ts';
import { ConfigError } from './errors.ts';
import { loadPolicy } from './policy.ts';
import { readServiceConfig } from './service-config.ts';
import { CommonSettings, GitLabConfigs, readSettings } from './settings.ts';

const repo = new URL('../../../', import.meta.url).pathname;
const envDev = parseEnvFile(readFileSync(join(repo, '.env.dev'), 'utf8'));

/** Every secret value .env.dev holds, by setting name (GITLAB_CONFIGS: each instance's tokens). */
function secretsOfEnvDev(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(envDev)) {
    if (!isSecretSettingName(name) || !value) continue;
    if (name === 'GITLAB_CONFIGS') {
      (JSON.parse(value) as Record<string, string>[]).forEach((g, i) => {
        for (const [k, v] of Object.entries(g)) if (/token|secret|key|password/i.test(k)) out[`${name}[${i}].${k}`] = v;
      });
    } else {
      out[name] = value;
    }
  }
  return out;
}

// A service's settings with every secret .env.dev carries (results' and the scanner's among them).
const Service = CommonSettings.extend({
  GITLAB_CONFIGS: GitLabConfigs,
  SECBOT_API_TOKEN: z.string().optional(),
  SCANNER_FINGERPRINT_KEY: z.string().optional(),
});
const devEnv = (extra: Record<string, string> = {}) => ({ ...envDev, ...extra });

describe('the development secrets of .env.dev', () => {
  it('lists every secret .env.dev ships (add a new one to DEV_SECRET_VALUES)', () => {
    const secrets = secretsOfEnvDev();
    expect(Object.keys(secrets)).toEqual(expect.arrayContaining(['GITLAB_CONFIGS[0].webhook_secret_token', 'SECBOT_API_TOKEN', 'SCANNER_FINGERPRINT_KEY', 'SLACK_TOKEN', 'DEFECTDOJO__TOKEN']));
    const missing = Object.entries(secrets).filter(([, v]) => !DEV_SECRET_VALUES.includes(v)).map(([k]) => k);
    expect(missing, 'secrets of .env.dev that dev-secrets.ts does not know').toEqual([]);
  });

  it('.env.dev never sets SECBOT_ENV, and loadEnvironment ignores it there (.env.override and the environment may)', () => {
    expect(envDev['SECBOT_ENV']).toBeUndefined();
    const dir = mkdtempSync(join(tmpdir(), 'secbot-env-'));
    writeFileSync(join(dir, '.env.dev'), 'SECBOT_ENV=development\nA=1\n');
    expect(loadEnvironment(dir, {})['SECBOT_ENV']).toBeUndefined();
    writeFileSync(join(dir, '.env.override'), 'SECBOT_ENV=development\n');
    expect(loadEnvironment(dir, {})['SECBOT_ENV']).toBe('development');
    expect(loadEnvironment(dir, { SECBOT_ENV: 'production' })['SECBOT_ENV']).toBe('production');
  });

  it('a service with .env.dev and no SECBOT_ENV (production) refuses to start, naming every setting, never a value', () => {
    const settings = readSettings(Service, devEnv());
    expect(settings.SECBOT_ENV).toBe('production');
    let error: unknown;
    try {
      refuseDevSecrets('results', settings);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const names = (error as ConfigError).problems.map((p) => p.split(':')[0]);
    expect(names).toEqual(['GITLAB_CONFIGS[0].webhook_secret_token', 'GITLAB_CONFIGS[0].auth_token', 'GITLAB_CONFIGS[1].webhook_secret_token', 'GITLAB_CONFIGS[1].auth_token', 'SECBOT_API_TOKEN', 'SCANNER_FINGERPRINT_KEY']);
    expect((error as ConfigError).message).toMatch(/SecBot results configuration is invalid/);
    expect((error as ConfigError).message).toMatch(/SECBOT_ENV=development/);
    for (const v of DEV_SECRET_VALUES) expect((error as ConfigError).message).not.toContain(v);
  });

  it('refuses one development secret among real ones, copied into any file or variable (even inside a longer value)', () => {
    const own = '[{"host":"https://gitlab.example.com/","webhook_secret_token":"a-real-webhook-secret","auth_token":"a-real-token","prefix":"GIT"}]';
    expect(devSecretSettings(readSettings(Service, { SECBOT_NATS_URL: 'nats://n:4222', GITLAB_CONFIGS: own, SECBOT_API_TOKEN: 'a-real-api-token-0123456789' }))).toEqual([]);
    expect(devSecretSettings(readSettings(Service, { SECBOT_NATS_URL: 'nats://n:4222', GITLAB_CONFIGS: own, SECBOT_API_TOKEN: 'dev-secbot-api-token-change-me' }))).toEqual(['SECBOT_API_TOKEN']);
    expect(devSecretSettings({ TOKENS: { ci: 'x', dev: 'prefix-xoxb-dev-token' }, LIST: ['a', 'dev-gitlab-token'] })).toEqual(['TOKENS.dev', 'LIST[1]']);
  });

  it('starts with .env.dev when SECBOT_ENV=development, and refuses anything but development or production', () => {
    expect(() => refuseDevSecrets('results', readSettings(Service, devEnv({ SECBOT_ENV: 'development' })))).not.toThrow();
    expect(() => readSettings(Service, devEnv({ SECBOT_ENV: 'dev' }))).toThrow(/SECBOT_ENV: must be development or production/);
  });

  it("refuses a component's development secret (SLACK_TOKEN) with the other problems at start-up", () => {
    const dir = mkdtempSync(join(tmpdir(), 'secbot-cfg-'));
    const file = join(dir, 'config.yml');
    writeFileSync(file, 'version: "1.0"\ncomponents:\n  g: { handler_name: gitleaks }\n  b: { handler_name: builtin }\n  slack: { handler_name: slack, env: { token: SLACK_TOKEN } }\njobs:\n  - { name: a, rules: { gitlab: {} }, scans: [g], outputs: [b], notifications: [slack] }\n');
    const env = devEnv({ SECBOT_CONFIG: file });
    let error: unknown;
    try {
      readServiceConfig('notifier-slack', Service, env, { requireEnvFor: (c) => c.handler === 'slack' });
    } catch (err) {
      error = err;
    }
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/components\.slack\.env\.token: SLACK_TOKEN: is the development value from \.env\.dev/);
    expect(problems).toMatch(/SECBOT_API_TOKEN: is the development value/);
    expect(problems).not.toContain('xoxb-dev-token');
    expect(() => loadPolicy(file, { env: { ...env, SECBOT_ENV: 'development' }, requireEnvFor: () => true })).not.toThrow();
  });
});
