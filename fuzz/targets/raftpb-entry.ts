// raftpb.decodeEntry: a log entry.
import { DecodeError, decodeEntry, encodeEntry } from "../../src/wire.ts";
import { decoderTarget } from "../target.ts";
import { entry } from "../values.ts";

export default decoderTarget({
  name: "raftpb-entry",
  description: "raftpb decodeEntry: a log entry",
  decode: (b, copy) => decodeEntry(b, { copy }),
  encode: (v, profile) => encodeEntry(v, profile),
  values: entry,
  isTypedError: (e) => e instanceof DecodeError,
});
