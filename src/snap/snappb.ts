// snappb.snapshot, the envelope of a `.snap` file: { 1: crc uint32, 2: data bytes }.
// The crc is CRC-32C of data alone (not chained); both fields as etcd writes them.

import {
  DecodeError,
  EMPTY_BYTES,
  encodeSnapshot,
  lengthDelimitedSize,
  type Profile,
  Reader,
  Snapshot,
  varintSize,
  Writer,
} from "../raftpb/index.ts";

/** The bytes of a `.snap` file: the snappb envelope of `data` (an encoded raftpb.Snapshot) and its CRC. */
export function encodeSnapFile(crc: number, data: Uint8Array): Uint8Array {
  const buf = new Uint8Array(1 + varintSize(crc) + 1 + lengthDelimitedSize(data.length));
  const w = new Writer(buf);
  w.byte(0x08);
  w.varint(crc);
  w.byte(0x12);
  w.bytes(data);
  return buf;
}

/**
 * The pieces of a `.snap` file for a raft snapshot, in order, without
 * copying the (possibly large) snapshot data: the envelope header, the
 * raftpb.Snapshot data field header, the data itself, and the encoded
 * metadata field. Concatenated they equal
 * encodeSnapFile(crc32c(encodeSnapshot(s)), encodeSnapshot(s)).
 */
export function snapFilePieces(
  snap: Snapshot,
  profile: Profile,
  crc: (prev: number, b: Uint8Array) => number,
): Uint8Array[] {
  const body: Uint8Array[] = [];
  if (snap.data.length !== 0 || (snap.present & (1 << 1)) !== 0) {
    const h = new Writer(new Uint8Array(1 + varintSize(snap.data.length)));
    h.byte(0x0a);
    h.varint(snap.data.length);
    body.push(h.buf, snap.data);
  }
  // Everything after the data field is small: encode it through the codec.
  const rest = encodeSnapshot(new Snapshot(EMPTY_BYTES, snap.metadata), profile);
  body.push(rest);
  let len = 0;
  let c = 0;
  for (const b of body) {
    len += b.length;
    c = crc(c, b);
  }
  const head = new Writer(new Uint8Array(1 + varintSize(c) + 1 + varintSize(len)));
  head.byte(0x08);
  head.varint(c);
  head.byte(0x12);
  head.varint(len);
  return [head.buf, ...body];
}

/** Decodes the envelope; `data` aliases buf and is null when absent. Throws DecodeError. */
export function decodeSnapFile(buf: Uint8Array): { crc: number; data: Uint8Array | null } {
  const r = new Reader(buf);
  let crc = 0;
  let data: Uint8Array | null = null;
  while (r.pos < r.end) {
    const k = r.key("snappb.snapshot");
    const f = k >>> 3;
    const wt = k & 7;
    if (f === 1 && wt === 0) {
      const at = r.pos;
      crc = r.uint("snappb.snapshot.crc");
      if (crc > 0xffffffff) throw new DecodeError("snappb.snapshot.crc", "value exceeds uint32", at);
    } else if (f === 2 && wt === 2) data = r.bytes("snappb.snapshot.data", false);
    else if (f === 1 || f === 2) throw new DecodeError("snappb.snapshot", `wrong wire type ${wt}`, r.pos);
    else r.skip(wt, "snappb.snapshot");
  }
  return { crc, data };
}
