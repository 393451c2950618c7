// walpb.Record (the frame payload of a WAL record) and walpb.Snapshot (the
// snapshot marker in the WAL), decoded on their own.

import fc from "fast-check";
import { decodeRecord, encodeRecord, WalRecord } from "../../src/wal/index.ts";
import { DecodeError } from "../../src/wire.ts";
import { decoderTarget } from "../target.ts";

export default decoderTarget({
  name: "walpb-record",
  description: "walpb decodeRecord: a WAL record's type, crc and data",
  decode: (b) => decodeRecord(b),
  encode: (v) => encodeRecord(v),
  values: fc
    .record({
      t: fc.nat(6),
      c: fc.nat(0xffffffff),
      d: fc.option(fc.uint8Array({ maxLength: 40 }), { nil: null }),
    })
    .map((r) => new WalRecord(r.t, r.c, r.d)),
  isTypedError: (e) => e instanceof DecodeError,
});
