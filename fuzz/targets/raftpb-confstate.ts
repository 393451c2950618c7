// raftpb.decodeConfState: a membership configuration.
import { DecodeError, decodeConfState, encodeConfState } from "../../src/wire.ts";
import { decoderTarget } from "../target.ts";
import { confState } from "../values.ts";

export default decoderTarget({
  name: "raftpb-confstate",
  description: "raftpb decodeConfState: a membership configuration",
  decode: (b, _copy) => decodeConfState(b),
  encode: (v, profile) => encodeConfState(v, profile),
  values: confState,
  isTypedError: (e) => e instanceof DecodeError,
});
