import { createHash, timingSafeEqual } from 'node:crypto';
import type { GitLabInstanceConfig } from '@secbot/service-kit';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * The instances whose webhook secret equals the presented X-Gitlab-Token. Compares fixed-length digests in
 * constant time and checks every instance, so timing reveals neither the token nor which one matched.
 */
export function instancesForToken(instances: GitLabInstanceConfig[], token: string | undefined): GitLabInstanceConfig[] {
  if (!token) return [];
  const presented = digest(token);
  const matches: GitLabInstanceConfig[] = [];
  for (const instance of instances) {
    if (timingSafeEqual(presented, digest(instance.webhook_secret_token))) matches.push(instance);
  }
  return matches;
}
