// A linearizability checker for read/write/compare-and-swap registers.
//
// The search is Wing & Gong's, with Lowe's memoisation as Porcupine does it:
// operations are laid out as a list of call and return events in time order;
// a depth-first search repeatedly picks an operation whose call precedes the
// first return still in the list, applies it to the model, and removes both
// of its events; reaching a return event means that operation had to come
// earlier, so the search backtracks. A configuration (the set of operations
// linearized so far, the model state) that was visited before is not visited
// again. The set is hashed with Zobrist hashing (three independent 32-bit
// words per operation, XORed in and out as operations are linearized and
// undone), so a lookup costs O(1) whatever the history's length; a false
// match needs a 96-bit collision among at most `budget` configurations.
//
// Linearizability is local (Herlihy & Wing's P-compositionality): a history
// is linearizable iff the sub-history of each key is, so every key is its own
// search.
//
// Unknown outcomes. An `info` operation may take effect at any instant after
// its invocation, or never: its return is at infinity, and it need not be
// linearized at all (the search is done once every completed operation is
// placed). An info read tells nothing and is dropped. Info operations are
// where such searches blow up (every subset of them is a configuration), so
// the search prunes with two rules that never lose a linearization:
//   1. An info compare-and-swap is linearized only where it applies: one
//      that would not apply is no different from one never linearized.
//   2. An info operation is linearized only if an operation that observes
//      its value (a read of it, a CAS from it, a failed CAS) comes right
//      after it. Given any linearization, removing each info operation that
//      is followed at once by a write (or by nothing) gives another one, so
//      some linearization obeys the rule. (It also keeps the configuration
//      count from growing with the subsets of unobserved info writes.)
// Completed operations are tried before info operations at each step, which
// finds linearizations of correct histories almost without backtracking.
//
// Two passes per key:
//   weak  failed CASes are left out (Jepsen's Knossos does the same: a `fail`
//         did not happen), and info operations whose value nothing observes
//         are removed before the search (each removal gives an equivalent
//         history, by rule 2). Fast; a violation here is a real violation,
//         since the full history only adds constraints.
//   full  a CAS that failed with REVISION_MISMATCH constrains the register:
//         it did not hold `from` at some instant of the CAS. This catches a
//         CAS refused although its precondition held. An info operation is
//         removed only if nothing observes its value and no failed CAS ends
//         after its invocation.
// A pass that exceeds its step budget makes the key's verdict "unknown",
// never "ok".
//
// Besides the search: every revision the server returned must name one
// (key, value), and every (key, value) one revision; values are unique per
// write, so two names for one write (or one for two) are an anomaly, e.g. a
// write answered with the revision of another write.

import { CAS_MISMATCH, describeOp, type Op, showValue } from "./history.ts";
import { Prng } from "./rng.ts";

export type Verdict = "ok" | "violation" | "unknown";

export interface CheckOptions {
  /** Steps (attempts to linearize an operation) allowed per key and pass. Default 4,000,000. */
  budget?: number;
}

export interface KeyReport {
  key: string;
  verdict: Verdict;
  /** Operations on this key in the history. */
  ops: number;
  /** Operations the deciding pass searched over (after dropping info reads, pruning, ...). */
  searched: number;
  /** Search steps over both passes. */
  steps: number;
  ms: number;
  /** The pass that decided a violation or ran out of budget. */
  pass?: "weak" | "full";
  /** Lines explaining a violation (or where an exhausted search got furthest). */
  explanation?: string[];
}

export interface CheckReport {
  verdict: Verdict;
  keys: KeyReport[];
  /** Revision cross-check failures; any makes the verdict a violation. */
  anomalies: string[];
}

export const DEFAULT_BUDGET = 4_000_000;

// Kinds of searched operations.
const READ = 0;
const WRITE_OK = 1;
const CAS_OK = 2;
const CAS_FAIL = 3;
const WRITE_INFO = 4;
const CAS_INFO = 5;

