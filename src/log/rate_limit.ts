// Rate limiting of repeated log lines: the same key is logged at most once
// per window; what was held back is counted and reported with the next line
// of that key ("suppressed K similar") or by flush().
//
// A member under attack or in a failure loop (a removed member retrying, a
// peer sending forged messages) would otherwise write the same line
// thousands of times a second. The key is the message itself unless the
// caller names one (e.g. "drop:<sender>" to log once per sender).
//
// Memory is bounded: at most maxKeys keys are remembered. When full, keys
// whose window has passed are dropped; if that frees less than half, all
// keys are (a flood of distinct keys, e.g. forged sender IDs). Pending counts
// of dropped keys go to `onEvict` first, so none is lost silently. Sweeping
// in bulk keeps insertion O(1) amortised: dropping the oldest key one at a
// time walks the holes deletions leave at the head of a Map, which made a
// stream of distinct lines 13x slower.

/** One remembered key. */
interface Entry {
  /** When the key was last let through (ms, the injected clock). */
  since: number;
  /** since + its window: after this the key holds nothing back and may be forgotten. */
  until: number;
  /** Lines held back since then. */
  suppressed: number;
  /** What to report for them on flush/evict. */
  level: number;
  msg: string;
  /** The caller's context for reporting (the logger that wrote the line). */
  ctx: unknown;
}

/** What the limiter decided for one line. */
export interface Admission {
  /** Log the line. */
  pass: boolean;
  /** Lines of this key held back before it (0 when none). */
  suppressed: number;
}

/** Reports `suppressed` held-back lines of a key: the last line's level, message and context. */
export type Reporter = (level: number, msg: string, suppressed: number, ctx: unknown) => void;

const HOLD: Admission = { pass: false, suppressed: 0 };
const PASS: Admission = { pass: true, suppressed: 0 };

/**
 * Decides which repeated log lines to write: at most one per key and window,
 * counting the rest for a later "suppressed" report. Bounded memory (see the
 * top of this file); the clock is injected.
 */
export class RepeatLimiter {
  private readonly entries = new Map<string, Entry>();
  private readonly clock: () => number;
  private readonly maxKeys: number;
  private readonly onEvict: Reporter;

  constructor(clock: () => number, maxKeys: number, onEvict: Reporter) {
    this.clock = clock;
    this.maxKeys = maxKeys;
    this.onEvict = onEvict;
  }

  /** Number of keys remembered. */
  get size(): number {
    return this.entries.size;
  }

  /** Decides whether a line with `key` may be logged now, at most once per `windowMs`. */
  admit(key: string, windowMs: number, level: number, msg: string, ctx?: unknown): Admission {
    const now = this.clock();
    const e = this.entries.get(key);
    if (e !== undefined) {
      if (now - e.since < windowMs) {
        e.suppressed++;
        e.level = level;
        e.msg = msg;
        e.ctx = ctx;
        return HOLD;
      }
      const suppressed = e.suppressed;
      e.since = now;
      e.until = now + windowMs;
      e.suppressed = 0;
      return suppressed === 0 ? PASS : { pass: true, suppressed };
    }
    if (this.entries.size >= this.maxKeys) this.sweep(now);
    this.entries.set(key, { since: now, until: now + windowMs, suppressed: 0, level, msg, ctx });
    return PASS;
  }

  private sweep(now: number): void {
    for (const [key, e] of this.entries) {
      if (now < e.until) continue;
      this.entries.delete(key);
      if (e.suppressed > 0) this.onEvict(e.level, e.msg, e.suppressed, e.ctx);
    }
    if (this.entries.size * 2 <= this.maxKeys) return;
    for (const e of this.entries.values()) {
      if (e.suppressed > 0) this.onEvict(e.level, e.msg, e.suppressed, e.ctx);
    }
    this.entries.clear();
  }

  /** Reports every pending count (through `report`) and forgets them; returns how many keys had one. */
  flush(report: Reporter): number {
    let n = 0;
    for (const e of this.entries.values()) {
      if (e.suppressed === 0) continue;
      report(e.level, e.msg, e.suppressed, e.ctx);
      e.suppressed = 0;
      n++;
    }
    return n;
  }
}
