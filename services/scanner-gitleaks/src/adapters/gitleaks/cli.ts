import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childEnv, run } from '../process/run.ts';

/** The pinned version; scripts/install-gitleaks.sh installs it into <repo>/.tools/bin. */
export const GITLEAKS_VERSION = 'v8.30.1';

/**
 * gitleaks' exit code for "leaks found". Not 1 (gitleaks' errors and timeouts) and not 2 either: a Go panic
 * (e.g. an invalid regex in the rules) exits with 2 and an empty report, which would read as "no findings".
 */
export const LEAKS_EXIT_CODE = 42;

export interface GitleaksScan {
  /** `stdin`: the text in `input` (never written to disk). */
  mode: 'git' | 'dir' | 'stdin';
  input?: Buffer;
  /** The bare mirror (git) or the exported tree (dir). */
  source: string;
  /** `git log` revisions for git mode: they replace gitleaks' defaults (`--all` ...), see contracts.md 3.6. */
  logOpts?: string[];
  configPath: string;
  /** A .gitleaksignore to honour; without it none applies (the working directory is an empty temp dir). */
  ignorePath?: string;
  allowInline: boolean;
  maxTargetMegabytes: number;
  timeoutSeconds: number;
  /** An empty private directory: gitleaks looks for `./.gitleaksignore` there by default. */
  cwd: string;
}

export type GitleaksOutcome =
  | { status: 'clean' }
  | { status: 'leaks'; report: string }
  | { status: 'error'; reason: string };

export interface GitleaksCli {
  bin: string;
  version(): Promise<string>;
  scan(scan: GitleaksScan): Promise<GitleaksOutcome>;
}

/** `GITLEAKS_BIN`, else `<repo>/.tools/bin/gitleaks` when installed, else `gitleaks` on PATH. */
export function resolveGitleaksBin(configured: string | undefined): string {
  if (configured) return configured;
  const local = fileURLToPath(new URL('../../../../../.tools/bin/gitleaks', import.meta.url));
  return existsSync(local) ? local : 'gitleaks';
}

/**
 * The only code that knows gitleaks' flags. Exit codes (cmd/root.go): 0 clean, `--exit-code` (LEAKS_EXIT_CODE)
 * leaks, anything else an error — 1 is also what a timeout or a bad config gives, 2 a panic.
 *
 * The report goes to stdout (`--report-path -`) without `--redact`: SecBot needs the secret in memory, once,
 * to compute the fingerprint, and a pipe leaves nothing on disk even if the scanner is killed mid-scan. The
 * report is redacted in-process (findings.ts) before anything is published or stored.
 */
export function createGitleaksCli(bin: string): GitleaksCli {
  let version: Promise<string> | undefined;
  return {
    bin,
    version() {
      version ??= run(bin, ['version'], { env: childEnv(), timeoutMs: 10_000 }).then(
        (r) => {
          if (r.code !== 0) throw new Error(`${bin} version exited with ${r.code}: ${r.stderr.trim().slice(0, 200)}`);
          return r.stdout.toString('utf8').trim();
        },
        (err: NodeJS.ErrnoException) => {
          throw new Error(`gitleaks is not installed at ${bin} (${err.code ?? err.message}). Run scripts/install-gitleaks.sh or set GITLEAKS_BIN.`);
        },
      );
      return version;
    },
    async scan(s) {
      const args = [
        s.mode,
        ...(s.mode === 'stdin' ? [] : [s.source]),
        '--config',
        s.configPath,
        '--report-format',
        'json',
        '--report-path',
        '-',
        '--exit-code',
        String(LEAKS_EXIT_CODE),
        '--no-banner',
        '--no-color',
        '--log-level',
        'error',
        '--timeout',
        String(s.timeoutSeconds),
        '--max-target-megabytes',
        String(s.maxTargetMegabytes),
        ...(s.allowInline ? [] : ['--ignore-gitleaks-allow']),
        ...(s.ignorePath ? ['--gitleaks-ignore-path', s.ignorePath] : []),
        // gitleaks splits --log-opts on single spaces and passes the words to `git log` (no shell).
        ...(s.mode === 'git' ? [`--log-opts=${(s.logOpts ?? []).join(' ')}`] : []),
      ];
      const r = await run(bin, args, {
        cwd: s.cwd,
        // No GITLEAKS_CONFIG* from our environment: --config is the only source of rules.
        // No user or system git config for the `git log` gitleaks runs (a missing file reads as empty).
        env: childEnv({ HOME: s.cwd, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: join(s.cwd, 'no-gitconfig') }),
        // gitleaks checks --timeout only between files, so one large file can overrun it: stop it shortly after.
        timeoutMs: s.timeoutSeconds * 1000 + 5000,
        maxStdoutBytes: 256 * 1024 * 1024,
        ...(s.mode === 'stdin' ? { input: s.input ?? Buffer.alloc(0) } : {}),
      });
      const stderr = lastLine(r.stderr);
      if (r.timedOut) return { status: 'error', reason: timeoutReason(s.timeoutSeconds) };
      if (r.overflow) return { status: 'error', reason: 'The gitleaks report is larger than 256 MiB; narrow the rules or the range.' };
      // gitleaks exits 0 with `[]` when its `git log` fails (e.g. a bad revision): it only logs `ERR [git] fatal: ...`.
      // At --log-level error any log line is such an error, so a clean exit with one is a failed scan, not a clean one.
      const logged = errorLines(r.stderr);
      if ((r.code === 0 || r.code === LEAKS_EXIT_CODE) && logged.length > 0)
        return { status: 'error', reason: `gitleaks reported an error, so its result may be incomplete: ${logged.slice(0, 2).join(' / ')}` };
      if (r.code === 0) return { status: 'clean' };
      if (r.code === LEAKS_EXIT_CODE) {
        const report = r.stdout.toString('utf8');
        if (!report.trimStart().startsWith('[')) return { status: 'error', reason: 'gitleaks said it found leaks but wrote no JSON report.' };
        return { status: 'leaks', report };
      }
      const panic = /^panic: .*/m.exec(r.stderr)?.[0];
      if (panic) return { status: 'error', reason: `gitleaks crashed (check the component's gitleaks_config): ${panic.slice(0, 300)}` };
      if (/timeout|deadline exceeded/i.test(r.stderr))
        return { status: 'error', reason: timeoutReason(s.timeoutSeconds) };
      return { status: 'error', reason: `gitleaks failed (exit ${r.code ?? r.signal}): ${stderr}` };
    },
  };
}

const timeoutReason = (seconds: number): string =>
  `gitleaks was stopped at its ${seconds} s timeout before finishing; the result would be partial. Raise timeout_seconds of this component, or lower max_target_megabytes.`;

// Without colours; gitleaks never prints findings to stderr without --verbose.
const stderrLines = (stderr: string): string[] =>
  stderr
    .replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

const lastLine = (stderr: string): string => (stderrLines(stderr).at(-1) ?? 'no output').slice(0, 300);

const errorLines = (stderr: string): string[] => stderrLines(stderr).filter((l) => /\b(ERR|FTL)\b|^panic:/.test(l)).map((l) => l.slice(0, 300));
