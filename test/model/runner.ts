/**
 * Runs model sequences in a process of its own, one JSON line per sequence on stdout:
 * `{"type":"stats",...}` or `{"type":"failure","seed":n,"message":"..."}` (then it stops).
 *
 *   node test/model/runner.ts '{"detector":"fake","seeds":[1,2,3],"steps":[1,3]}'
 *
 * The model test starts one runner per core: the work is mostly starting git processes, and one Node process
 * cannot start them from two cores at once.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGitleaksCli, resolveGitleaksBin } from '../../services/scanner-gitleaks/src/adapters/gitleaks/cli.ts';
import type { Detector } from '../../services/scanner-gitleaks/src/evaluate.ts';
import { gitleaksDetector } from '../../services/scanner-gitleaks/src/scan-component.ts';
import { FAKE_RULE, fakeDetector } from './fake-detector.ts';
import { createTemplate } from './generator.ts';
import { warmMirror } from './pipeline.ts';
import { runSequence } from './sequence.ts';

export interface RunnerConfig {
  detector: 'fake' | 'gitleaks';
  seeds: number[];
  steps: [number, number];
  /** Sequences run at once in this process (their git processes overlap with the JavaScript). */
  concurrency?: number;
  /** Printed in a failure, with the seed. */
  replay?: string;
}

export type RunnerLine = { type: 'stats'; stats: Awaited<ReturnType<typeof runSequence>> } | { type: 'failure'; seed: number; message: string };

const REPLAY = 'GATE_MODEL_SEED=<seed> vitest run --project int test/model/gate.model.int.test.ts';

async function main(config: RunnerConfig): Promise<number> {
  const work = await mkdtemp(join(tmpdir(), `gate-model-${config.detector}-`));
  // Stopped by the test (another runner failed, or a timeout): leave nothing behind.
  process.on('SIGTERM', () => {
    try {
      // Best effort: a git process of this runner may still be writing there.
      rmSync(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
    } finally {
      process.exit(143);
    }
  });
  try {
    const template = await createTemplate(join(work, 'template'));
    await warmMirror(template);
    const { detector, ruleId } = await detectorFor(config.detector, work);
    const emit = (line: RunnerLine) => process.stdout.write(`${JSON.stringify(line)}\n`);
    let next = 0;
    let failed = false;
    const worker = async () => {
      while (!failed && next < config.seeds.length) {
        const seed = config.seeds[next++]!;
        const replay = (config.replay ?? REPLAY).replace('<seed>', String(seed));
        try {
          emit({ type: 'stats', stats: await runSequence({ seed, template, workDir: work, detector, ruleId, scope: `model-${config.detector}`, steps: config.steps, replay }) });
        } catch (err) {
          failed = true;
          const message = err instanceof Error && err.name === 'ModelFailure' ? err.message : `sequence with seed ${seed} crashed (replay: ${replay}): ${err instanceof Error ? err.stack : String(err)}`;
          emit({ type: 'failure', seed, message });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(config.concurrency ?? 1, config.seeds.length)) }, worker));
    return failed ? 1 : 0;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The fake detector, or the real gitleaks with its built-in rules (as the scanner runs it). */
async function detectorFor(kind: RunnerConfig['detector'], work: string): Promise<{ detector: Detector; ruleId: string }> {
  if (kind === 'fake') return { detector: fakeDetector(), ruleId: FAKE_RULE };
  const configPath = join(work, 'gitleaks.toml');
  await writeFile(configPath, '[extend]\nuseDefault = true\n');
  const cwd = await mkdtemp(join(work, 'cwd-'));
  const cli = createGitleaksCli(resolveGitleaksBin(undefined));
  return { detector: gitleaksDetector(cli, { configPath, allowInline: false, maxTargetMegabytes: 10, timeoutSeconds: 60, cwd }), ruleId: 'aws-access-token' };
}

process.exitCode = await main(JSON.parse(process.argv[2] ?? '{}') as RunnerConfig);