interface SOp {
  kind: number;
  /** READ: value read; WRITE_*: value written; CAS_*: expected value. Interned (0 = absent). */
  a: number;
  /** CAS_OK / CAS_INFO: value written. */
  b: number;
  invoke: number;
  complete: number;
  src: Op;
}

/** Memo of visited configurations: open addressing over (h1, h2, h3, state+1) in one Int32Array. */
class Memo {
  private t: Int32Array;
  private mask: number;
  size = 0;

  constructor(log2 = 12) {
    this.t = new Int32Array(4 << log2);
    this.mask = (1 << log2) - 1;
  }

  /** Records the configuration; false if it was there already. */
  add(h1: number, h2: number, h3: number, s: number): boolean {
    if (this.size * 2 >= this.mask) this.grow();
    const t = this.t;
    const tag = s + 1;
    let i = (h1 ^ Math.imul(tag, 0x9e3779b1)) & this.mask;
    for (;;) {
      const j = i << 2;
      const v = t[j + 3]!;
      if (v === 0) {
        t[j] = h1;
        t[j + 1] = h2;
        t[j + 2] = h3;
        t[j + 3] = tag;
        this.size++;
        return true;
      }
      if (v === tag && t[j] === h1 && t[j + 1] === h2 && t[j + 2] === h3) return false;
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const old = this.t;
    this.t = new Int32Array(old.length * 2);
    this.mask = this.mask * 2 + 1;
    this.size = 0;
    for (let j = 0; j < old.length; j += 4) {
      const tag = old[j + 3]!;
      if (tag !== 0) this.add(old[j]!, old[j + 1]!, old[j + 2]!, tag - 1);
    }
  }
}

interface SearchResult {
  result: Verdict;
  steps: number;
  explanation?: string[];
}

/** Where a failed search got furthest: what it had placed and what it could not place next. */
interface Deepest {
  done: number;
  state: number;
  prefix: number[];
  block: number;
  window: number[];
  /** Up to two completed ops not placed yet that need the current value (why it cannot be overwritten). */
  needs: number[];
}

/**
 * Searches for a linearization of one key's operations. `values[i]` is the
 * value interned as i (values[0] is null, the absent key).
 */
function search(ops: SOp[], values: (string | null)[], budget: number): SearchResult {
  const byInvoke = (x: SOp, y: SOp) => x.invoke - y.invoke;
  // Which values something reads or expects.
  const observedVals = new Set<number>();
  for (const o of ops)
    if (o.kind === READ || o.kind === CAS_OK || o.kind === CAS_FAIL || o.kind === CAS_INFO)
      observedVals.add(o.a);
  // Completed operations ("main") get call/return events in a linked list.
  // Info operations wait in two lists ordered by invocation: "pool" holds
  // the info writes whose value nothing reads or expects (only a failed CAS
  // can make use of one, and any of them serves), the other list the rest.
  const main = ops.filter((o) => o.kind <= CAS_FAIL).sort(byInvoke);
  const info = ops
    .filter((o) => o.kind > CAS_FAIL && !(o.kind === WRITE_INFO && !observedVals.has(o.a)))
    .sort(byInvoke);
  const pool = ops.filter((o) => o.kind === WRITE_INFO && !observedVals.has(o.a)).sort(byInvoke);
  const M = main.length;
  if (M === 0) return { result: "ok", steps: 0 };
  const all = [...main, ...info, ...pool];
  const N = all.length;
  const P0 = M + info.length; // first pool op

  const kind = new Uint8Array(N);
  const va = new Int32Array(N);
  const vb = new Int32Array(N);
  const invoke = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    kind[i] = all[i]!.kind;
    va[i] = all[i]!.a;
    vb[i] = all[i]!.b;
    invoke[i] = all[i]!.invoke;
  }
  // Zobrist words, from a fixed seed so that runs are reproducible.
  const rng = new Prng(0x5eed, 7);
  const z1 = new Int32Array(N);
  const z2 = new Int32Array(N);
  const z3 = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    z1[i] = rng.next32() | 0;
    z2[i] = rng.next32() | 0;
    z3[i] = rng.next32() | 0;
  }

  // Events of main op i: call 2i, return 2i+1; HEAD = 2M, TAIL = 2M+1 (odd: reads as a return).
  const HEAD = 2 * M;
  const TAIL = 2 * M + 1;
  const evTime = new Float64Array(2 * M + 2);
  for (let i = 0; i < M; i++) {
    evTime[2 * i] = main[i]!.invoke;
    evTime[2 * i + 1] = main[i]!.complete;
  }
  evTime[TAIL] = Number.POSITIVE_INFINITY;
  const order: number[] = [];
  for (let e = 0; e < 2 * M; e++) order.push(e);
  // Time order; at equal times calls first (the two operations may overlap).
  order.sort((x, y) => evTime[x]! - evTime[y]! || (x & 1) - (y & 1) || x - y);
  const next = new Int32Array(2 * M + 2);
  const prev = new Int32Array(2 * M + 2);
  let last = HEAD;
  for (const e of order) {
    next[last] = e;
    prev[e] = last;
    last = e;
  }
  next[last] = TAIL;
  prev[TAIL] = last;

  // The two info lists over op ids, with sentinels N, N+1 (info) and N+2, N+3 (pool).
  const IH = N;
  const IT = N + 1;
  const PH = N + 2;
  const PT = N + 3;
  const lnext = new Int32Array(N + 4);
  const lprev = new Int32Array(N + 4);
  const link = (head: number, tail: number, from: number, to: number) => {
    let p = head;
    for (let i = from; i < to; i++) {
      lnext[p] = i;
      lprev[i] = p;
      p = i;
    }
    lnext[p] = tail;
    lprev[tail] = p;
  };
  link(IH, IT, M, P0);
  link(PH, PT, P0, N);

  // Dead values. A value with a single writer (or the initial absent value,
  // which nothing writes) that is overwritten never comes back; if a read or
  // CAS that needs it is still to be placed, the branch is dead at once.
  // `demand[v]`: completed reads and CASes expecting v not placed yet.
  // `idemand[v]`: info CASes expecting v not placed yet.
  const V = values.length;
  const writers = new Int32Array(V);
  const demand = new Int32Array(V);
  const idemand = new Int32Array(V);
  for (let i = 0; i < N; i++) {
    const k = kind[i];
    if (k === WRITE_OK || k === WRITE_INFO) writers[va[i]!]++;
    else if (k === CAS_OK || k === CAS_INFO) writers[vb[i]!]++;
    if (k === READ || k === CAS_OK) demand[va[i]!]++;
    else if (k === CAS_INFO) idemand[va[i]!]++;
  }
  // An info op is worth placing only if something not placed yet reads or
  // expects its value, or a failed CAS waits for the current value to change
  // (rule 2: something must observe it right after).
  const useful = (o: number): boolean => {
    const w = kind[o] === WRITE_INFO ? va[o]! : vb[o]!;
    return blockedFail === 1 || demand[w]! > 0 || idemand[w]! > 0;
  };
  const placed = new Uint8Array(N);

  // Before searching: a completed op that needs a value no write produced,
  // or none had begun to produce when the op returned, has no place at all.
  const firstWrite = new Float64Array(V).fill(Number.POSITIVE_INFINITY);
  firstWrite[0] = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < N; i++) {
    const k = kind[i];
    const w = k === WRITE_OK || k === WRITE_INFO ? va[i]! : k === CAS_OK || k === CAS_INFO ? vb[i]! : -1;
    if (w >= 0) firstWrite[w] = Math.min(firstWrite[w]!, invoke[i]!);
  }
  for (let i = 0; i < M; i++) {
    const k = kind[i];
    if ((k === READ || k === CAS_OK) && firstWrite[va[i]!]! > main[i]!.complete) {
      const src = all[i]!.src;
      const never = firstWrite[va[i]!] === Number.POSITIVE_INFINITY;
      return {
        result: "violation",
        steps: 0,
        explanation: [
          `${describeOp(src)}: ${k === READ ? "it read" : "it expected"} ${showValue(values[va[i]!])}, which ` +
            (never ? "no operation wrote" : "no write had begun to write by then"),
        ],
      };
    }
  }

  const memo = new Memo();
  // The path: op ids, and for the configuration each op left: its state,
  // its blocking return event, whether a failed CAS waited in its window,
  // and whether the op was its only child (see phase 0).
  const stOp = new Int32Array(N);
  const stState = new Int32Array(N);
  const stBlock = new Int32Array(N);
  const stBlockedFail = new Uint8Array(N);
  const stForced = new Uint8Array(N);
  let depth = 0;
  // Model state: (value << 1) | fresh. "fresh": set by an info op nothing has observed yet (rule 2).
  let state = 0;
  let h1 = 0;
  let h2 = 0;
  let h3 = 0;
  let done = 0;
  let steps = 0;
  // The children of a configuration, in the order tried:
  //   phase 0: a read or failed CAS that can come next. They leave the state
  //     as it is, so placing one now loses nothing (any linearization from
  //     here can be reordered to start with it): it is the only child.
  //   phase 1: the completed writes and CASes in the window (invoked before
  //     the first return event still in the list);
  //   phase 2: the info ops other than the pool's invoked by then;
  //   phase 3: if a failed CAS in the window expects the current value, the
  //     pool's info write invoked last before then (all serve alike; the
  //     last one invoked leaves the others, which were available earlier).
  let phase = 0;
  let e = next[HEAD]!;
  let block = TAIL;
  let blockedFail = 0;
  let ic = IT;
  let deepest: Deepest | null = null;

  // The state after op `o` from `s`, or -1 when it cannot come next.
  const step = (o: number, s: number): number => {
    const v = s >> 1;
    const fresh = s & 1;
    let ns: number;
    switch (kind[o]) {
      case READ:
        return v === va[o] ? v << 1 : -1;
      case CAS_FAIL:
        return v !== va[o] ? v << 1 : -1;
      case WRITE_OK:
        if (fresh === 1) return -1;
        ns = va[o]! << 1;
        break;
      case CAS_OK:
        if (v !== va[o]) return -1;
        ns = vb[o]! << 1;
        break;
      case WRITE_INFO:
        if (fresh === 1) return -1;
        ns = (va[o]! << 1) | 1;
        break;
      default: // CAS_INFO: only where it applies (rule 1)
        if (v !== va[o]) return -1;
        ns = (vb[o]! << 1) | 1;
    }
    if (ns >> 1 !== v && writers[v]! <= 1 && demand[v]! - (kind[o] === CAS_OK ? 1 : 0) > 0) return -1;
    return ns;
  };

  const push = (o: number, ns: number, forced: number): void => {
    stOp[depth] = o;
    stState[depth] = state;
    stBlock[depth] = block;
    stBlockedFail[depth] = blockedFail;
    stForced[depth] = forced;
    depth++;
    state = ns;
    h1 ^= z1[o]!;
    h2 ^= z2[o]!;
    h3 ^= z3[o]!;
    placed[o] = 1;
    if (o < M) {
      done++;
      if (kind[o] === READ || kind[o] === CAS_OK) demand[va[o]!]--;
      // Lift both events out of the list.
      const c = 2 * o;
      const r = c + 1;
      next[prev[c]!] = next[c]!;
      prev[next[c]!] = prev[c]!;
      next[prev[r]!] = next[r]!;
      prev[next[r]!] = prev[r]!;
    } else {
      if (kind[o] === CAS_INFO) idemand[va[o]!]--;
      lnext[lprev[o]!] = lnext[o]!;
      lprev[lnext[o]!] = lprev[o]!;
    }
    phase = 0;
    blockedFail = 0;
    e = next[HEAD]!;
  };

  const tryPush = (o: number, forced: number): number => {
    const ns = step(o, state);
    if (ns < 0) return -1;
    if (!memo.add(h1 ^ z1[o]!, h2 ^ z2[o]!, h3 ^ z3[o]!, ns)) return 0;
    push(o, ns, forced);
    return 1;
  };

  configs: for (;;) {
    if (done === M) return { result: "ok", steps };
    if (phase === 0) {
      if ((e & 1) === 0) {
        const o = e >> 1;
        const k = kind[o];
        if (k === READ || k === CAS_FAIL) {
          if (++steps > budget) return { result: "unknown", steps, explanation: explain(deepest) };
          const r = tryPush(o, 1);
          if (r === 1) continue;
          // r === 0: the only child was explored before and failed, so this configuration fails.
          if (r === 0) phase = 4;
          else if (k === CAS_FAIL) blockedFail = 1;
        }
        if (phase === 0) e = next[e]!;
        continue;
      }
      block = e;
      phase = 1;
      e = next[HEAD]!;
      continue;
    }
    if (phase === 1) {
      if (e !== block) {
        const o = e >> 1;
        const k = kind[o];
        // Reads and failed CASes cannot come next here: phase 0 found none.
        if ((e & 1) === 0 && (k === WRITE_OK || k === CAS_OK)) {
          if (++steps > budget) return { result: "unknown", steps, explanation: explain(deepest) };
          if (tryPush(o, 0) === 1) continue;
        }
        e = next[e]!;
        continue;
      }
      phase = 2;
      ic = lnext[IH]!;
      continue;
    }
    if (phase === 2) {
      if (ic !== IT && invoke[ic]! <= evTime[block]!) {
        if (useful(ic)) {
          if (++steps > budget) return { result: "unknown", steps, explanation: explain(deepest) };
          if (tryPush(ic, 0) === 1) continue;
        }
        ic = lnext[ic]!;
        continue;
      }
      phase = 3;
      if (blockedFail === 1) {
        let p = lprev[PT]!;
        while (p !== PH && invoke[p]! > evTime[block]!) p = lprev[p]!;
        if (p !== PH) {
          if (++steps > budget) return { result: "unknown", steps, explanation: explain(deepest) };
          if (tryPush(p, 0) === 1) continue;
        }
      }
    }
    // Every child of this configuration failed: backtrack. A configuration
    // whose only child failed (a forced op, or the pool's) fails too.
    for (;;) {
      if (deepest === null || done > deepest.done) deepest = snapshot();
      if (depth === 0) return { result: "violation", steps, explanation: explain(deepest) };
      depth--;
      const o = stOp[depth]!;
      state = stState[depth]!;
      block = stBlock[depth]!;
      blockedFail = stBlockedFail[depth]!;
      h1 ^= z1[o]!;
      h2 ^= z2[o]!;
      h3 ^= z3[o]!;
      placed[o] = 0;
      if (o < M) {
        // Unlift in reverse order of lifting.
        const c = 2 * o;
        const r = c + 1;
        next[prev[r]!] = r;
        prev[next[r]!] = r;
        next[prev[c]!] = c;
        prev[next[c]!] = c;
        done--;
        if (kind[o] === READ || kind[o] === CAS_OK) demand[va[o]!]++;
        phase = 1;
        e = next[c]!;
      } else {
        if (kind[o] === CAS_INFO) idemand[va[o]!]++;
        lnext[lprev[o]!] = o;
        lprev[lnext[o]!] = o;
        phase = o < P0 ? 2 : 4;
        ic = lnext[o]!;
      }
      if (stForced[depth] === 0 && phase !== 4) continue configs;
    }
  }

  function snapshot(): Deepest {
    const window: number[] = [];
    for (let x = next[HEAD]!; x !== TAIL && window.length < 12; x = next[x]!) {
      if ((x & 1) === 0) window.push(x >> 1);
      if (x === block) break;
    }
    const prefix: number[] = [];
    for (let d = Math.max(0, depth - 6); d < depth; d++) prefix.push(stOp[d]!);
    // Pending ops that still need the current value, if any (why writes cannot come next).
    const needs: number[] = [];
    const v = state >> 1;
    for (let i = 0; i < M && needs.length < 2; i++)
      if (placed[i] === 0 && (kind[i] === READ || kind[i] === CAS_OK) && va[i] === v) needs.push(i);
    return { done, state, prefix, block: block === TAIL ? -1 : block >> 1, window, needs };
  }

  function explain(d: Deepest | null): string[] {
    if (d === null) return [];
    const v = d.state >> 1;
    const held = showValue(values[v]);
    const lines = [
      `the longest linearizable prefix found places ${d.done} of ${M} completed operations` +
        (N > M ? ` (and some of ${N - M} with unknown outcome)` : ""),
    ];
    if (d.prefix.length > 0) {
      lines.push("its last operations:");
      for (const o of d.prefix) lines.push(`    ${describeOp(all[o]!.src)}`);
    }
    lines.push(`then the register holds ${held}, and none of these can come next:`);
    const why = (o: number): string => {
      const op = all[o]!;
      // A CAS expecting the current value needs it too: name another op that does.
      const other = d.needs.find((x) => x !== o);
      const overwrite =
        other !== undefined && writers[v]! <= 1
          ? `it would overwrite ${held}, which #${all[other]!.src.index} still has to see`
          : "every order after it fails";
      switch (op.kind) {
        case READ:
          return op.a === v ? "every order after it fails" : `the register holds ${held}`;
        case CAS_OK:
          return op.a === v ? overwrite : `it expects ${showValue(values[op.a])}`;
        case CAS_FAIL:
          return op.a === v ? `it was refused, yet the register held ${held}` : "every order after it fails";
        default:
          return overwrite;
      }
    };
    for (const o of d.window) lines.push(`    ${describeOp(all[o]!.src)}: ${why(o)}`);
    if (d.block >= 0 && !d.window.includes(d.block))
      lines.push(`    ${describeOp(all[d.block]!.src)}: ${why(d.block)}`);
    if (d.block >= 0) lines.push(`(#${all[d.block]!.src.index} returned before any of them could be placed)`);
    for (const x of d.needs)
      if (!d.window.includes(x) && x !== d.block)
        lines.push(`still to see ${held}: ${describeOp(all[x]!.src)}`);
    return lines;
  }
}

