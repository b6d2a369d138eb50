import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** As @secbot/testing's ISOLATED_GIT_ENV (not imported: the runner processes stay light). */
const ISOLATED_GIT_ENV: Record<string, string> = {
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: join(tmpdir(), 'secbot-test-no-global-gitconfig'),
  GIT_TERMINAL_PROMPT: '0',
  GIT_AUTHOR_NAME: 'Model Author',
  GIT_AUTHOR_EMAIL: 'model@example.com',
  GIT_COMMITTER_NAME: 'Model Author',
  GIT_COMMITTER_EMAIL: 'model@example.com',
};

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs git without a shell, isolated from the machine's and user's git config. Never throws on exit codes. */
export function gitRun(cwd: string, args: string[], env: Record<string, string> = {}, input?: string): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      cwd,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: tmpdir(), LANG: 'C', ...ISOLATED_GIT_ENV, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** Runs git and returns its trimmed stdout; a non-zero exit is an error of the model itself. */
export async function gitOk(cwd: string, args: string[], env: Record<string, string> = {}, input?: string): Promise<string> {
  const r = await gitRun(cwd, args, env, input);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} failed (${r.code}) in ${cwd}: ${r.stderr.trim().slice(0, 500)}`);
  return r.stdout.trim();
}
