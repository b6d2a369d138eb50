import { spawn, type ChildProcess } from 'node:child_process';

const repoRoot = new URL('../../../', import.meta.url).pathname;

export interface ServiceProcess {
  name: string;
  /** Everything the process wrote, stdout and stderr. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Runs `services/<name>/src/main.ts` as its own process from the repository root, as `make up` does. */
export function spawnService(name: string, env: Record<string, string>): ServiceProcess {
  let out = '';
  const proc: ChildProcess = spawn(process.execPath, [`services/${name}/src/main.ts`], {
    cwd: repoRoot,
    // Tests run with development settings (the repository's .env.dev) unless they say otherwise.
    env: { ...process.env, SECBOT_ENV: 'development', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    name,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Waits until GET url answers 200, or the process exits, or the timeout passes. */
export async function waitForReady(url: string, proc: ServiceProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void proc.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${proc.name} exited before it was ready:\n${proc.output().slice(-2000)}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc.name} was not ready at ${url} within ${timeoutMs} ms:\n${proc.output().slice(-2000)}`);
}
