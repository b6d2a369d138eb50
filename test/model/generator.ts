import { existsSync } from 'node:fs';
import { appendFile, cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { ChangeRange } from '@secbot/contracts';
import { gitOk, gitRun } from './git.ts';
import { seededAwsKey, type Rng } from './random.ts';

/** Where a key entered the history: the commit whose own change added the line holding it. */
export interface Plant {
  key: string;
  /** K1, K2, ...: how traces name the key. */
  label: string;
  commit: string;
  file: string;
  how: 'commit' | 'replay' | 'resolution' | 'evil-merge' | 'octopus';
}

export interface CommitNode {
  sha: string;
  parents: string[];
  label: string;
}

/** What GitLab would send about a change: a push, a tag push or a merge request update. */
export interface Delivery {
  range: ChangeRange;
}

type Op = 'work' | 'branch' | 'merge' | 'octopus' | 'rewrite' | 'tag' | 'mr' | 'delete';

const OP_WEIGHTS: Record<Op, number> = { work: 3, branch: 1.5, merge: 5, octopus: 1, rewrite: 2, tag: 1, mr: 2, delete: 0.3 };

const HOT_FILE = 'src/app.txt';

const INITIAL_FILES: Record<string, string> = {
  'src/app.txt': 'alpha\nbravo\ncharlie\ndelta\necho\nfoxtrot\n',
  'src/lib.txt': 'golf\nhotel\nindia\njuliett\nkilo\nlima\n',
  'conf/settings.txt': 'mike\nnovember\noscar\npapa\nquebec\nromeo\n',
};

/**
 * A working repository with main's initial commit and "GitLab" (a bare repository, `gitlab.git`) with main,
 * made once and copied for each world, with whatever else was put in its directory (the scanner's mirror).
 */
export interface Template {
  dir: string;
  root: string;
}

export async function createTemplate(dir: string): Promise<Template> {
  const work = join(dir, 'work');
  const bare = join(dir, 'gitlab.git');
  await mkdir(dir, { recursive: true });
  await gitOk(dir, ['init', '-q', '--template=', '--bare', bare]);
  // GitLab serves commits no branch holds any more (keep-around refs); no gc may drop them meanwhile.
  await appendFile(join(bare, 'config'), '[uploadpack]\n\tallowAnySHA1InWant = true\n[gc]\n\tauto = 0\n');
  await gitOk(dir, ['init', '-q', '--template=', '-b', 'main', work]);
  await appendFile(join(work, '.git', 'config'), '[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n[commit]\n\tgpgsign = false\n[core]\n\tautocrlf = false\n');
  for (const [path, text] of Object.entries(INITIAL_FILES)) {
    await mkdir(dirname(join(work, path)), { recursive: true });
    await writeFile(join(work, path), text);
  }
  await gitOk(work, ['add', '-A']);
  const date = '@1699999999 +0000';
  await gitOk(work, ['commit', '-q', '-m', 'c1 initial'], { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date });
  const root = (await readFile(join(work, '.git', 'refs', 'heads', 'main'), 'utf8')).trim();
  await mkdir(join(bare, 'objects', 'info'), { recursive: true });
  await writeFile(join(bare, 'objects', 'info', 'alternates'), `${join(work, '.git', 'objects')}\n`);
  await gitOk(bare, ['update-ref', 'refs/heads/main', root]);
  return { dir, root };
}

/**
 * A random commit graph in a real working repository, pushed to a local bare repository that plays GitLab
 * (a fetch accepts its path as URL; it borrows the working repository's objects, so a push is an update of
 * its refs, see publish()). Each step is one random change of the history (commits, merges with
 * conflict resolutions, evil and octopus merges, force pushes, tags, merge requests, branch deletions) and
 * returns what GitLab would deliver about it. Every key is planted by the model, which records the commit
 * whose own change added it: the oracle is built from that record, never from a scanner.
 */
export class World {
  readonly commits = new Map<string, CommitNode>();
  /** Branch → tip, as GitLab has it (every step ends with a push). */
  readonly branches = new Map<string, string>();
  readonly plants: Plant[] = [];
  readonly trace: string[] = [];
  /** What the history has: operations and the notable cases (conflicts, keys in resolutions, ...). */
  readonly counts: Record<string, number> = {};
  /** Branch → tip in the working repository. */
  private readonly local = new Map<string, string>();
  /** Ref updates for "GitLab" made by the current step, applied at its end in one transaction. */
  private readonly refUpdates: string[] = [];
  /** Whether files were created since the last commit (`commit -a` does not add them). */
  private created = false;
  private readonly keyLabels = new Map<string, string>();
  private readonly mrs = new Map<string, { iid: number; head: string }>();
  private readonly ancestorMemo = new Map<string, ReadonlySet<string>>();
  private counter = 0;
  private clock = 1_700_000_000;
  private current = 'main';

  private readonly rng: Rng;
  readonly work: string;
  readonly bare: string;

  private constructor(rng: Rng, work: string, bare: string) {
    this.rng = rng;
    this.work = work;
    this.bare = bare;
  }

  /**
   * A new world from the template (see createTemplate), copied into `dir`: main with the initial commit, in
   * the working repository and in "GitLab".
   */
  static async create(dir: string, template: Template, rng: Rng): Promise<{ world: World; deliveries: Delivery[] }> {
    await cp(template.dir, dir, { recursive: true });
    const work = join(dir, 'work');
    const bare = join(dir, 'gitlab.git');
    await writeFile(join(bare, 'objects', 'info', 'alternates'), `${join(work, '.git', 'objects')}\n`);
    const world = new World(rng, work, bare);
    world.commits.set(template.root, { sha: template.root, parents: [], label: 'c1' });
    world.local.set('main', template.root);
    world.branches.set('main', template.root);
    world.trace.push(`init main → c1`);
    // The first push of main is delivered in half of the worlds (or, in the others, never: a missed webhook).
    const first: Delivery = { range: { kind: 'push', ref: 'refs/heads/main', before: null, after: template.root } };
    return { world, deliveries: rng.chance(0.5) ? [first] : [] };
  }

  /** One random change of the history, pushed; returns what GitLab delivers about it. */
  async step(): Promise<Delivery[]> {
    for (;;) {
      const op = this.rng.weighted(OP_WEIGHTS);
      const out = await this.run(op);
      if (!out) continue;
      await this.publish();
      this.tally(op);
      return out;
    }
  }

  private tally(what: string): void {
    this.counts[what] = (this.counts[what] ?? 0) + 1;
  }

  /** The commits `sha` carries: itself and every ancestor. */
  ancestorsOf(sha: string): ReadonlySet<string> {
    const memo = this.ancestorMemo.get(sha);
    if (memo) return memo;
    // Iterative, parents before children, so deep histories do not recurse.
    const order: string[] = [];
    const seen = new Set<string>();
    const stack = [sha];
    while (stack.length) {
      const c = stack.pop()!;
      if (seen.has(c) || this.ancestorMemo.has(c)) continue;
      seen.add(c);
      order.push(c);
      for (const p of this.node(c).parents) stack.push(p);
    }
    for (const c of order.reverse()) {
      if (this.ancestorMemo.has(c)) continue;
      const set = new Set<string>([c]);
      for (const p of this.node(c).parents) for (const a of this.ancestorMemo.get(p) ?? this.ancestorsOf(p)) set.add(a);
      this.ancestorMemo.set(c, set);
    }
    return this.ancestorMemo.get(sha)!;
  }

  name(sha: string): string {
    return this.commits.get(sha)?.label ?? (/^0+$/.test(sha) ? 'zeros' : `unknown:${sha.slice(0, 8)}`);
  }

  keyLabel(key: string): string {
    return this.keyLabels.get(key) ?? '?';
  }

  private node(sha: string): CommitNode {
    const n = this.commits.get(sha);
    if (!n) throw new Error(`the model does not know commit ${sha}`);
    return n;
  }

  private async run(op: Op): Promise<Delivery[] | null> {
    const branchNames = [...this.branches.keys()];
    switch (op) {
      case 'work': {
        const branch = this.rng.pick(branchNames);
        await this.checkout(branch);
        const n = this.rng.int(1, 3);
        const made: string[] = [];
        for (let i = 0; i < n; i++) made.push(this.name(await this.ordinaryCommit(`work ${branch}`)));
        this.trace.push(`work on ${branch}: ${made.join(', ')}`);
        return [this.push(branch)];
      }
      case 'branch': {
        // Mostly from a commit some branch holds; sometimes from one a force push dropped (it comes back).
        const all = [...this.commits.keys()];
        const start = this.rng.chance(0.8) ? this.rng.pick([...this.reachable()]) : this.rng.pick(all);
        const branch = `b${++this.counter}`;
        await gitOk(this.work, ['checkout', '-q', '-b', branch, start]);
        this.current = branch;
        this.local.set(branch, start);
        const made: string[] = [];
        for (let i = this.rng.int(0, 2); i > 0; i--) made.push(this.name(await this.ordinaryCommit(`work ${branch}`)));
        this.trace.push(`new branch ${branch} at ${this.name(start)}${made.length ? `: ${made.join(', ')}` : ''}`);
        return [this.push(branch)];
      }
      case 'merge':
        return this.merge(branchNames);
      case 'octopus':
        return this.octopus(branchNames);
      case 'rewrite':
        return this.rewrite(branchNames);
      case 'tag': {
        const sha = this.rng.chance(0.85) ? this.rng.pick([...this.reachable()]) : this.rng.pick([...this.commits.keys()]);
        const tag = `v${++this.counter}`;
        let tagObject = sha;
        if (this.rng.chance(0.5)) {
          await gitOk(this.work, ['tag', '-a', '-m', `release ${tag}`, tag, sha], this.dateEnv());
          tagObject = (await readFile(join(this.work, '.git', 'refs', 'tags', tag), 'utf8')).trim();
        }
        this.refUpdates.push(`create refs/tags/${tag} ${tagObject}`);
        this.trace.push(`tag ${tag} → ${this.name(sha)}${tagObject === sha ? '' : ' (annotated)'}`);
        return [{ range: { kind: 'tag', ref: `refs/tags/${tag}`, tag, commit: sha, tagObject } }];
      }
      case 'mr': {
        const sources = branchNames.filter((b) => b !== 'main');
        if (sources.length === 0) return null;
        const source = this.rng.pick(sources);
        const head = this.branches.get(source)!;
        const previous = this.mrs.get(source);
        const iid = previous?.iid ?? this.mrs.size + 1;
        const headRef = `refs/merge-requests/${iid}/head`;
        this.refUpdates.push(`update ${headRef} ${head}`);
        this.mrs.set(source, { iid, head });
        this.trace.push(`merge request !${iid} ${source} → main at ${this.name(head)}`);
        const range: ChangeRange = {
          kind: 'merge_request',
          iid,
          targetBranch: 'main',
          sourceBranch: source,
          sourceGitHttpUrl: null,
          headRef,
          lastCommit: head,
          oldrev: previous && previous.head !== head ? previous.head : null,
        };
        return [{ range }];
      }
      case 'delete': {
        const candidates = branchNames.filter((b) => b !== 'main');
        if (candidates.length < 2) return null;
        const branch = this.rng.pick(candidates);
        // Gone from GitLab; the working repository keeps it (names are never reused).
        this.refUpdates.push(`delete refs/heads/${branch}`);
        this.branches.delete(branch);
        this.trace.push(`delete branch ${branch}`);
        return [];
      }
    }
  }

  /** Merges one branch into another; conflicts are resolved by hand, sometimes with a key in the resolution. */
  private async merge(branchNames: string[]): Promise<Delivery[] | null> {
    const target = this.rng.pick(branchNames);
    const tip = this.branches.get(target)!;
    const sources = branchNames.filter((b) => !this.ancestorsOf(tip).has(this.branches.get(b)!));
    const deliveries: Delivery[] = [];
    const setup: string[] = [];
    let source: string;
    if (sources.length === 0 || this.rng.chance(0.3)) {
      // A topic branch for this merge, from the target's tip or a little before it.
      let start = tip;
      for (let i = this.rng.int(0, 2); i > 0; i--) start = this.node(start).parents[0] ?? start;
      source = `t${++this.counter}`;
      await gitOk(this.work, ['checkout', '-q', '-b', source, start]);
      this.current = source;
      this.local.set(source, start);
      setup.push(`topic ${source} at ${this.name(start)}: ${this.name(await this.ordinaryCommit(`topic ${source}`))}`);
    } else source = this.rng.pick(sources);
    if (this.rng.chance(0.6)) {
      // Both sides change the same line: a conflict.
      const line = this.rng.int(0, 2);
      await this.checkout(source);
      setup.push(`${source} changes ${HOT_FILE}:${line + 1} in ${this.name(await this.hotEdit(line, 'theirs'))}`);
      await this.checkout(target);
      setup.push(`${target} changes it in ${this.name(await this.hotEdit(line, 'ours'))}`);
    }
    if (this.local.get(source) !== this.branches.get(source)) deliveries.push(this.push(source));
    const theirs = this.local.get(source)!;
    if (setup.length) this.trace.push(`before merging: ${setup.join('; ')}`);
    await this.checkout(target);
    const r = await gitRun(this.work, ['merge', '--no-commit', '--no-ff', '-q', theirs]);
    const conflicted = (await gitOk(this.work, ['diff', '--name-only', '--diff-filter=U'])).split('\n').filter(Boolean);
    if (r.code !== 0 && conflicted.length === 0) throw new Error(`git merge failed without conflicts: ${r.stderr}`);
    const planted: Array<Omit<Plant, 'commit'>> = [];
    const withMarkers: string[] = [];
    for (const path of conflicted) {
      const abs = join(this.work, path);
      if (!existsSync(abs)) continue;
      const text = await readFile(abs, 'utf8');
      if (text.includes('<<<<<<< ')) withMarkers.push(path);
      else await writeFile(abs, text); // modify/delete: keep the modified file
    }
    const plantIn = withMarkers.length && this.rng.chance(0.45) ? this.rng.pick(withMarkers) : null;
    const choices: string[] = [];
    for (const path of withMarkers) {
      const key = path === plantIn ? this.newKey() : null;
      const { text, choice } = this.resolve(await readFile(join(this.work, path), 'utf8'), key);
      choices.push(`${path}:${choice}`);
      await writeFile(join(this.work, path), text);
      if (key) planted.push({ key, label: this.keyLabel(key), file: path, how: 'resolution' });
    }
    if (!plantIn && this.rng.chance(conflicted.length ? 0.15 : 0.35)) planted.push(await this.plantSomewhere('evil-merge'));
    const sha = await this.commit(`merge ${source} into ${target}`, planted);
    if (conflicted.length) this.tally('merge with conflicts');
    for (const p of planted) this.tally(p.how === 'resolution' ? 'key in a conflict resolution' : 'key in an evil merge');
    this.trace.push(
      `merge ${source} (${this.name(theirs)}) into ${target} → ${this.name(sha)}` +
        (conflicted.length ? ` conflicts [${conflicted.join(', ')}] resolved ${choices.join(' ')}` : '') +
        (planted.length ? ` plants ${planted.map((p) => `${p.label} in ${p.file} (${p.how})`).join(', ')}` : ''),
    );
    deliveries.push(this.push(target));
    return deliveries;
  }

  /** An octopus merge of two branches (existing ones when they merge cleanly, else two fresh side branches). */
  private async octopus(branchNames: string[]): Promise<Delivery[] | null> {
    const target = this.rng.pick(branchNames);
    const tip = this.branches.get(target)!;
    const deliveries: Delivery[] = [];
    await this.checkout(target);
    const others = branchNames.filter((b) => !this.ancestorsOf(tip).has(this.branches.get(b)!));
    let sides: string[] = [];
    if (others.length >= 2 && this.rng.chance(0.5)) {
      const [a, b] = this.rng.shuffle(others) as [string, string];
      const sa = this.branches.get(a)!;
      const sb = this.branches.get(b)!;
      if (!this.ancestorsOf(sa).has(sb) && !this.ancestorsOf(sb).has(sa)) {
        const r = await gitRun(this.work, ['merge', '--no-commit', '--no-ff', '-q', sa, sb]);
        if (r.code === 0) sides = [a, b];
        else await this.cleanUp();
      }
    }
    if (sides.length === 0) {
      for (let i = 0; i < 2; i++) {
        const side = `o${++this.counter}`;
        await gitOk(this.work, ['checkout', '-q', '-b', side, tip]);
        this.current = side;
        this.local.set(side, tip);
        const planted = this.rng.chance(0.3) ? [await this.plantSomewhere('commit', `oct/${side}.txt`)] : [];
        if (planted.length === 0) await this.write(`oct/${side}.txt`, `side ${side}\n`);
        const sha = await this.commit(`side ${side}`, planted);
        this.trace.push(`side branch ${side} at ${this.name(tip)}: ${this.name(sha)}${planted.length ? ` plants ${planted[0]!.label}` : ''}`);
        deliveries.push(this.push(side));
        sides.push(side);
      }
      await this.checkout(target);
      await gitOk(this.work, ['merge', '--no-commit', '--no-ff', '-q', ...sides.map((s) => this.branches.get(s)!)]);
    }
    const planted = this.rng.chance(0.3) ? [await this.plantSomewhere('octopus')] : [];
    const sha = await this.commit(`octopus ${sides.join('+')} into ${target}`, planted);
    if (planted.length) this.tally('key in an octopus merge');
    if (this.node(sha).parents.length !== 3) throw new Error(`octopus ${this.name(sha)} has ${this.node(sha).parents.length} parents`);
    this.trace.push(`octopus ${sides.join(' + ')} into ${target} → ${this.name(sha)}${planted.length ? ` plants ${planted[0]!.label} in ${planted[0]!.file}` : ''}`);
    deliveries.push(this.push(target));
    return deliveries;
  }

  /** A force push: the branch is reset to an older commit and gets new commits, sometimes re-adding a dropped key. */
  private async rewrite(branchNames: string[]): Promise<Delivery[] | null> {
    const branch = this.rng.pick(branchNames);
    const old = this.branches.get(branch)!;
    let base = old;
    for (let i = this.rng.int(1, 3); i > 0; i--) base = this.node(base).parents[0] ?? base;
    if (base === old) return null;
    await this.checkout(branch);
    await gitOk(this.work, ['reset', '-q', '--hard', base]);
    this.local.set(branch, base);
    const kept = this.ancestorsOf(base);
    const dropped = this.plants.filter((p) => this.ancestorsOf(old).has(p.commit) && !kept.has(p.commit));
    if (dropped.length) this.tally('force push dropping a key');
    const made: string[] = [];
    for (let i = this.rng.int(1, 2); i > 0; i--) {
      const replay = i === 1 && dropped.length && this.rng.chance(0.5) ? this.rng.pick(dropped).key : undefined;
      if (replay) this.tally('dropped key added again');
      made.push(this.name(await this.ordinaryCommit(`rewrite ${branch}`, replay)));
    }
    this.trace.push(`force push ${branch}: ${this.name(old)} → reset to ${this.name(base)}, then ${made.join(', ')}`);
    return [this.push(branch)];
  }

  /** 1-2 random edits (sometimes none: an empty commit), committed. */
  private async ordinaryCommit(message: string, replayKey?: string): Promise<string> {
    const planted: Array<Omit<Plant, 'commit'>> = [];
    if (replayKey) planted.push(await this.plantSomewhere('replay', undefined, replayKey));
    const edits = this.rng.chance(0.12) && !replayKey ? 0 : this.rng.int(1, 2);
    if (edits === 0 && !replayKey) this.tally('empty commit');
    for (let i = 0; i < edits; i++) {
      const files = await this.files();
      const withKeys: string[] = [];
      for (const f of files) if (/AKIA/.test(await readFile(join(this.work, f), 'utf8'))) withKeys.push(f);
      const kind = this.rng.weighted({ edit: 4, append: 2, plant: 3, unplant: withKeys.length ? 2 : 0, newfile: 1, delete: files.length > 2 ? 0.7 : 0 });
      switch (kind) {
        case 'edit':
        case 'append': {
          // Most edits go to the first lines of one hot file, so that branches often conflict.
          const hot = kind === 'edit' && files.includes(HOT_FILE) && this.rng.chance(0.6);
          const file = hot ? HOT_FILE : this.rng.pick(files);
          const lines = await this.lines(file);
          const text = `${kind} ${++this.counter}`;
          // An edit may drop an older key's line (a removal), never the line of a key this commit plants.
          const editable = lines.map((l, i) => ({ l, i })).filter(({ l, i }) => !planted.some((p) => l.includes(p.key)) && (!hot || i < 3));
          if (kind === 'append' || editable.length === 0) lines.push(text);
          else lines[this.rng.pick(editable).i] = text;
          await this.write(file, lines.join('\n') + '\n');
          break;
        }
        case 'plant': {
          // Sometimes a secret that is already somewhere in the project (copied to another branch or file).
          const again = this.plants.length && this.rng.chance(0.15) ? this.rng.pick(this.plants).key : undefined;
          if (again) this.tally('same key planted again');
          planted.push(await this.plantSomewhere('commit', undefined, again));
          break;
        }
        case 'unplant': {
          // Never the line of a key planted by this very commit: the record says the commit added it.
          const file = this.rng.pick(withKeys);
          const lines = await this.lines(file);
          const removable = lines.map((l, i) => ({ l, i })).filter(({ l }) => /AKIA/.test(l) && !planted.some((p) => l.includes(p.key)));
          if (removable.length === 0) break;
          lines.splice(this.rng.pick(removable).i, 1);
          this.tally('key removed');
          await this.write(file, lines.join('\n') + (lines.length ? '\n' : ''));
          break;
        }
        case 'newfile':
          await this.write(`src/n${++this.counter}.txt`, `new ${this.counter}\nfile ${this.counter}\n`);
          break;
        case 'delete': {
          const file = this.rng.pick(files.filter((f) => !planted.some((p) => p.file === f)));
          await rm(join(this.work, file));
          break;
        }
      }
    }
    return this.commit(message, planted);
  }

  /** Commits a change of line `line` of the hot file (created when a branch deleted it). */
  private async hotEdit(line: number, side: string): Promise<string> {
    const lines = existsSync(join(this.work, HOT_FILE)) ? await this.lines(HOT_FILE) : [];
    const text = `${side} ${++this.counter}`;
    if (line < lines.length) lines[line] = text;
    else lines.push(text);
    await this.write(HOT_FILE, lines.join('\n') + '\n');
    return this.commit(`${side} change`);
  }

  /** Adds a line with a key (new, or one planted before) to a random file, or to `path`. */
  private async plantSomewhere(how: Plant['how'], path?: string, existingKey?: string): Promise<Omit<Plant, 'commit'>> {
    const key = existingKey ?? this.newKey();
    const files = await this.files();
    const file = path ?? (this.rng.chance(0.25) || files.length === 0 ? `conf/k${++this.counter}.txt` : this.rng.pick(files));
    const lines = existsSync(join(this.work, file)) ? await this.lines(file) : [];
    lines.splice(this.rng.int(0, lines.length), 0, `x${++this.counter} = ${key}`);
    await this.write(file, lines.join('\n') + '\n');
    return { key, label: this.keyLabel(key), file, how };
  }

  private newKey(): string {
    let key = seededAwsKey(this.rng);
    while (this.keyLabels.has(key)) key = seededAwsKey(this.rng);
    this.keyLabels.set(key, `K${this.keyLabels.size + 1}`);
    return key;
  }

  /**
   * Resolves every conflict hunk of a file: ours, theirs, or both (in that order), so the resolution is a
   * subsequence of git's conflicted merge; `key` goes in on a new line inside one hunk.
   */
  private resolve(text: string, key: string | null): { text: string; choice: string } {
    const out: string[] = [];
    const hunks: Array<{ at: number; length: number }> = [];
    let ours: string[] | null = null;
    let theirs: string[] | null = null;
    const choice = this.rng.pick(['ours', 'theirs', 'both'] as const);
    for (const line of text.split('\n')) {
      if (line.startsWith('<<<<<<< ')) ours = [];
      else if (line === '=======' && ours && !theirs) theirs = [];
      else if (line.startsWith('>>>>>>> ') && ours && theirs) {
        const kept = choice === 'ours' ? ours : choice === 'theirs' ? theirs : [...ours, ...theirs];
        hunks.push({ at: out.length, length: kept.length });
        out.push(...kept);
        ours = theirs = null;
      } else if (theirs) theirs.push(line);
      else if (ours) ours.push(line);
      else out.push(line);
    }
    if (key) {
      const h = this.rng.pick(hunks);
      out.splice(h.at + this.rng.int(0, h.length), 0, `x${++this.counter} = ${key}`);
    }
    return { text: out.join('\n'), choice };
  }

  private async commit(message: string, planted: Array<Omit<Plant, 'commit'>> = []): Promise<string> {
    const label = `c${this.commits.size + 1}`;
    const mergeHead = join(this.work, '.git', 'MERGE_HEAD');
    const merged = existsSync(mergeHead) ? (await readFile(mergeHead, 'utf8')).split('\n').filter(Boolean) : [];
    if (this.created) await gitOk(this.work, ['add', '-A']);
    this.created = false;
    await gitOk(this.work, ['commit', '-q', '-a', '--allow-empty', '--no-verify', '-m', `${label} ${message}`], this.dateEnv());
    // Loose refs only (no gc ever runs here): the new tip is in the branch's ref file.
    const sha = (await readFile(join(this.work, '.git', 'refs', 'heads', this.current), 'utf8')).trim();
    const parents = [this.local.get(this.current)!, ...merged];
    this.commits.set(sha, { sha, parents, label });
    this.local.set(this.current, sha);
    for (const p of planted) {
      // The record must be true: the committed file holds the key.
      const text = existsSync(join(this.work, p.file)) ? await readFile(join(this.work, p.file), 'utf8') : '';
      if (!text.includes(p.key)) throw new Error(`model bug: ${p.label} is not in ${p.file} at ${label}`);
      this.plants.push({ ...p, commit: sha });
    }
    return sha;
  }

  /** A push of the branch's local tip to "GitLab" (applied with the step's other ref updates). */
  private push(branch: string): Delivery {
    const before = this.branches.get(branch) ?? null;
    const after = this.local.get(branch)!;
    this.refUpdates.push(`update refs/heads/${branch} ${after}`);
    this.branches.set(branch, after);
    return { range: { kind: 'push', ref: `refs/heads/${branch}`, before, after } };
  }

  /**
   * "GitLab" borrows the working repository's objects (objects/info/alternates), so a push is its ref
   * updates: one git process instead of a push's several.
   */
  private async publish(): Promise<void> {
    if (this.refUpdates.length === 0) return;
    const input = this.refUpdates.map((u) => `${u}\n`).join('');
    this.refUpdates.length = 0;
    await gitOk(this.bare, ['update-ref', '--stdin'], {}, input);
  }

  private async checkout(branch: string): Promise<void> {
    if (this.current === branch) return;
    await gitOk(this.work, ['checkout', '-q', branch]);
    this.current = branch;
  }

  private async cleanUp(): Promise<void> {
    await gitOk(this.work, ['reset', '-q', '--hard']);
    await gitOk(this.work, ['clean', '-q', '-fd']);
  }

  /** Commits some branch holds. */
  private reachable(): Set<string> {
    const out = new Set<string>();
    for (const tip of this.branches.values()) for (const c of this.ancestorsOf(tip)) out.add(c);
    return out;
  }

  private dateEnv(): Record<string, string> {
    const date = `@${this.clock++} +0000`;
    return { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date };
  }

  private async files(): Promise<string[]> {
    const entries = await readdir(this.work, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => relative(this.work, join(e.parentPath, e.name)))
      .filter((p) => !p.startsWith('.git'))
      .sort();
  }

  private async lines(file: string): Promise<string[]> {
    const text = await readFile(join(this.work, file), 'utf8');
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines;
  }

  private async write(file: string, text: string): Promise<void> {
    if (!existsSync(join(this.work, file))) this.created = true;
    await mkdir(dirname(join(this.work, file)), { recursive: true });
    await writeFile(join(this.work, file), text);
  }
}