/** Interns values: null is 0. */
class Interner {
  readonly values: (string | null)[] = [null];
  private readonly ids = new Map<string, number>();
  id(v: string | null | undefined): number {
    if (v === null || v === undefined) return 0;
    let id = this.ids.get(v);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(v);
      this.ids.set(v, id);
    }
    return id;
  }
}

/** The operations of one key as the search sees them, for one pass. */
function prepare(ops: readonly Op[], full: boolean, iv: Interner): SOp[] {
  const out: SOp[] = [];
  // The value each revision names, from the answers to reads and writes
  // (the revision cross-check reports any disagreement among them).
  const byRev = new Map<number, string>();
  for (const op of ops)
    if (op.type === "ok" && op.revision !== undefined && op.value !== null) byRev.set(op.revision, op.value);
  for (const op of ops) {
    const inf = Number.POSITIVE_INFINITY;
    if (op.f === "read") {
      if (op.type === "ok")
        out.push({ kind: READ, a: iv.id(op.value), b: 0, invoke: op.invoke, complete: op.complete, src: op });
    } else if (op.f === "write") {
      if (op.type === "ok")
        out.push({
          kind: WRITE_OK,
          a: iv.id(op.value),
          b: 0,
          invoke: op.invoke,
          complete: op.complete,
          src: op,
        });
      else if (op.type === "info")
        out.push({ kind: WRITE_INFO, a: iv.id(op.value), b: 0, invoke: op.invoke, complete: inf, src: op });
    } else {
      const from = iv.id(op.from);
      const to = iv.id(op.value);
      if (op.type === "ok")
        out.push({ kind: CAS_OK, a: from, b: to, invoke: op.invoke, complete: op.complete, src: op });
      else if (op.type === "info")
        out.push({ kind: CAS_INFO, a: from, b: to, invoke: op.invoke, complete: inf, src: op });
      else if (full && op.error === CAS_MISMATCH) {
        // A refusal that names the key's mod revision is a read of the value
        // that revision wrote; otherwise all it says is "not `from`".
        const seen = op.seenRevision;
        const v = seen === 0 ? null : seen === undefined ? undefined : byRev.get(seen);
        if (v !== undefined)
          out.push({ kind: READ, a: iv.id(v), b: 0, invoke: op.invoke, complete: op.complete, src: op });
        else out.push({ kind: CAS_FAIL, a: from, b: 0, invoke: op.invoke, complete: op.complete, src: op });
      }
    }
  }
  // Remove info ops nothing can observe (rule 2), to a fixed point: an info
  // CAS removed may have been the only observer of another info op.
  const lastFailEnd = out.reduce(
    (m, o) => (o.kind === CAS_FAIL ? Math.max(m, o.complete) : m),
    Number.NEGATIVE_INFINITY,
  );
  let cur = out;
  for (;;) {
    const observed = new Set<number>();
    for (const o of cur) {
      if (o.kind === READ || o.kind === CAS_OK || o.kind === CAS_INFO) observed.add(o.a);
    }
    // The value a write leaves is observable by a failed CAS only if one ends after the write began.
    const keep = cur.filter(
      (o) => o.kind <= CAS_FAIL || observed.has(o.kind === WRITE_INFO ? o.a : o.b) || lastFailEnd >= o.invoke,
    );
    if (keep.length === cur.length) return cur;
    cur = keep;
  }
}

