// raftpb.decodeSnapshot: a snapshot with its metadata.
import { DecodeError, decodeSnapshot, encodeSnapshot } from "../../src/wire.ts";
import { decoderTarget } from "../target.ts";
import { snapshot } from "../values.ts";

export default decoderTarget({
  name: "raftpb-snapshot",
  description: "raftpb decodeSnapshot: a snapshot with its metadata",
  decode: (b, copy) => decodeSnapshot(b, { copy }),
  encode: (v, profile) => encodeSnapshot(v, profile),
  values: snapshot,
  isTypedError: (e) => e instanceof DecodeError,
});
