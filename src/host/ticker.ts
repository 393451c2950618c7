// The host's raft clock. A timer callback that runs late (a garbage-collection
// pause, a busy event loop, a frozen VM) must still deliver every tick that
// elapsed: with strict leases a leader counts its lease in its own ticks, and
// a leader whose ticks were dropped during a stall believes less time passed
// than did — the unsafe direction (docs/leases.md, "How to choose it").
// setInterval alone delivers one tick per callback however late it runs.

/** Counts the ticks due on a monotonic clock, catching up after a stall. */
export class TickClock {
  private next: number;

  constructor(
    private readonly tickMs: number,
    now: number,
  ) {
    this.next = now + tickMs;
  }

  /** How many ticks elapsed since the last call (0 if the timer fired early). */
  due(now: number): number {
    if (now < this.next) return 0;
    const n = Math.floor((now - this.next) / this.tickMs) + 1;
    this.next += n * this.tickMs;
    return n;
  }
}
