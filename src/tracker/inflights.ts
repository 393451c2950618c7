// A sliding window of in-flight MsgApp messages to one follower, limited by
// message count and by total payload bytes.

import { TrackerInvariantError } from "./errors.ts";

// The buffers of a window that never held a message. Shared: grow() replaces
// a buffer before writing to it, so a zero-length one is never written.
const NONE = new Float64Array(0);

export class Inflights {
  // Ring buffer of (last entry index, payload bytes) per message, grown lazily
  // up to `size` slots.
  private start = 0;
  private cnt = 0;
  private totalBytes = 0;
  private indexes: Float64Array;
  private sizes: Float64Array;
  /** Maximum number of messages in flight. */
  readonly size: number;
  /** Maximum payload bytes in flight; 0 or Infinity means no limit. */
  readonly maxBytes: number;

  constructor(size: number, maxBytes = 0) {
    this.size = size;
    this.maxBytes = maxBytes;
    this.indexes = NONE;
    this.sizes = NONE;
  }

  /** A copy sharing nothing with this window. */
  clone(): Inflights {
    const c = new Inflights(this.size, this.maxBytes);
    c.start = this.start;
    c.cnt = this.cnt;
    c.totalBytes = this.totalBytes;
    if (this.indexes.length > 0) {
      c.indexes = this.indexes.slice();
      c.sizes = this.sizes.slice();
    }
    return c;
  }

  /** Records a message whose last entry is `index`; indexes must be added in order. */
  add(index: number, bytes: number): void {
    if (this.full()) throw new TrackerInvariantError("cannot add into a Full inflights");
    let next = this.start + this.cnt;
    if (next >= this.size) next -= this.size;
    if (next >= this.indexes.length) this.grow();
    this.indexes[next] = index;
    this.sizes[next] = bytes;
    this.cnt++;
    this.totalBytes += bytes;
  }

  // Doubles the buffer (bounded by size) so that a huge limit costs nothing up front.
  private grow(): void {
    let n = this.indexes.length * 2;
    if (n === 0) n = 1;
    else if (n > this.size) n = this.size;
    const idx = new Float64Array(n);
    const sz = new Float64Array(n);
    idx.set(this.indexes);
    sz.set(this.sizes);
    this.indexes = idx;
    this.sizes = sz;
  }

  /** Frees every message whose last index is <= `to`. */
  freeLE(to: number): void {
    if (this.cnt === 0 || to < this.indexes[this.start]!) return;
    let idx = this.start;
    let i = 0;
    let bytes = 0;
    for (; i < this.cnt; i++) {
      if (to < this.indexes[idx]!) break;
      bytes += this.sizes[idx]!;
      if (++idx >= this.size) idx -= this.size;
    }
    this.cnt -= i;
    this.totalBytes -= bytes;
    this.start = this.cnt === 0 ? 0 : idx;
  }

  full(): boolean {
    return this.cnt === this.size || (this.maxBytes !== 0 && this.totalBytes >= this.maxBytes);
  }

  count(): number {
    return this.cnt;
  }

  bytes(): number {
    return this.totalBytes;
  }

  reset(): void {
    this.cnt = 0;
    this.start = 0;
    this.totalBytes = 0;
  }
}
