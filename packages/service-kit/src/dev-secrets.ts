import { ConfigError } from './errors.ts';

/**
 * The secret values the committed .env.dev ships (webhook secrets and GitLab tokens of GITLAB_CONFIGS, the
 * fingerprint key, the API token, the DefectDojo and Slack tokens, ...). Anyone can read them in the
 * repository, so a service refuses them unless SECBOT_ENV=development, whatever file or variable they come
 * from. They are listed here, not read from .env.dev, because images and bundles carry no .env.dev; a unit
 * test (dev-secrets.unit.test.ts) fails when .env.dev gains a secret this list does not have.
 */
export const DEV_SECRET_VALUES: readonly string[] = [
  'dev-webhook-secret',
  'dev-gitlab-token',
  'demo-webhook-secret',
  'demo-git-token',
  'dev-fingerprint-key-change-me-0123456789',
  'dev-defectdojo-token',
  'xoxb-dev-token',
  'dev-secbot-api-token-change-me',
  'dev-link-signing-key-change-me-0123456789',
  'dev-secbot-read-token-change-me',
];

/** Names of .env.dev settings that hold secrets (GITLAB_CONFIGS holds them in its entries). */
export const isSecretSettingName = (name: string): boolean => /TOKEN|SECRET|PASSWORD|_KEY$|^GITLAB_CONFIGS$/.test(name);

/**
 * Where in a service's settings a development secret appears: `SECBOT_API_TOKEN`,
 * `GITLAB_CONFIGS[0].webhook_secret_token`, ... (names only, never the value). A value that contains a
 * development secret counts too (a list of tokens in one variable).
 */
export function devSecretSettings(settings: object, devValues: readonly string[] = DEV_SECRET_VALUES): string[] {
  const found: string[] = [];
  const visit = (value: unknown, path: string, depth: number): void => {
    if (depth > 6 || value === null || value === undefined) return;
    if (typeof value === 'string') {
      if (devValues.some((d) => value === d || value.includes(d))) found.push(path);
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, `${path}[${i}]`, depth + 1));
    } else if (value instanceof Map) {
      for (const [k, v] of value) visit(v, `${path}.${String(k)}`, depth + 1);
    } else if (typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) visit(v, path ? `${path}.${k}` : k, depth + 1);
    }
  };
  for (const [k, v] of Object.entries(settings)) if (k !== 'SECBOT_ENV') visit(v, k, 0);
  return found;
}

export const DEV_SECRET_PROBLEM =
  'is the development value from .env.dev, which anyone can read in the repository: set your own secret' +
  ' (only SECBOT_ENV=development, in the environment or .env.override, accepts the secrets of .env.dev)';

/** One problem per setting of `settings` that carries a development secret; none with SECBOT_ENV=development. */
export function devSecretProblems(settings: object & { SECBOT_ENV?: string }): string[] {
  if (settings.SECBOT_ENV === 'development') return [];
  return devSecretSettings(settings).map((name) => `${name}: ${DEV_SECRET_PROBLEM}`);
}

/**
 * Refuses to start a service whose settings carry a secret from the committed .env.dev, unless the service
 * runs with SECBOT_ENV=development. The error names every such setting, never a value.
 */
export function refuseDevSecrets(service: string, settings: object & { SECBOT_ENV?: string }): void {
  const problems = devSecretProblems(settings);
  if (problems.length) throw new ConfigError(`SecBot ${service} configuration`, problems);
}
