// Replay fast path for raftpb.Entry: decodes the fields raft writes (type,
// term, index, data, in any order) straight from buf[start, end), without
// the general decoder's reader and closure per entry. When the caller has
// already cut out the payload (`payload` at `payloadStart`) it is reused.
// Anything unusual (unknown fields, oversized varints, bad enum values)
// returns null and goes through raftpb's decodeEntry, which also reports it.

import { Entry, type EntryType } from "../raftpb/index.ts";

export function decodeEntryFast(
  b: Uint8Array,
  start: number,
  end: number,
  payloadStart: number,
  payload: Uint8Array | null,
): Entry | null {
  const e = new Entry();
  let p = start;
  let present = 0;
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
        e.data = p === payloadStart && payload !== null ? payload : b.subarray(p, p + v);
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
