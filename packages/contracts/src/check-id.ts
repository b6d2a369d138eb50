import { createHash } from 'node:crypto';
import { z } from 'zod';

/** `PREFIX_` + 64 lower-case hex digits. The prefix names the GitLab instance (e.g. `GIT_LOCAL`). */
export const SECURITY_CHECK_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}_[0-9a-f]{64}$/;

export const SecurityCheckIdSchema = z
  .string()
  .regex(SECURITY_CHECK_ID_PATTERN, 'must be PREFIX_ followed by 64 lower-case hex digits');

/**
 * The id the CI gate computes with
 * `echo -n "${CI_SERVER_HOST}:${CI_PROJECT_PATH}_${CI_COMMIT_SHA}" | sha256sum`.
 * `host` is the instance's host name without scheme or port, like `CI_SERVER_HOST`.
 */
export function securityCheckId(prefix: string, host: string, projectPath: string, sha: string): string {
  const digest = createHash('sha256').update(`${host}:${projectPath}_${sha}`).digest('hex');
  return `${prefix}_${digest}`;
}