/**
 * The history as it stood at time `t`: operations invoked by then, those
 * still running turned into info (a linearization of the whole history,
 * cut at t, is one of this), the rest left out.
 */
function cutAt(ops: readonly Op[], t: number): Op[] {
  const out: Op[] = [];
  for (const op of ops) {
    if (op.invoke > t) continue;
    out.push(op.complete <= t || op.type === "info" ? op : { ...op, type: "info" });
  }
  return out;
}

/**
 * For a violation: the earliest completion time at which the history cut
 * there (cutAt) is already not linearizable. Cuts only lose linearizations
 * as t grows, so a binary search finds it; the operation completing then is
 * where things went wrong, and the search's explanation of that cut is local.
 */
function localize(
  ops: readonly Op[],
  full: boolean,
  budget: number,
): { op: Op; explanation: string[]; steps: number } | null {
  const times = [
    ...new Set(
      ops.filter((o) => o.type !== "info" && (o.f !== "read" || o.type === "ok")).map((o) => o.complete),
    ),
  ].sort((a, b) => a - b);
  let steps = 0;
  const probe = (t: number) => {
    const iv = new Interner();
    const r = search(prepare(cutAt(ops, t), full, iv), iv.values, budget);
    steps += r.steps;
    return r;
  };
  // Invariant: the cut at times[hi] is not linearizable (the last one is the whole history, bar
  // info ops invoked after every completion, which cannot matter).
  const results = new Map<number, SearchResult>();
  const violates = (i: number) => {
    let r = results.get(i);
    if (r === undefined) results.set(i, (r = probe(times[i]!)));
    return r.result === "violation";
  };
  let lo = 0;
  let hi = times.length - 1;
  if (hi < 0 || !violates(hi)) return null;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (violates(mid)) hi = mid;
    else lo = mid + 1;
  }
  const found = results.get(lo)!;
  const t = times[lo]!;
  const op = ops.find((o) => o.complete === t && o.type !== "info")!;
  return { op, explanation: found.explanation ?? [], steps };
}

