import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChangeRange } from '@secbot/contracts';
import type { Detector } from '../../services/scanner-gitleaks/src/evaluate.ts';
import { World, type Delivery, type Template } from './generator.ts';
import { Oracle } from './oracle.ts';
import { Gate, type CheckRecord } from './pipeline.ts';
import { Rng } from './random.ts';

export interface SequenceOptions {
  seed: number;
  /** The initial repositories (createTemplate), copied for the sequence. */
  template: Template;
  /** Where the sequence's directory is made (and removed afterwards). */
  workDir: string;
  detector: Detector;
  /** The rule id the detector reports the planted keys under (fingerprints depend on it). */
  ruleId: string;
  scope: string;
  /** How many random history changes (each pushed, each with its deliveries). */
  steps: [min: number, max: number];
  /** How to replay this sequence, for the failure message. */
  replay: string;
}

export interface SequenceStats {
  seed: number;
  commits: number;
  plants: number;
  deliveries: number;
  checks: number;
  failing: number;
  exceptions: number;
  /** Operations and notable cases of the history and of the deliveries, by name. */
  counts: Record<string, number>;
  ms: number;
}

export class ModelFailure extends Error {
  override name = 'ModelFailure';
}

const FINGERPRINT_KEY = 'model-fingerprint-key-0123456789';

/**
 * One model run: a random history built step by step, GitLab's deliveries about it held back, duplicated,
 * forged and delivered in random order, triage in between; after every delivery each check's status must be
 * what the oracle says (never `success` where it says `fail`), and again once every delivery is in.
 */
