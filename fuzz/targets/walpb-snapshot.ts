// walpb.Snapshot: the marker a WAL holds for each snapshot taken (index, term,
// configuration), decoded on its own.
import fc from "fast-check";
import { decodeWalSnapshot, encodeWalSnapshot, WalSnapshot } from "../../src/wal/index.ts";
import { DecodeError } from "../../src/wire.ts";
import { decoderTarget } from "../target.ts";
import { confState, u64 } from "../values.ts";

export default decoderTarget({
  name: "walpb-snapshot",
  description: "walpb decodeWalSnapshot: the WAL's snapshot marker",
  // `present` records which fields were on the wire; the value is the rest.
  decode: (b) => {
    const { present: _, ...s } = decodeWalSnapshot(b);
    return new WalSnapshot(s.index, s.term, s.confState);
  },
  encode: (v, profile) => encodeWalSnapshot(v, profile),
  values: fc
    .record({ i: u64, t: u64, cs: fc.option(confState, { nil: null }) })
    .map((r) => new WalSnapshot(r.i, r.t, r.cs)),
  isTypedError: (e) => e instanceof DecodeError,
});