/** Checks one key's operations (all of them must be on that key). */
export function checkKey(key: string, ops: readonly Op[], opts: CheckOptions = {}): KeyReport {
  const budget = opts.budget ?? DEFAULT_BUDGET;
  const t0 = performance.now();
  const iv = new Interner();
  const weak = prepare(ops, false, iv);
  const r1 = search(weak, iv.values, budget);
  let rep: KeyReport;
  let r = r1;
  if (r1.result !== "ok") {
    rep = {
      key,
      ops: ops.length,
      verdict: r1.result,
      searched: weak.length,
      steps: r1.steps,
      ms: 0,
      pass: "weak",
    };
  } else {
    const full = prepare(ops, true, iv);
    r = search(full, iv.values, budget);
    rep = {
      key,
      ops: ops.length,
      verdict: r.result,
      searched: full.length,
      steps: r1.steps + r.steps,
      ms: 0,
    };
    if (r.result !== "ok") rep.pass = "full";
  }
  if (r.result === "unknown") {
    rep.explanation = [
      `the search ran out of its budget (${budget} steps); where it got furthest:`,
      ...(r.explanation ?? []),
    ];
  } else if (r.result === "violation") {
    const loc = localize(ops, rep.pass === "full", budget);
    if (loc === null) rep.explanation = r.explanation;
    else {
      rep.steps += loc.steps;
      rep.explanation = [
        `the history stops being linearizable when this operation completes (everything up to then is linearizable):`,
        `    ${describeOp(loc.op)}`,
        "cut there:",
        ...loc.explanation,
      ];
    }
  }
  rep.ms = performance.now() - t0;
  return rep;
}

