// raftpb.decodeConfChange: a V1 membership change.
import { DecodeError, decodeConfChange, encodeConfChange } from "../../src/wire.ts";
import { decoderTarget } from "../target.ts";
import { confChange } from "../values.ts";

export default decoderTarget({
  name: "raftpb-confchange",
  description: "raftpb decodeConfChange: a V1 membership change",
  decode: (b, copy) => decodeConfChange(b, { copy }),
  encode: (v, profile) => encodeConfChange(v, profile),
  values: confChange,
  isTypedError: (e) => e instanceof DecodeError,
});
