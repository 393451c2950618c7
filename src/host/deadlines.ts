// Timeouts for many short waits without a timer, an AbortController or an
// abort listener each. A busy member has thousands of proposals and reads
// waiting at once; an AbortSignal per request with its listeners and timer
// cost ~5% of a leader's CPU under load (createAbortSignal alone 2.7%), and
// listeners on one shared signal make every add and remove walk a list.
//
// Instead each wait registers a Timed entry here, and the host sweeps the
// list on every raft tick: an entry is fired (its wait rejected) at the
// first sweep strictly after its deadline, so a timeout fires up to one tick
// late, never early. Strictly after, because the host's clock counts whole
// milliseconds (Date.now): a deadline read at 10.9 ms plus 150 ms is 160,
// reached at 160.0 — 149.1 ms after the wait began; one more millisecond
// keeps every wait at least its timeout long. Settling a wait marks its
// entry done in O(1); done entries are dropped at the next sweep.

/** One registered wait: `done` once settled (or fired). */
export class Timed {
  done = false;
  constructor(
    readonly deadline: number,
    readonly fire: () => void,
  ) {}
}

export class DeadlineList {
  private items: Timed[] = [];

  get size(): number {
    return this.items.length;
  }

  /** Calls `fire` at the first sweep with now > deadline, unless the entry is done by then. */
  add(deadline: number, fire: () => void): Timed {
    const t = new Timed(deadline, fire);
    this.items.push(t);
    return t;
  }

  /** Fires the entries whose deadline passed and forgets every done one. */
  sweep(now: number): void {
    const items = this.items;
    let keep = 0;
    const due: Timed[] = [];
    for (let i = 0; i < items.length; i++) {
      const t = items[i]!;
      if (t.done) continue;
      if (t.deadline < now) {
        t.done = true;
        due.push(t);
      } else items[keep++] = t;
    }
    items.length = keep;
    // Fired after the list is consistent: a callback may add entries.
    for (const t of due) t.fire();
  }
}
