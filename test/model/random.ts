import { shannonEntropy } from '../../services/scanner-gitleaks/src/test-support/events.ts';

/**
 * A seeded PRNG (mulberry32) so that a failing sequence replays exactly from its seed, and the fake AWS keys
 * the model plants, drawn from it (same shape as fakeAwsKey(): AKIA + 16 base32 characters, high entropy).
 */
export class Rng {
  readonly seed: number;
  private state: number;

  constructor(seed: number) {
    this.seed = seed;
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** A key of `weights` drawn in proportion to its weight. */
  weighted<K extends string>(weights: Record<K, number>): K {
    const entries = Object.entries(weights) as Array<[K, number]>;
    const total = entries.reduce((s, [, w]) => s + w, 0);
    let r = this.next() * total;
    for (const [k, w] of entries) {
      r -= w;
      if (r < 0) return k;
    }
    return entries[entries.length - 1]![0];
  }

  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A fake AWS access key id, as fakeAwsKey() builds them, but from the seeded PRNG. */
export function seededAwsKey(rng: Rng): string {
  for (;;) {
    let key = 'AKIA';
    for (let i = 0; i < 16; i++) key += BASE32[rng.int(0, 31)];
    // gitleaks' aws rule drops low-entropy matches and keys ending in EXAMPLE.
    if (shannonEntropy(key) >= 3.5 && !key.endsWith('EXAMPLE')) return key;
  }
}


/** The pattern the fake detector looks for: the planted keys, and nothing else in the model's files. */
export const KEY_PATTERN = /\bAKIA[A-Z2-7]{16}\b/g;
