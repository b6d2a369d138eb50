import { spawn } from 'node:child_process';

export interface RunOptions {
  cwd?: string;
  env: Record<string, string>;
  timeoutMs: number;
  /** Written to stdin, then stdin is closed. */
  input?: string | Buffer;
  /** Bytes of stdout kept; more fails the run (protects memory from a runaway report). */
  maxStdoutBytes?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  /** The last 4 KiB of stderr. */
  stderr: string;
  timedOut: boolean;
  overflow: boolean;
}

/** Runs a program without a shell; arguments are never interpreted. Kills it (SIGKILL) after timeoutMs. */
export function run(command: string, args: string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let size = 0;
    let overflow = false;
    let stderr = '';
    let timedOut = false;
    const max = opts.maxStdoutBytes ?? 64 * 1024 * 1024;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        if (!overflow) child.kill('SIGKILL');
        overflow = true;
        return;
      }
      chunks.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString('utf8')).slice(-4096);
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(chunks), stderr, timedOut, overflow });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** The environment a child gets: only what it needs, so no variable of ours (a token) leaks into it. */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const pass = ['PATH', 'HOME', 'LANG', 'TMPDIR', 'HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'https_proxy', 'http_proxy', 'no_proxy', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'GIT_SSL_CAINFO'];
  const env: Record<string, string> = {};
  for (const k of pass) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return { ...env, ...extra };
}
