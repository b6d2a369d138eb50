import { readFileSync } from 'node:fs';
import { securityCheckId } from '@secbot/contracts';
import { ConfigError, CommonSettings, GitLabConfigs, loadPolicy, readSettings, type Nats } from '@secbot/service-kit';
import type { StreamSettings } from '@secbot/contracts';
import { readEvents } from './stream-reader.ts';
import { buildStories } from './timeline.ts';

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export function checkIdCommand(args: { host?: string; project?: string; sha?: string; prefix?: string }, io: Io): number {
  if (!args.host || !args.project || !args.sha) {
    io.err('usage: secbot check-id --host HOST --project GROUP/PROJECT --sha COMMIT [--prefix GIT_LOCAL]');
    return 2;
  }
  // CI_SERVER_HOST has no scheme and no port.
  const host = args.host.replace(/^[a-z]+:\/\//, '').replace(/[:/].*$/, '');
  io.out(securityCheckId(args.prefix ?? 'GIT_LOCAL', host, args.project, args.sha));
  return 0;
}

export function configValidateCommand(file: string, env: Record<string, string | undefined>, io: Io): number {
  const problems: string[] = [];
  try {
    readSettings(CommonSettings.extend({ GITLAB_CONFIGS: GitLabConfigs }), env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  try {
    const policy = loadPolicy(file, { env, requireEnvFor: () => true });
    if (!problems.length) {
      io.out(`${policy.file}: valid`);
      for (const j of policy.jobs) io.out(`  job "${j.name}": scans ${j.scans.map((c) => c.name).join(', ')}; outputs ${j.outputs.map((c) => c.name).join(', ')}; notifiers ${j.notifiers.map((c) => c.name).join(', ') || 'none'}`);
    }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  for (const p of problems) io.err(`  - ${p}`);
  if (problems.length) io.err(`${problems.length} problem(s)`);
  return problems.length ? 1 : 0;
}

const FINAL = new Set(['success', 'fail', 'error']);
const EXIT: Record<string, number> = { success: 0, fail: 1, error: 2 };

export async function statusCommand(id: string, opts: { url: string; wait: boolean; timeoutSeconds: number }, io: Io): Promise<number> {
  const deadline = Date.now() + opts.timeoutSeconds * 1000;
  let delay = 1000;
  for (;;) {
    const res = await fetch(`${opts.url.replace(/\/$/, '')}/v1/security/gitlab/check/${id}`);
    const body = (await res.json()) as { status?: string; message?: string };
    if (!res.ok) {
      io.err(`results answered ${res.status}: ${body.message ?? ''}`);
      return 2;
    }
    const status = body.status ?? 'unknown';
    if (!opts.wait || FINAL.has(status)) {
      io.out(status);
      return opts.wait ? (EXIT[status] ?? 3) : 0;
    }
    if (Date.now() > deadline) {
      io.out(status);
      return 3;
    }
    io.err(`${status}…`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(10_000, delay * 2);
  }
}

export async function webhookSendCommand(
  file: string,
  opts: { url: string; event: string; token: string | undefined; idempotencyKey?: string },
  io: Io,
): Promise<number> {
  if (!opts.token) {
    io.err('No webhook token: set SECBOT_WEBHOOK_TOKEN, or GITLAB_CONFIGS with a webhook_secret_token.');
    return 2;
  }
  const res = await fetch(`${opts.url.replace(/\/$/, '')}/v1/gitlab/webhook`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-gitlab-token': opts.token,
      'x-gitlab-event': opts.event,
      ...(opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {}),
    },
    body: readFileSync(file),
  });
  io.out(`${res.status} ${await res.text()}`);
  return res.ok ? 0 : 1;
}

export async function replayCommand(
  nats: Nats,
  stream: StreamSettings,
  opts: { check?: string; project?: string; since?: Date; until?: Date; json: boolean },
  io: Io,
): Promise<number> {
  const { events, invalid } = await readEvents(nats, stream, { since: opts.since, until: opts.until });
  const { stories, exceptions } = buildStories(events, { check: opts.check, project: opts.project });
  if (opts.json) {
    io.out(JSON.stringify({ stories, exceptions, invalidSequences: invalid }, null, 2));
    return stories.length || !opts.check ? 0 : 1;
  }
  if (!stories.length) io.err(opts.check ? `No event mentions ${opts.check} in the stream.` : 'No check in that range.');
  for (const s of stories) {
    io.out(`${s.securityCheckId}  ${s.project ?? '?'} @ ${s.commit?.slice(0, 12) ?? '?'}`);
    for (const e of s.entries) io.out(`  ${e.at}  #${e.seq}  ${e.type.padEnd(22)} ${e.text}`);
    io.out('');
  }
  if (exceptions.length) {
    io.out('Exceptions:');
    for (const e of exceptions) io.out(`  ${e.at}  #${e.seq}  ${e.type.padEnd(22)} ${e.text}`);
  }
  if (invalid.length) io.err(`${invalid.length} stored message(s) do not match their schema: sequences ${invalid.slice(0, 20).join(', ')}`);
  return stories.length || !opts.check ? 0 : 1;
}
