// Seeded randomness for election timeouts. The core never touches global
// randomness: every Raft instance draws from its own source.

export interface RandomSource {
  /** A uniformly distributed integer in [0, n). */
  intn(n: number): number;
}

/**
 * A seed for SeededRandom from a node ID. IDs below 2^53 are their own seed
 * (so small test IDs keep the timeouts they always had); higher bits are
 * folded in so that IDs differing only there still diverge.
 */
export function seedFromId(id: bigint): number {
  return Number(BigInt.asUintN(53, id ^ (id >> 53n)));
}

/** A small, fast seeded generator (mulberry32). */
export class SeededRandom implements RandomSource {
  private state: number;

  constructor(seed: number) {
    // Mix the seed so that nearby seeds (node IDs 1, 2, 3) diverge at once.
    this.state = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.floor(seed / 0x100000000)) >>> 0;
  }

  next32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  intn(n: number): number {
    return Math.floor((this.next32() / 0x100000000) * n);
  }
}
