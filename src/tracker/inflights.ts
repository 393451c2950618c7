// A sliding window of in-flight MsgApp messages to one follower, limited by
// message count and by total payload bytes.
//
// The leader streams entries to a follower in StateReplicate without waiting
// for each acknowledgement; this window is what keeps it from overrunning the
// follower (and its own memory) when the follower or the network is slow.
// Each MsgApp sent is recorded by the index of its last entry and its payload
// size; an acknowledgement of index i frees every message whose last index
// is <= i, since the follower's log matches up to i and every such message
// has therefore been received. Once the window is full, the leader stops
// sending entries (Progress.sentEntries pauses the flow) until something is
// freed or a heartbeat response lets one probe-like message through.
//
// Invariants:
//   - 0 <= cnt <= size, and the cnt messages occupy the ring slots
//     start, start+1, ... (mod size) in the order they were added;
//   - their last indexes increase along the ring (add() must be called in
//     index order, which raft does because next only grows while replicating);
//   - totalBytes is the sum of the sizes of those cnt messages.
// The window may hold more than maxBytes: full() is checked before adding,
// and the message that crosses the limit is still accepted (a single large
// message must be able to go out at all).

import { TrackerInvariantError } from "./errors.ts";

// The buffers of a window that never held a message. Shared: grow() replaces
// a buffer before writing to it, so a zero-length one is never written.
const NONE = new Float64Array(0);

export class Inflights {
  // Ring buffer of (last entry index, payload bytes) per message, grown lazily
  // up to `size` slots: a window configured for thousands of messages costs
  // nothing until they are actually in flight. Float64Array holds any
  // safe-integer index without boxing.
  /** The ring slot of the oldest message in flight. */
  private start = 0;
  /** Messages in flight. */
  private cnt = 0;
  /** Payload bytes in flight (sum over the cnt messages). */
  private totalBytes = 0;
  /** Last entry index of each message, by ring slot. */
  private indexes: Float64Array;
  /** Payload bytes of each message, by ring slot. */
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

  /**
   * Records a message whose last entry is `index`, carrying `bytes` of
   * payload. Indexes must be added in increasing order. Adding to a full
   * window is a bug of the caller (raft checks full() first, and only sends
   * an empty MsgApp, which is not recorded, when the window is full):
   * TrackerInvariantError.
   */
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

  // Doubles the buffer (bounded by size) so that a huge limit costs nothing up
  // front. Called only when the ring has not wrapped yet: while the buffer is
  // shorter than `size`, slots are used from 0 upwards without wrapping
  // (next < indexes.length until it is full), so copying the old buffer to the
  // front of the new one keeps every slot where it was.
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

  /**
   * Frees every message whose last index is <= `to` (the follower
   * acknowledged `to`). Because indexes increase along the ring, those are
   * exactly the oldest ones; the scan stops at the first larger index.
   */
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

  /**
   * Whether no more messages may be sent: the count limit is reached, or the
   * bytes in flight reached maxBytes (0 means no byte limit).
   */
  full(): boolean {
    return this.cnt === this.size || (this.maxBytes !== 0 && this.totalBytes >= this.maxBytes);
  }

  count(): number {
    return this.cnt;
  }

  bytes(): number {
    return this.totalBytes;
  }

  /** Forgets every message in flight (a state change of the Progress). */
  reset(): void {
    this.cnt = 0;
    this.start = 0;
    this.totalBytes = 0;
  }
}