/**
 * Revision cross-check over the whole history (revisions are global to the
 * store). Each conflict is reported once, with the first two operations that
 * show it and how many more do.
 */
export function revisionAnomalies(ops: readonly Op[]): string[] {
  const byRev = new Map<number, Op>();
  const byValue = new Map<string, Op>();
  const found = new Map<string, { text: string; more: number }>();
  const note = (id: string, text: () => string) => {
    const f = found.get(id);
    if (f !== undefined) f.more++;
    else found.set(id, { text: text(), more: 0 });
  };
  for (const op of ops) {
    if (op.type !== "ok" || op.revision === undefined || op.value === null) continue;
    const prior = byRev.get(op.revision);
    if (prior === undefined) byRev.set(op.revision, op);
    else if (prior.key !== op.key || prior.value !== op.value) {
      note(
        `rev ${op.revision} ${prior.key} ${prior.value} ${op.key} ${op.value}`,
        () =>
          `revision ${op.revision} names two writes: ${showValue(prior.value)} of ${JSON.stringify(prior.key)} ` +
          `and ${showValue(op.value)} of ${JSON.stringify(op.key)}\n    ${describeOp(prior)}\n    ${describeOp(op)}`,
      );
    }
    const kv = `${op.key}\u0000${op.value}`;
    const seen = byValue.get(kv);
    if (seen === undefined) byValue.set(kv, op);
    else if (seen.revision !== op.revision) {
      note(
        `val ${kv} ${seen.revision} ${op.revision}`,
        () =>
          `${showValue(op.value)} of ${JSON.stringify(op.key)} has two revisions: ${seen.revision} and ${op.revision}` +
          `\n    ${describeOp(seen)}\n    ${describeOp(op)}`,
      );
    }
  }
  return [...found.values()].map((f) =>
    f.more > 0 ? `${f.text}\n    (and ${f.more} more operations)` : f.text,
  );
}

/** Checks a whole history: one search per key, plus the revision cross-check. */
export function checkHistory(ops: readonly Op[], opts: CheckOptions = {}): CheckReport {
  const byKey = new Map<string, Op[]>();
  for (const op of ops) {
    let l = byKey.get(op.key);
    if (l === undefined) byKey.set(op.key, (l = []));
    l.push(op);
  }
  const keys = [...byKey.keys()].sort().map((k) => checkKey(k, byKey.get(k)!, opts));
  const anomalies = revisionAnomalies(ops);
  let verdict: Verdict = "ok";
  if (keys.some((k) => k.verdict === "unknown")) verdict = "unknown";
  if (anomalies.length > 0 || keys.some((k) => k.verdict === "violation")) verdict = "violation";
  return { verdict, keys, anomalies };
}
