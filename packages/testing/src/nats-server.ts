import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface PrivateNatsServer {
  url: string;
  stop(): Promise<void>;
}

/**
 * A nats-server of its own (JetStream, temp data dir) for tests that stop the broker on purpose, or that need
 * a configuration of their own (`config`: nats-server.conf text, e.g. users and permissions; `env`: variables
 * it references). `log()` returns what the server logged (permission violations among it).
 */
export async function startPrivateNatsServer(opts: { config?: string; env?: Record<string, string> } = {}): Promise<PrivateNatsServer & { log(): string }> {
  const bin = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'].find(existsSync) ?? 'nats-server';
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'secbot-nats-'));
  const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir];
  if (opts.config !== undefined) {
    writeFileSync(join(dir, 'nats-server.conf'), opts.config);
    args.unshift('-c', join(dir, 'nats-server.conf'));
  }
  let log = '';
  const proc: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...opts.env } });
  proc.stderr?.on('data', (b: Buffer) => (log += b.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('nats-server did not start within 10 s')), 10_000);
    let out = '';
    proc.stderr?.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('Server is ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => reject(new Error(`nats-server exited (${code}): ${out.slice(-500)}`)));
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    log: () => log,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
