import { createHash, timingSafeEqual } from 'node:crypto';
import type { GitLabInstanceConfig } from '@secbot/service-kit';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** A webhook secret that matched: an instance's (any of its projects), or one project webhook's (that project only). */
export interface WebhookCredential {
  instance: GitLabInstanceConfig;
  /** Set for a project webhook secret: the only project whose events it may deliver. */
  project?: string;
}

/**
 * The credentials whose secret equals the presented X-Gitlab-Token: each instance's webhook_secret_token and
 * each of its project_webhook_secrets. Compares fixed-length digests in constant time and checks every secret,
 * so timing reveals neither the token nor which one matched.
 */
export function credentialsForToken(instances: GitLabInstanceConfig[], token: string | undefined): WebhookCredential[] {
  if (!token) return [];
  const presented = digest(token);
  const matches: WebhookCredential[] = [];
  for (const instance of instances) {
    if (timingSafeEqual(presented, digest(instance.webhook_secret_token))) matches.push({ instance });
    for (const [project, secret] of Object.entries(instance.project_webhook_secrets ?? {})) {
      if (timingSafeEqual(presented, digest(secret))) matches.push({ instance, project });
    }
  }
  return matches;
}

/** Whether a credential may deliver events of `projectPath` (GitLab paths are case-insensitive). */
export const mayDeliverFor = (credential: WebhookCredential, projectPath: string): boolean =>
  credential.project === undefined || credential.project.toLowerCase() === projectPath.toLowerCase();
