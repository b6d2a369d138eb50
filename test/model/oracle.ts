import { fingerprintOf } from '../../services/scanner-gitleaks/src/findings.ts';
import type { Plant, World } from './generator.ts';

export type Expected = 'fail' | 'success';

/**
 * The gate rule, from the model's own record of where each key was planted: a commit fails iff a key was
 * planted in a commit of its history (itself or an ancestor) and the key's fingerprint is not excepted for
 * the project. Removing the key later changes nothing; a commit whose history no longer holds the plant
 * (a force push dropped it) passes.
 */
export class Oracle {
  private readonly world: World;
  private readonly fingerprintKey: string;
  private readonly ruleId: string;

  constructor(world: World, fingerprintKey: string, ruleId: string) {
    this.world = world;
    this.fingerprintKey = fingerprintKey;
    this.ruleId = ruleId;
  }

  fingerprint(key: string): string {
    return fingerprintOf(this.ruleId, key, this.fingerprintKey);
  }

  /** The plants in `commit`'s history. */
  carried(commit: string): Plant[] {
    const history = this.world.ancestorsOf(commit);
    return this.world.plants.filter((p) => history.has(p.commit));
  }

  expected(commit: string, excepted: ReadonlySet<string>): Expected {
    return this.carried(commit).some((p) => !excepted.has(this.fingerprint(p.key))) ? 'fail' : 'success';
  }
}
