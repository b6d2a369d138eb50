import type { z } from 'zod';
import { devSecretProblems } from './dev-secrets.ts';
import { ConfigError } from './errors.ts';
import { loadPolicy, type LoadPolicyOptions, type Policy } from './policy.ts';
import { CommonSettings, readSettings } from './settings.ts';

/**
 * A service's settings and the policy, read together so that start-up reports every problem at once:
 * the environment's, config.yml's, and the service's own checks of its components (`check`).
 */
export function readServiceConfig<S extends z.ZodType>(
  service: string,
  schema: S,
  env: Record<string, string | undefined>,
  policyOptions: Omit<LoadPolicyOptions, 'env'> & { check?: (policy: Policy) => string[] } = {},
): { settings: z.infer<S>; policy: Policy } {
  const problems: string[] = [];
  let settings: z.infer<S> | undefined;
  try {
    settings = readSettings(schema, env);
    problems.push(...devSecretProblems(settings as object));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  let policy: Policy | undefined;
  try {
    policy = loadPolicy(env['SECBOT_CONFIG'] ?? CommonSettings.shape.SECBOT_CONFIG.parse(undefined), { ...policyOptions, env });
    problems.push(...(policyOptions.check?.(policy) ?? []));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (problems.length || settings === undefined || !policy) throw new ConfigError(`SecBot ${service} configuration`, problems);
  return { settings, policy };
}
