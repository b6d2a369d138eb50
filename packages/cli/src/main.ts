#!/usr/bin/env node
// secbot: audit and operate SecBot from a shell. `secbot help` lists the commands.
import { parseArgs } from 'node:util';
import { databaseConfig, openDatabase, projectionName, rebuildProjection, ResultsSettings } from '@secbot/results';
import { closeNats, CommonSettings, connectNats, createLogger, GitLabConfigs, loadEnvironment, natsAuthFrom, readSettings, streamSettingsFrom, ConfigError } from '@secbot/service-kit';
import { checkIdCommand, configValidateCommand, replayCommand, statusCommand, webhookSendCommand, type Io } from './commands.ts';
import { ENROLL_USAGE, enrollCommand, enrollRequest } from './enroll.ts';

const HELP = `secbot — audit and operate SecBot

  secbot replay [--check ID | --project PATH] [--since TIME] [--until TIME] [--json]
      the timeline of each check, read from the event stream (not the projection)
  secbot projection rebuild [--schema NAME]
      rebuild the results projection from the stream into a fresh schema, then switch to it (no pause in reads)
  secbot check-id --host HOST --project PATH --sha SHA [--prefix GIT_LOCAL]
  secbot status ID [--wait] [--timeout SECONDS] [--url RESULTS_URL]
  secbot config validate [FILE]
  secbot webhook send FILE [--event "System Hook"] [--url INTAKE_URL]     (token: SECBOT_WEBHOOK_TOKEN or GITLAB_CONFIGS)
  secbot enroll --host HOST --project PATH --accept-history [--branch BRANCH]... [--reason TEXT] [--actor NAME]
                [--no-wait] [--timeout SECONDS]
      accept the project's existing history as its baseline, for adopting SecBot on a noisy project:
      scanner-gitleaks scans the branches (default: the project's default branch) and every secret it finds
      there for the first time is reported but never blocks. Secrets SecBot had already found keep blocking,
      and so does every secret committed afterwards. --accept-history is required: it is that acknowledgement.
      Publishes project.enrolled (actor: --actor, else SECBOT_ACTOR, else the OS user) and waits (default 600 s)
      until the scanner's project record (KV bucket SCANNER_PROJECTS_BUCKET, default secbot-projects) holds the
      enrollment, then prints the branch heads and the number of baseline findings.
      Exit 0 enrolled (or published, with --no-wait), 1 failed or timed out, 2 usage.

Settings come from .env.dev, .env.override and the environment, as for the services.`;

const io: Io = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      check: { type: 'string' },
      project: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      json: { type: 'boolean', default: false },
      schema: { type: 'string' },
      host: { type: 'string' },
      sha: { type: 'string' },
      prefix: { type: 'string' },
      wait: { type: 'boolean', default: false },
      timeout: { type: 'string' },
      url: { type: 'string' },
      event: { type: 'string' },
      branch: { type: 'string', multiple: true },
      reason: { type: 'string' },
      actor: { type: 'string' },
      'accept-history': { type: 'boolean', default: false },
      'no-wait': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, sub, arg] = positionals;
  const env = loadEnvironment();
  const date = (v: string | undefined, name: string) => {
    if (v === undefined) return undefined;
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw new ConfigError('Arguments', [`--${name}: not a date/time (e.g. 2026-11-23T09:00:00Z)`]);
    return d;
  };
  const resultsUrl = values.url ?? env['RESULTS_PUBLIC_URL'] ?? `http://127.0.0.1:${env['RESULTS_PORT'] ?? '5001'}`;

  switch (command) {
    case undefined:
    case 'help':
      io.out(HELP);
      return 0;
    case 'check-id':
      return checkIdCommand(values, io);
    case 'status':
      if (!sub) return usage('secbot status ID [--wait]');
      return statusCommand(sub, { url: resultsUrl, wait: values.wait, timeoutSeconds: Number(values.timeout ?? 900) }, io);
    case 'config':
      if (sub !== 'validate') return usage('secbot config validate [FILE]');
      return configValidateCommand(arg ?? env['SECBOT_CONFIG'] ?? './config.yml', env, io);
    case 'webhook': {
      if (sub !== 'send' || !arg) return usage('secbot webhook send FILE [--event "System Hook"]');
      let token = env['SECBOT_WEBHOOK_TOKEN'];
      if (!token && env['GITLAB_CONFIGS']) token = GitLabConfigs.safeParse(env['GITLAB_CONFIGS']).data?.[0]?.webhook_secret_token;
      const url = values.url ?? `http://127.0.0.1:${env['INTAKE_PORT'] ?? '5000'}`;
      return webhookSendCommand(arg, { url, event: values.event ?? 'System Hook', token }, io);
    }
    case 'replay': {
      const settings = readSettings(CommonSettings, env);
      const log = createLogger({ service: 'secbot-cli', level: 'warn', destination: { write: (s: string) => process.stderr.write(s) } });
      const nats = await connectNats(settings.SECBOT_NATS_URL, 'secbot-cli', log, natsAuthFrom(settings));
      try {
        return await replayCommand(nats, streamSettingsFrom(settings), { check: values.check, project: values.project, since: date(values.since, 'since'), until: date(values.until, 'until'), json: values.json }, io);
      } finally {
        await closeNats(nats);
      }
    }
    case 'enroll': {
      if (sub) return usage(`secbot enroll takes no positional argument (got ${JSON.stringify(sub)})\n${ENROLL_USAGE}`);
      const built = enrollRequest(values, env);
      if (!built.ok) return usage([...built.problems.map((p) => `secbot enroll: ${p}`), ENROLL_USAGE].join('\n'));
      const settings = readSettings(CommonSettings, env);
      const log = createLogger({ service: 'secbot-cli', level: 'warn', destination: { write: (s: string) => process.stderr.write(s) } });
      const nats = await connectNats(settings.SECBOT_NATS_URL, 'secbot-cli', log, natsAuthFrom(settings));
      try {
        return await enrollCommand(nats, streamSettingsFrom(settings), built.request, io);
      } finally {
        await closeNats(nats);
      }
    }
    case 'projection': {
      if (sub !== 'rebuild') return usage('secbot projection rebuild [--schema NAME]');
      const settings = readSettings(ResultsSettings, env);
      const log = createLogger({ service: 'secbot-cli', level: 'warn', destination: { write: (s: string) => process.stderr.write(s) } });
      const nats = await connectNats(settings.SECBOT_NATS_URL, 'secbot-cli', log, natsAuthFrom(settings));
      const db = await openDatabase(databaseConfig(settings), log);
      try {
        let shown = 0;
        const result = await rebuildProjection({
          nats,
          stream: streamSettingsFrom(settings),
          db,
          projectionName: projectionName(settings),
          ...(values.schema ? { schema: values.schema } : {}),
          log,
          onProgress: (seq, target) => {
            if (seq - shown >= 10_000 || seq === target) {
              shown = seq;
              io.err(`  ${seq} / ${target}`);
            }
          },
        });
        io.out(`rebuilt ${result.events} events into schema ${result.schema} in ${result.seconds.toFixed(2)} s (${result.eventsPerSecond} events/s)`);
        io.out(`results now reads from ${result.schema}; the previous schema ${result.fromSchema} is kept`);
        return 0;
      } finally {
        await db.close();
        await closeNats(nats);
      }
    }
    default:
      return usage(HELP);
  }
}

function usage(text: string): number {
  io.err(text);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    io.err(err instanceof ConfigError ? err.message : `secbot: ${(err as Error).message}`);
    process.exit(err instanceof ConfigError ? 2 : 1);
  },
);
