// Request deadlines without one timer per request: requests that start
// within the same short window share one AbortSignal, which fires when the
// latest of them times out. At thousands of requests per second this turns
// thousands of timers into a few dozen.
//
// A shared signal legitimately has as many abort listeners as requests in
// flight in its window (each removes its own when it settles), so Node's
// "possible EventTarget memory leak" warning at 11 listeners is switched off
// for these signals only.

import { setMaxListeners } from "node:events";

export class SharedDeadlines {
  private readonly timeoutMs: number;
  private readonly granularityMs: number;
  private bucketEnd = 0;
  private current: AbortController | null = null;

  constructor(timeoutMs: number, granularityMs = 50) {
    this.timeoutMs = timeoutMs;
    this.granularityMs = granularityMs;
  }

  /**
   * A signal that aborts with a TimeoutError between timeoutMs and
   * timeoutMs + granularityMs from now.
   */
  signal(now = Date.now()): AbortSignal {
    if (this.current === null || now >= this.bucketEnd) {
      const c = new AbortController();
      setMaxListeners(0, c.signal);
      this.bucketEnd = now + this.granularityMs;
      const t = setTimeout(
        () => c.abort(new DOMException("request timed out", "TimeoutError")),
        this.timeoutMs + this.granularityMs,
      );
      t.unref();
      this.current = c;
    }
    return this.current.signal;
  }
}
