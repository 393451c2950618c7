// Seeded randomness. The core never touches global randomness (Math.random,
// crypto): every Raft instance draws its election timeouts from a source it
// is given, so that a run is a pure function of its seeds. This file holds
// the project's two generators, and no other file may define one:
//
//   - SeededRandom (mulberry32): raft's default source when Config.random is
//     not set, seeded from the node ID. Its sequence fixes the randomized
//     election timeouts of every test and data-driven file written against
//     the core; changing the algorithm would change those runs, so it stays.
//   - Xoshiro128 (xoshiro128**, seeded through splitmix32): the generator of
//     the simulator and of the tests and benchmarks that draw their own
//     workloads — floats, ranges, weighted choices and independent forked
//     streams. The simulator's seeds replay only as long as this algorithm,
//     its seeding and fork() stay exactly as they are. (The fuzzers use
//     fast-check's generator, which shrinks failing cases.)
//
// Both are plain 32-bit integer arithmetic (Math.imul, >>> 0), so a seed
// gives the same sequence on every JavaScript engine.

export interface RandomSource {
  /** A uniformly distributed integer in [0, n). */
  intn(n: number): number;
}

/** An argument a generator cannot draw from (an empty list to pick from). */
export class RandomArgumentError extends Error {
  readonly code = "ERR_RANDOM_ARGUMENT";
  constructor(message: string) {
    super(message);
    this.name = "RandomArgumentError";
  }
}

/**
 * A seed for SeededRandom from a node ID. IDs below 2^53 are their own seed
 * (so small test IDs keep the timeouts they always had); higher bits are
 * folded in so that IDs differing only there still diverge.
 */
export function seedFromId(id: bigint): number {
  return Number(BigInt.asUintN(53, id ^ (id >> 53n)));
}

/** A small, fast seeded generator (mulberry32): raft's default election-timeout source. */
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

// splitmix32 advances a 32-bit counter by the golden-ratio increment and
// scrambles it; it turns one seed into well-mixed, distinct state words.
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * xoshiro128** (Blackman and Vigna): 128 bits of state, period 2^128 - 1,
 * good statistical quality. Invariant: the state (a, b, c, d) is never all
 * zero (the one state the generator cannot leave); seeding and fork() both
 * guarantee it.
 *
 * Derived streams: `new Xoshiro128(seed, stream)` gives a generator per
 * (seed, stream) pair, and fork() one seeded from this generator's next four
 * outputs. A run that gives each concern (each node, the network, the
 * clients) its own stream keeps the other concerns' decisions unchanged when
 * one of them draws once more.
 */
export class Xoshiro128 implements RandomSource {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** `seed` may be any safe integer; `stream` separates derived generators. */
  constructor(seed: number, stream = 0) {
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 0x100000000) >>> 0;
    const st = { s: (lo ^ Math.imul(hi, 0x27d4eb2d) ^ Math.imul(stream + 1, 0x165667b1)) | 0 };
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  next32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform in [0, 1), in steps of 2^-32. */
  float(): number {
    return this.next32() / 0x100000000;
  }

  /** Uniform integer in [0, n); n must be in [1, 2^32]. */
  intn(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  range(lo: number, hi: number): number {
    return lo + this.intn(hi - lo + 1);
  }

  /** True with probability p; draws nothing when p <= 0 (so a disabled fault costs no draw). */
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  /** A uniformly chosen element; throws RandomArgumentError for an empty list. */
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RandomArgumentError("pick from an empty list");
    return xs[this.intn(xs.length)]!;
  }

  /** Index chosen with probability proportional to its weight (one draw). */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let x = this.float() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i]!;
      if (x < 0) return i;
    }
    return weights.length - 1;
  }

  /**
   * An independent generator seeded from this one's next four outputs (this
   * generator advances by four draws). `| 1` keeps the new state non-zero.
   */
  fork(): Xoshiro128 {
    const r = new Xoshiro128(0);
    r.a = this.next32() | 1;
    r.b = this.next32();
    r.c = this.next32();
    r.d = this.next32();
    return r;
  }

  /**
   * A generator with the given raw state words (at least one non-zero), for
   * checking the algorithm against its reference implementation.
   */
  static fromState(a: number, b: number, c: number, d: number): Xoshiro128 {
    if ((a | b | c | d) === 0) throw new RandomArgumentError("xoshiro128** state must not be all zero");
    const r = new Xoshiro128(0);
    r.a = a | 0;
    r.b = b | 0;
    r.c = c | 0;
    r.d = d | 0;
    return r;
  }
}
