import { isProjectPath, type EventReceivedV1 } from '@secbot/contracts';
import type { GitLabInstanceConfig } from '@secbot/service-kit';
import type { Remote } from './adapters/git/mirror.ts';

const normalise = (url: string): string => {
  const u = new URL(url);
  return `${u.protocol}//${u.host.toLowerCase()}${u.pathname.replace(/\/*$/, '/')}`;
};

/**
 * The clone URL and token for the event's project, taken from the scanner's own GITLAB_CONFIGS (the instance
 * with the event's prefix and URL) and the project path — never a URL from the payload, so a forged or
 * mistaken event cannot send the token to another host.
 */
export function remoteFor(event: EventReceivedV1, instances: GitLabInstanceConfig[]): { ok: true; remote: Remote } | { ok: false; reason: string } {
  const { instance, project } = event.data;
  const base = normalise(instance.url);
  const config = instances.find((c) => c.prefix === instance.prefix && normalise(c.host) === base);
  if (!config) {
    return {
      ok: false,
      reason: `No GitLab instance with prefix ${instance.prefix} and URL ${base} in the scanner's GITLAB_CONFIGS; give the scanner the same GITLAB_CONFIGS as intake.`,
    };
  }
  return remoteOf(config, project.pathWithNamespace);
}

/** The remote of a project named by host name (as `secbot enroll` names it) and path. */
export function remoteByHost(host: string, path: string, instances: GitLabInstanceConfig[]): { ok: true; remote: Remote } | { ok: false; reason: string } {
  const config = instances.find((c) => new URL(c.host).hostname.toLowerCase() === host.toLowerCase());
  if (!config) return { ok: false, reason: `No GitLab instance with host ${host} in the scanner's GITLAB_CONFIGS.` };
  return remoteOf(config, path);
}

function remoteOf(config: GitLabInstanceConfig, path: string): { ok: true; remote: Remote } | { ok: false; reason: string } {
  // GITLAB_CONFIGS allows only these (https, or http with "insecure": true); checked again where the token is used.
  const protocol = URL.parse(config.host)?.protocol;
  if (protocol !== 'https:' && !(protocol === 'http:' && config.insecure === true)) {
    return { ok: false, reason: `The GitLab instance ${config.prefix} is not an https URL (http needs "insecure": true in GITLAB_CONFIGS); the scanner does not send its token there.` };
  }
  if (!isProjectPath(path)) {
    return { ok: false, reason: `The project path ${JSON.stringify(path.slice(0, 200))} is not a GitLab project path.` };
  }
  const url = new URL(`${path}.git`, normalise(config.host)).href;
  return { ok: true, remote: { url, token: config.auth_token, key: `${config.prefix} ${url}`, project: path } };
}
