// Replay fast path for raftpb.Entry: decodes the fields raft writes (type,
// term, index, data, in any order) straight from buf[start, end), without
// the general decoder's reader and closure per entry. The payload is not cut
// out: its place is left in `span` and the caller copies it only if it keeps
// the entry (the buffer is the decoder's, reused for the next records, and
// most entries of a long log lie before the snapshot and are dropped).
// Anything unusual (unknown fields, oversized varints, bad enum values)
// returns null and goes through raftpb's decodeEntry, which also reports it.

import { Entry, type EntryType } from "../raftpb/index.ts";

/** Where the last entry decoded by decodeEntryFast has its payload: [start, end), start -1 if absent. */
export class PayloadSpan {
  start = -1;
  end = -1;
}

export function decodeEntryFast(b: Uint8Array, start: number, end: number, span: PayloadSpan): Entry | null {
  const e = new Entry();
  let p = start;
  let present = 0;
  span.start = -1;
  while (p < end) {
    const key = b[p++]!;
    // Varint value (all four fields start with one; data's is its length).
    let v = 0;
    let mul = 1;
    for (let i = 0; ; i++) {
      if (i === 8 || p >= end) return null;
      const c = b[p++]!;
      v += (c & 0x7f) * mul;
      if (c < 0x80) break;
      mul *= 128;
    }
    switch (key) {
      case 0x08:
        if (v > 2) return null;
        e.type = v as EntryType;
        present |= 2;
        break;
      case 0x10:
        e.term = v;
        present |= 4;
        break;
      case 0x18:
        e.index = v;
        present |= 8;
        break;
      case 0x22:
        if (v > end - p) return null;
        // A repeated field: the last one wins, as in the general decoder.
        span.start = p;
        span.end = p + v;
        p += v;
        present |= 16;
        break;
      default:
        return null;
    }
  }
  e.present = present;
  return e;
}
