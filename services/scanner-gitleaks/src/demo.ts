// The scanner without GitLab: with `make up` running, `node services/scanner-gitleaks/src/demo.ts` creates a
// repository with a planted fake AWS key, serves it over git smart HTTP on loopback as a fake GitLab, posts the
// push hook to intake and prints the check's status from results until it is final.
// It needs a GitLab instance for the fake in GITLAB_CONFIGS (printed below when missing).
import { randomUUID } from 'node:crypto';
import { GitLabConfigs, loadEnvironment } from '@secbot/service-kit';
import { fakeGitLabGit } from '@secbot/testing';
import { fakeAwsKey } from './test-support/events.ts';

const say = (msg: string) => process.stdout.write(`[demo] ${msg}\n`);
const root = new URL('../../../', import.meta.url).pathname;
const env = loadEnvironment(process.env['SECBOT_ENV_DIR'] ?? root);
const gitUrl = env['SECBOT_DEMO_GIT_URL'] ?? 'http://127.0.0.1:8929/';
const listen = env['SECBOT_LISTEN_HOST'] === '0.0.0.0' ? '127.0.0.1' : (env['SECBOT_LISTEN_HOST'] ?? '127.0.0.1');
const intake = env['SECBOT_DEMO_INTAKE_URL'] ?? `http://${listen}:${env['INTAKE_PORT'] ?? '5000'}`;
const results = env['SECBOT_DEMO_RESULTS_URL'] ?? `http://${listen}:${env['RESULTS_PORT'] ?? '5001'}`;

const instances = GitLabConfigs.safeParse(env['GITLAB_CONFIGS']);
const instance = instances.success ? instances.data.find((i) => new URL(i.host).href === new URL(gitUrl).href) : undefined;
if (!instance) {
  say(`GITLAB_CONFIGS has no instance with host ${gitUrl}. Add one (in .env.override) for intake and the scanner, e.g.:`);
  say(`  GITLAB_CONFIGS='[{"host":"${gitUrl}","webhook_secret_token":"demo-webhook-secret","auth_token":"demo-git-token","prefix":"GIT_DEMO","insecure":true}]'`);
  process.exit(1);
}

const fake = await fakeGitLabGit({ token: instance.auth_token, port: Number(new URL(gitUrl).port || 80) });
try {
  const path = `demo/leaky-app-${Date.now().toString(36)}`;
  const repo = await fake.createProject(path);
  const before = await repo.commit('Initial commit', { 'README.md': '# A demo application\n' });
  const after = await repo.commit('Add deploy config', { 'config/deploy.env': `AWS_REGION=eu-west-1\nAWS_ACCESS_KEY_ID=${fakeAwsKey()}\n` });
  await repo.push('main');
  say(`serving ${fake.url}${path}.git with a fake AWS key planted in ${after.slice(0, 7)} (config/deploy.env)`);

  const web = `${fake.url}${path}`;
  const body = {
    object_kind: 'push',
    event_name: 'push',
    before,
    after,
    ref: 'refs/heads/main',
    checkout_sha: after,
    user_id: 1,
    user_name: 'Demo User',
    user_username: 'demo',
    project_id: 1,
    project: { id: 1, name: 'leaky-app', web_url: web, git_http_url: `${web}.git`, path_with_namespace: path, default_branch: 'main' },
    commits: [{ id: after, title: 'Add deploy config', url: `${web}/-/commit/${after}` }],
    total_commits_count: 1,
  };
  const res = await fetch(`${intake}/v1/gitlab/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': instance.webhook_secret_token, 'idempotency-key': randomUUID() },
    body: JSON.stringify(body),
  });
  const accepted = (await res.json()) as { security_check_id?: string };
  if (!res.ok || !accepted.security_check_id) throw new Error(`intake answered ${res.status}: ${JSON.stringify(accepted)}`);
  const id = accepted.security_check_id;
  say(`intake accepted the push hook: security_check_id ${id}`);

  let last = '';
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const status = await fetch(`${results}/v1/security/gitlab/check/${id}`)
      .then(async (r) => ((await r.json()) as { status?: string }).status ?? `HTTP ${r.status}`)
      .catch((err: Error) => `results unreachable (${err.message})`);
    if (status !== last) say(`status: ${status}`);
    last = status;
    if (!['not_started', 'in_progress'].includes(status) && !status.startsWith('results unreachable')) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (last === 'in_progress') say('still in_progress: the scan is done when the scanner logs "Scan completed"; the status is final once an output service (e.g. builtin) has decided.');
} finally {
  await fake.close();
}