export async function runSequence(opts: SequenceOptions): Promise<SequenceStats> {
  const started = performance.now();
  const rng = new Rng(opts.seed);
  const dir = await mkdtemp(join(opts.workDir, `seq-${opts.seed}-`));
  try {
    const { world, deliveries: first } = await World.create(dir, opts.template, rng);
    const oracle = new Oracle(world, FINGERPRINT_KEY, opts.ruleId);
    const bump = (what: string) => {
      world.counts[what] = (world.counts[what] ?? 0) + 1;
    };
    // Mostly one scanner; sometimes two replicas (the second starts without a mirror) sharing the records.
    const dataDirs = rng.chance(0.25) ? [join(dir, 'scanner'), join(dir, 'scanner-2')] : [join(dir, 'scanner')];
    const packing = rng.chance(0.25) ? { looseRefLimit: rng.int(1, 8), looseObjectLimit: rng.int(1, 40) } : undefined;
    if (packing) bump('mirrors packing refs and objects');
    const gate = new Gate({ dataDirs, gitlab: world.bare, detector: opts.detector, fingerprintKey: FINGERPRINT_KEY, scope: opts.scope, ...(packing ? { packing } : {}) });
    if (dataDirs.length > 1) {
      world.trace.push('two scanner replicas');
      bump('two scanner replicas');
    }
    const excepted = new Set<string>();
    const pending: Delivery[] = [...first];
    const delivered: Delivery[] = [];
    let count = 0;

    const fail = (kind: string, detail: string): never => {
      throw new ModelFailure(
        `gate model ${kind} (seed ${opts.seed})\n` +
          `replay: ${opts.replay}\n${detail}\n` +
          `plants: ${world.plants.map((p) => `${p.label}@${world.name(p.commit)} in ${p.file} (${p.how})${excepted.has(oracle.fingerprint(p.key)) ? ' excepted' : ''}`).join('; ') || 'none'}\n` +
          `trace:\n  ${world.trace.join('\n  ')}`,
      );
    };

    const describe = (r: ChangeRange): string => {
      switch (r.kind) {
        case 'push':
          return `push ${r.ref} ${r.before ? world.name(r.before) : 'null'}..${world.name(r.after)}`;
        case 'tag':
          return `tag ${r.tag} at ${world.name(r.commit)}`;
        case 'merge_request':
          return `MR !${r.iid} ${r.sourceBranch} at ${world.name(r.lastCommit)} (oldrev ${r.oldrev ? world.name(r.oldrev) : 'null'})`;
      }
    };

    const checkAll = (final: boolean) => {
      const now = new Date();
      for (const record of gate.checks.values()) {
        const actual = gate.status(record, now);
        const expected = oracle.expected(record.commit, excepted);
        if (actual === expected) continue;
        const kind = actual === 'success' ? 'GATE HOLE: success where the rule says fail' : `mismatch: ${actual} where the rule says ${expected}`;
        fail(kind, `${final ? 'after all deliveries' : `after delivery #${count}`}: commit ${world.name(record.commit)} ${explain(record)}`);
      }
    };

    const explain = (record: CheckRecord): string => {
      const blocking = Object.values(record.state.outputs).flatMap((o) => o.blocking);
      const scans = Object.values(record.state.scans).map((s) => `${s.status}${s.reason ? ` (${s.reason})` : ''}`);
      return (
        `(${record.evaluations} evaluation(s); scan ${scans.join(', ')})\n` +
        `  history carries: ${oracle.carried(record.commit).map((p) => `${p.label}@${world.name(p.commit)}`).join(', ') || 'nothing'}\n` +
        `  check blocks on: ${blocking.map((f) => `${world.plants.find((p) => oracle.fingerprint(p.key) === f.fingerprint)?.label ?? f.fingerprint}@${world.name(f.commit)} ${f.file}:${f.startLine}`).join(', ') || 'nothing'}`
      );
    };

    const deliverOne = async () => {
      const d = pending.splice(rng.int(0, pending.length - 1), 1)[0]!;
      const range = forge(d.range);
      bump(`${range.kind} delivery`);
      count++;
      const replica = rng.int(0, dataDirs.length - 1);
      if (rng.chance(0.03)) {
        await gate.loseMirror(replica);
        world.trace.push(`scanner${dataDirs.length > 1 ? ` replica ${replica + 1}` : ''} restarted without its mirror`);
        bump('mirror lost');
      }
      world.trace.push(`#${count} deliver ${describe(range)}${dataDirs.length > 1 ? ` to replica ${replica + 1}` : ''}`);
      delivered.push(d);
      const { reason } = await gate.deliver(range, replica);
      if (reason) world.trace.push(`   → scan error: ${reason}`);
      checkAll(false);
    };

    /** The claimed `before` (and MR `oldrev`) decides nothing: honest, another commit, null, `after`, unknown. */
    const forge = (range: ChangeRange): ChangeRange => {
      if (range.kind === 'tag' || !rng.chance(0.35)) return range;
      const pick = rng.weighted({ other: 3, null: 1, same: 1, unknown: 1 });
      const head = range.kind === 'push' ? range.after : range.lastCommit;
      const claimed =
        pick === 'other'
          ? rng.pick([...world.commits.keys()])
          : pick === 'null'
            ? null
            : pick === 'same'
              ? head
              : Array.from({ length: 40 }, () => '0123456789abcdef'[rng.int(0, 15)]).join('');
      bump(`forged ${range.kind === 'push' ? 'before' : 'oldrev'}: ${pick}`);
      return range.kind === 'push' ? { ...range, before: claimed } : { ...range, oldrev: claimed };
    };

    const triage = () => {
      // Mostly a planted key (found or not yet); sometimes the same fingerprint in another project, which must not count.
      if (world.plants.length === 0) return;
      const plant = rng.pick(world.plants);
      const fp = oracle.fingerprint(plant.key);
      if (rng.chance(0.2)) {
        gate.except(fp, 'model/other-project');
        world.trace.push(`triage: exception for ${plant.label} in another project`);
      } else {
        gate.except(fp);
        excepted.add(fp);
        world.trace.push(`triage: exception for ${plant.label}`);
      }
      checkAll(false);
    };

    const steps = rng.int(opts.steps[0], opts.steps[1]);
    for (let i = 0; i < steps; i++) {
      for (const d of await world.step()) {
        if (rng.chance(0.2)) {
          // A lost webhook: a later commit's evaluation must cover this one's commits by itself.
          world.trace.push(`lost: ${describe(d.range)}`);
          bump('lost delivery');
          continue;
        }
        pending.push(d);
        if (rng.chance(0.12)) {
          pending.push(d); // a duplicate delivery
          bump('duplicate delivery');
        }
      }
      if (rng.chance(0.2)) triage();
      // Some deliveries now, in random order; the rest wait (late events, after later pushes).
      for (let k = rng.int(0, Math.min(2, pending.length)); k > 0; k--) await deliverOne();
      if (delivered.length && rng.chance(0.08)) {
        pending.push(rng.pick(delivered)); // redelivered much later
        bump('late redelivery');
      }
    }
    while (pending.length) {
      await deliverOne();
      if (rng.chance(0.1)) triage();
    }
    checkAll(true);
    const now = new Date();
    const checks = [...gate.checks.values()];
    return {
      seed: opts.seed,
      commits: world.commits.size,
      plants: world.plants.length,
      deliveries: count,
      checks: checks.length,
      failing: checks.filter((c) => gate.status(c, now) === 'fail').length,
      exceptions: gate.exceptions.length,
      counts: world.counts,
      ms: Math.round(performance.now() - started),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
