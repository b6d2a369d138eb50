import { describe, expect, it } from 'vitest';
import { remoteFor } from './remote.ts';
import { anEventFor } from './test-support/events.ts';

const instances = [{ host: 'https://gitlab.example.com/gitlab', webhook_secret_token: 'webhook-secret', auth_token: 'tok', prefix: 'GIT_LOCAL' }];
const event = (project: string, baseUrl = 'https://gitlab.example.com/gitlab/', prefix = 'GIT_LOCAL') =>
  anEventFor({ baseUrl, prefix, project, range: { kind: 'push', ref: 'refs/heads/main', before: null, after: 'a'.repeat(40) } });

describe('remoteFor', () => {
  it('builds the clone URL from the configured instance and the project path, not from the payload', () => {
    const e = event('group/sub/app');
    e.data.project.gitHttpUrl = 'https://evil.example.net/steal.git';

    const r = remoteFor(e, instances);

    expect(r).toEqual({ ok: true, remote: { url: 'https://gitlab.example.com/gitlab/group/sub/app.git', token: 'tok', key: 'GIT_LOCAL https://gitlab.example.com/gitlab/group/sub/app.git', project: 'group/sub/app' } });
  });

  it.each([
    ['an unknown prefix', event('group/app', 'https://gitlab.example.com/gitlab/', 'OTHER')],
    ['another URL', event('group/app', 'https://other.example.com/')],
    ['a path that climbs out', event('group/../../admin')],
    ['a path with a scheme', event('https://x/y')],
    ['a path that climbs out from the start', event('../../etc')],
    ['a path git would read as an option', event('-oProxyCommand=x/y')],
    ['a segment that is an option', event('group/--upload-pack=touch')],
  ])('refuses %s', (_name, e) => {
    expect(remoteFor(e, instances).ok).toBe(false);
  });
});

describe('the instance URL the token is sent to', () => {
  it.each([
    ['javascript:', 'javascript://gitlab.example.com/gitlab', false],
    ['file:', 'file:///gitlab.example.com/gitlab', false],
    ['http without "insecure"', 'http://gitlab.example.com/gitlab', false],
    ['http marked insecure', 'http://gitlab.example.com/gitlab', true],
  ])('%s', (_name, host, insecure) => {
    const config = { ...instances[0]!, host, ...(insecure ? { insecure: true } : {}) };
    const r = remoteFor(event('group/app', `${host}/`), [config]);

    expect(r.ok).toBe(insecure);
  });
});
